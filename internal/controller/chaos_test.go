package controller_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/recovery"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
)

// confirmations replaces the default confirmation count in the region-loss
// test: bench/failover.sh measures the seed's naive "check, sleep 30 s,
// check again" with -confirmations=30 (30 one-second intervals) beside
// the default.
var confirmations = flag.Int("confirmations", 0, "failed intervals that confirm a dead primary in TestChaosRegionLoss (0: the default)")

// upWithRouters starts the active-passive sandbox with its controller and
// router services, and the table the writers fill.
func upWithRouters(t *testing.T, configure func(*controller.Config)) *sandbox.Sandbox {
	t.Helper()
	sb := sandboxtest.Up(t, "active-passive.yaml", func(o *sandbox.Options) {
		o.Controller, o.Services, o.ConfigureController = true, true, configure
	})
	createAcksTable(t, sb, "eu-1", "us-1")
	return sb
}

// createAcksTable creates the writers' table on the primary and waits
// until the replicas have it.
func createAcksTable(t *testing.T, sb *sandbox.Sandbox, primary string, replicas ...string) {
	t.Helper()
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE DATABASE IF NOT EXISTS chaos",
		"CREATE TABLE IF NOT EXISTS chaos.acks (id INT PRIMARY KEY, region VARCHAR(8) NOT NULL)",
	} {
		if _, err := sandboxtest.Admin(t, sb, primary).DB().ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range replicas {
		c := sandboxtest.Admin(t, sb, name)
		waitFor(t, 20*time.Second, "the table replicated to "+name, func() bool {
			var n int
			return c.DB().QueryRowContext(ctx,
				"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='chaos'").Scan(&n) == nil && n == 1
		})
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ack is one acknowledged insert: sent at began, acknowledged at at.
type ack struct {
	id        int
	began, at time.Time
}

// writer inserts numbered rows through a router service, one at a time,
// and records each acknowledgement.
type writer struct {
	service string
	// pace is the pause after each write (0: write as fast as acknowledged).
	pace time.Duration
	db   *sql.DB
	stop chan struct{}
	done sync.WaitGroup

	mu     sync.Mutex
	acks   []ack
	errors map[string]int
	// failed are when writes failed (sent at).
	failed []time.Time
}

func startWriter(t *testing.T, sb *sandbox.Sandbox, service string, firstID int) *writer {
	t.Helper()
	return startPacedWriter(t, sb, service, firstID, 0)
}

// startPacedWriter is startWriter with a pause after each write: a light
// load.
func startPacedWriter(t *testing.T, sb *sandbox.Sandbox, service string, firstID int, pace time.Duration) *writer {
	t.Helper()
	cfg, svc := serviceClient(t, sb, service)
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = time.Second, 2*time.Second, 2*time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &writer{service: service, pace: pace, db: sql.OpenDB(connector), stop: make(chan struct{}), errors: map[string]int{}}
	w.db.SetMaxOpenConns(1)
	w.done.Add(1)
	go w.run(svc.Region, firstID)
	t.Cleanup(w.halt)
	return w
}

// serviceClient is the driver configuration of the application account
// through a router service of the sandbox, and that service.
func serviceClient(t *testing.T, sb *sandbox.Sandbox, service string) (*mysql.Config, sandbox.ServiceInfo) {
	t.Helper()
	info, err := sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(info.Services, func(s sandbox.ServiceInfo) bool { return s.Name == service })
	if i < 0 {
		t.Fatalf("no service %s in sandbox.json: %+v", service, info.Services)
	}
	svc := info.Services[i]
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net = info.Credentials.User, info.Credentials.Password, "tcp"
	cfg.Addr = fmt.Sprintf("%s:%d", svc.Host, svc.Port)
	return cfg, svc
}

func (w *writer) run(region string, id int) {
	defer w.done.Done()
	for ; ; id++ {
		select {
		case <-w.stop:
			return
		default:
		}
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := w.db.ExecContext(ctx, "INSERT INTO chaos.acks (id, region) VALUES (?, ?)", id, region)
		cancel()
		w.mu.Lock()
		if err == nil {
			w.acks = append(w.acks, ack{id: id, began: began, at: time.Now()})
		} else {
			w.errors[errorKind(err)]++
			w.failed = append(w.failed, began)
		}
		w.mu.Unlock()
		switch {
		case err != nil:
			time.Sleep(max(w.pace, 20*time.Millisecond))
		case w.pace > 0:
			time.Sleep(w.pace)
		}
	}
}

func errorKind(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return strconv.Itoa(int(me.Number))
	}
	return "connection"
}

func (w *writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.done.Wait()
	w.db.Close()
}

func (w *writer) acked() []ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acks)
}

// failedSince counts the writes sent at or after since that failed.
func (w *writer) failedSince(since time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.failed {
		if !at.Before(since) {
			n++
		}
	}
	return n
}

// waitAcks waits until n acknowledgements arrived after since.
func (w *writer) waitAcks(t *testing.T, since time.Time, n int, limit time.Duration) {
	t.Helper()
	waitFor(t, limit, fmt.Sprintf("%d writes acknowledged through %s", n, w.service), func() bool {
		count := 0
		for _, a := range w.acked() {
			if a.began.After(since) {
				count++
			}
		}
		return count >= n
	})
}

// present are the ids the node holds.
func present(t *testing.T, c *node.Client) map[int]bool {
	t.Helper()
	rows, err := c.DB().QueryContext(context.Background(), "SELECT id FROM chaos.acks")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	return out
}

// missing are the acknowledged ids the node lacks.
func missing(acks []ack, have map[int]bool) []int {
	var out []int
	for _, a := range acks {
		if !have[a.id] {
			out = append(out, a.id)
		}
	}
	return out
}

// rangeCount is how many transactions GTID ranges ("1-101-5..7",
// "1-101-5") hold.
func rangeCount(t *testing.T, ranges []string) int {
	total := 0
	for _, r := range ranges {
		r, _, _ = strings.Cut(r, " ")
		last := r[strings.LastIndexByte(r, '-')+1:]
		from, to, isRange := strings.Cut(last, "..")
		if !isRange {
			to = from
		}
		f, err1 := strconv.Atoi(from)
		l, err2 := strconv.Atoi(to)
		if err1 != nil || err2 != nil {
			t.Fatalf("unreadable GTID range %q", r)
		}
		total += l - f + 1
	}
	return total
}

// entries are the audit entries of a kind and step.
func entries(c *controller.Controller, kind, step string) []audit.Entry {
	var out []audit.Entry
	for _, e := range c.Audit().Entries() {
		if e.Kind == kind && (step == "" || e.Step == step) {
			out = append(out, e)
		}
	}
	return out
}

// TestChaosRegionLoss: a writer in the DR region writes through its router
// while the whole primary region is killed. The controller fails over to
// the DR region; the time from the kill to the first acknowledged write
// sent after it is the RTO. Every acknowledged row is on the new primary
// or counted among the transactions the failover reported lost. Then the
// old region comes back: its old primary is read-only within an interval
// and rejoins, or is kept out with its errant transactions listed.
func TestChaosRegionLoss(t *testing.T) {
	sb := upWithRouters(t, func(c *controller.Config) {
		if *confirmations > 0 {
			c.Failover.Confirmations = *confirmations
		}
	})
	ctrl := sb.Controller()
	w := startWriter(t, sb, "us-rw", 1)
	w.waitAcks(t, time.Time{}, 30, 30*time.Second)

	killed := time.Now()
	if err := sb.Kill("eu"); err != nil {
		t.Fatal(err)
	}
	w.waitAcks(t, killed, 1, 30*time.Second+time.Duration(*confirmations)*time.Second)
	var rto time.Duration
	for _, a := range w.acked() {
		if a.began.After(killed) {
			rto = a.at.Sub(killed)
			break
		}
	}
	t.Logf("RTO (region eu killed → first write acknowledged in us through us-rw): %s", rto.Round(time.Millisecond))
	if rto > 10*time.Second && *confirmations == 0 {
		t.Errorf("RTO %s, want at most 10s", rto)
	}
	w.waitAcks(t, killed, 20, 10*time.Second)
	w.halt()

	done := entries(ctrl, audit.KindFailover, "done")
	if len(done) != 1 {
		t.Fatalf("%d failovers audited as done, want 1: %+v", len(done), ctrl.Audit().Entries())
	}
	res, ok := done[0].Detail.(recovery.Result)
	if !ok {
		t.Fatalf("failover audit detail %T, want recovery.Result", done[0].Detail)
	}
	acks := w.acked()
	lostRows := missing(acks, present(t, sandboxtest.Admin(t, sb, "us-1")))
	lost := rangeCount(t, res.Lost)
	t.Logf("failover to %s took %s; %d writes acknowledged, %d of them missing on us-1 %v; reported lost: %v (%d transactions); writer errors %v",
		res.NewPrimary, res.Duration.Round(time.Millisecond), len(acks), len(lostRows), lostRows, res.Lost, lost, w.errors)
	if res.NewPrimary != "us-1" {
		t.Errorf("new primary %s, want us-1", res.NewPrimary)
	}
	if len(lostRows) > lost {
		t.Errorf("%d acknowledged rows missing, more than the %d transactions reported lost", len(lostRows), lost)
	}

	// The old primary returns: fenced within an interval, then rejoined or
	// kept out with its errant transactions.
	ctx := context.Background()
	if err := sb.Start(ctx, "eu"); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	eu1 := sandboxtest.Admin(t, sb, "eu-1")
	waitFor(t, 3*time.Second, "eu-1 read-only after its return", func() bool {
		on, err := eu1.ReadOnly(ctx)
		return err == nil && on
	})
	t.Logf("eu-1 read-only %s after it was started again", time.Since(back).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "eu-1 rejoined or kept out", func() bool {
		return len(entries(ctrl, audit.KindRejoin, "done"))+len(entries(ctrl, audit.KindRefusal, "rejoin")) > 0
	})
	st := ctrl.Status()
	if errant, kept := st.KeptOut["eu-1"]; kept {
		t.Logf("eu-1 kept out with errant transactions %v (the measured RPO)", errant)
		if len(errant) == 0 {
			t.Error("eu-1 kept out without errant transactions listed")
		}
		if rangeCount(t, errant) < len(lostRows) {
			t.Errorf("errant %v fewer than the %d acknowledged rows missing", errant, len(lostRows))
		}
	} else {
		t.Log("eu-1 rejoined as a replica of us-1")
		if len(lostRows) > 0 {
			t.Errorf("eu-1 rejoined although %d acknowledged rows were missing on us-1", len(lostRows))
		}
	}
}

// TestChaosSwitchover moves the primary across the 80 ms link and back
// under a write load through the DR region's router: no acknowledged write
// is lost, and the write pause (routers holding writes) is measured.
func TestChaosSwitchover(t *testing.T) {
	sb := upWithRouters(t, nil)
	ctrl := sb.Controller()
	w := startWriter(t, sb, "us-rw", 1)
	w.waitAcks(t, time.Time{}, 30, 30*time.Second)
	ctx := context.Background()
	for _, to := range []string{"us", "eu-1"} {
		began := time.Now()
		res, err := ctrl.Switchover(ctx, to)
		if err != nil {
			t.Fatalf("switchover to %s: %v", to, err)
		}
		w.waitAcks(t, time.Now(), 10, 10*time.Second)
		gap := longestGap(w.acked(), began)
		t.Logf("switchover %s → %s: write pause %s (routers held from revoke to new lease), longest gap between acknowledged writes %s, took %s",
			res.OldPrimary, res.NewPrimary, res.WritePause.Round(time.Millisecond), gap.Round(time.Millisecond), res.Duration.Round(time.Millisecond))
		if res.WritePause > 2*time.Second {
			t.Errorf("write pause %s, want under 2s", res.WritePause)
		}
	}
	w.halt()
	newPrimary := sandboxtest.Admin(t, sb, "eu-1")
	acks := w.acked()
	if lost := missing(acks, present(t, newPrimary)); len(lost) > 0 {
		t.Errorf("%d of %d acknowledged writes lost: %v", len(lost), len(acks), lost)
	}
	t.Logf("%d writes acknowledged, none lost; writer errors %v", len(acks), w.errors)
}

// longestGap is the longest time between consecutive acknowledgements
// from since on.
func longestGap(acks []ack, since time.Time) time.Duration {
	var gap time.Duration
	last := since
	for _, a := range acks {
		if a.at.Before(since) {
			continue
		}
		gap = max(gap, a.at.Sub(last))
		last = a.at
	}
	return gap
}
