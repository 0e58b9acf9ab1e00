package monitor_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/monitor"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
	"github.com/meridian-geo/meridian/internal/snapshot"
)

// estateUnderTest is the active-passive sandbox every integration test of
// this file shares: eu-1 primary, eu-2 its replica, us-1 the DR replica
// behind an 80 ms link. The controller sits in eu.
type estateUnderTest struct {
	sb   *sandbox.Sandbox
	info *sandbox.Info
	log  *slog.Logger
}

func TestMonitorActivePassive(t *testing.T) {
	topo, _, err := estate.LoadTopology("examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if rtt := topo.RTT("eu", "us"); rtt != 80*time.Millisecond {
		t.Fatalf("the example declares %s between eu and us; these tests expect 80ms", rtt)
	}
	log := sandboxtest.Logger(t)
	sb := sandboxtest.Up(t, "active-passive.yaml", func(o *sandbox.Options) { o.Topology = topo })
	info, err := sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	e := &estateUnderTest{sb: sb, info: info, log: log}
	app := e.appDB(t, "eu-1")
	for _, stmt := range []string{
		"CREATE DATABASE meridian_test",
		"CREATE TABLE meridian_test.burst (id INT PRIMARY KEY, note VARCHAR(100))",
	} {
		if _, err := app.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("defaults", e.testDefaults)
	t.Run("burst", e.testBurst)
	t.Run("stopped applier", e.testStoppedApplier)
	t.Run("errant transaction", e.testErrant)
	t.Run("history", e.testHistory)
	t.Run("hung node", e.testHungNode)
	t.Run("killed node", e.testKilledNode)
}

// start runs a monitor until the test ends, in region eu unless cfg says
// otherwise.
func (e *estateUnderTest) start(t *testing.T, cfg monitor.Config) *monitor.Monitor {
	t.Helper()
	cfg.Topology = e.sb.Topology()
	if cfg.Region == "" {
		cfg.Region = "eu"
	}
	if cfg.Endpoints == nil {
		cfg.Endpoints = sandbox.EndpointsFrom(e.info, cfg.Topology, e.sb.Credentials(), cfg.Region)
	}
	cfg.Logger = e.log
	m, err := monitor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("monitor run: %v", err)
		}
	})
	return m
}

// fast is the configuration of most tests: rounds twice a second.
func fast() monitor.Config {
	return monitor.Config{Interval: 500 * time.Millisecond, HistoryInterval: time.Second}
}

// waitFor watches the snapshots until cond holds, and returns that
// snapshot; it fails the test after timeout.
func waitFor(t *testing.T, m *monitor.Monitor, timeout time.Duration, what string, cond func(snapshot.Snapshot) bool) snapshot.Snapshot {
	t.Helper()
	updates, cancel := m.Subscribe()
	defer cancel()
	if s := m.Snapshot(); !s.At.IsZero() && cond(s) {
		return s
	}
	deadline := time.After(timeout)
	var last snapshot.Snapshot
	for {
		select {
		case s := <-updates:
			if cond(s) {
				return s
			}
			last = s
		case <-deadline:
			t.Fatalf("%s: not seen within %s; last snapshot:\n%s", what, timeout, describe(last))
		}
	}
}

func channel(s snapshot.Snapshot, nodeName, connection string) (snapshot.Channel, bool) {
	n, _ := s.Node(nodeName)
	for _, c := range n.Replication {
		if c.Connection == connection {
			return c, true
		}
	}
	return snapshot.Channel{}, false
}

// drLag is the DR channel's heartbeat lag, or -1 when unknown.
func drLag(s snapshot.Snapshot) float64 {
	c, ok := channel(s, "us-1", "eu")
	if !ok || c.LagSeconds == nil {
		return -1
	}
	return *c.LagSeconds
}

func describe(s snapshot.Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "at %s\n", s.At.Format("15:04:05.000"))
	for _, n := range s.Nodes {
		fmt.Fprintf(&b, "  %s up=%v ro=%v binlog=%s errant=%v err=%q probed=%s\n", n.Name, n.Up, n.ReadOnly, n.GTIDBinlog, n.Errant, n.Error, n.ProbedAt.Format("15:04:05.000"))
		for _, c := range n.Replication {
			lag := "nil"
			if c.LagSeconds != nil {
				lag = fmt.Sprintf("%.6f", *c.LagSeconds)
			}
			fmt.Fprintf(&b, "    '%s' <- %s/%s io=%s sql=%v lag=%s gtid_lag=%v %s %s\n", c.Connection, c.SourceRegion, c.SourceNode, c.IORunning, c.SQLRunning, lag, c.GTIDLag, c.LastIOError, c.LastSQLError)
		}
	}
	return b.String()
}

// testDefaults runs the monitor as configured by default and checks an idle
// estate: every node up with its role, the heartbeat lag of both channels
// measured (above zero, under 0.2 s), the WAN round trip, and the first
// history rows.
func (e *estateUnderTest) testDefaults(t *testing.T) {
	m := e.start(t, monitor.Config{})
	s := waitFor(t, m, 10*time.Second, "both channels with a heartbeat lag", func(s snapshot.Snapshot) bool {
		eu2, _ := channel(s, "eu-2", "eu")
		return drLag(s) >= 0 && eu2.LagSeconds != nil
	})
	if s.Interval != time.Second {
		t.Errorf("default interval %s, want 1s", s.Interval)
	}
	roles := map[string]string{"eu-1": "primary", "eu-2": "replica", "us-1": "replica"}
	for _, n := range s.Nodes {
		if !n.Up || n.Role != roles[n.Name] || n.ReadOnly == n.Writable || len(n.Errant) > 0 {
			t.Errorf("node %s: up=%v role=%s read_only=%v writable=%v errant=%v err=%s", n.Name, n.Up, n.Role, n.ReadOnly, n.Writable, n.Errant, n.Error)
		}
	}
	// Sample an idle estate for a few rounds.
	var samples []float64
	updates, cancel := m.Subscribe()
	defer cancel()
	for range 4 {
		s = <-updates
		for _, name := range []string{"us-1", "eu-2"} {
			c, _ := channel(s, name, "eu")
			if c.LagSeconds == nil || *c.LagSeconds <= 0 || *c.LagSeconds >= 0.2 {
				t.Errorf("idle %s channel 'eu': lag %v, want known, above 0 and under 0.2 s", name, c.LagSeconds)
				continue
			}
			if !c.Healthy() || c.SourceNode != "eu-1" || c.SourceRegion != "eu" || c.GTIDLag == nil {
				t.Errorf("idle %s channel: %+v", name, c)
			}
			samples = append(samples, *c.LagSeconds)
		}
	}
	t.Logf("idle heartbeat lag samples (s): %v", samples)
	if len(s.WAN) != 1 || s.WAN[0].To != "us" || s.WAN[0].RTTSeconds == nil {
		t.Fatalf("WAN: %+v", s.WAN)
	}
	if rtt := *s.WAN[0].RTTSeconds; rtt < 0.075 || rtt > 0.2 {
		t.Errorf("measured eu->us RTT %.4f s, the link adds 80 ms", rtt)
	} else {
		t.Logf("measured eu->us RTT %.2f ms", rtt*1000)
	}

	// The first history rows follow the first round, not a minute later.
	primary := e.admin(t, "eu-1")
	var rows int
	deadline := time.Now().Add(5 * time.Second)
	for rows < 2 && time.Now().Before(deadline) {
		primary.DB().QueryRow("SELECT COUNT(*) FROM meridian.replication_lag_history").Scan(&rows)
		time.Sleep(100 * time.Millisecond)
	}
	if rows < 2 {
		t.Errorf("history has %d rows after the first round, want one per channel", rows)
	}
	stats := m.Stats()
	t.Logf("stats after %d rounds: %+v", stats.Rounds, stats)
	if stats.HeartbeatWrites == 0 || stats.Nodes["us-1"].Queries == 0 {
		t.Errorf("stats: %+v", stats)
	}

	once, err := monitor.ProbeOnce(context.Background(), monitor.Config{Topology: e.sb.Topology(),
		Endpoints: sandbox.EndpointsFrom(e.info, e.sb.Topology(), e.sb.Credentials(), "us"), Region: "us"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range once.Nodes {
		if !n.Up || len(n.Errant) > 0 {
			t.Errorf("ProbeOnce: node %s up=%v errant=%v err=%s", n.Name, n.Up, n.Errant, n.Error)
		}
	}
	if len(once.WAN) != 1 || once.WAN[0].From != "us" || once.WAN[0].To != "eu" || once.WAN[0].RTTSeconds == nil {
		t.Errorf("ProbeOnce from us: WAN %+v", once.WAN)
	}
}

// testBurst writes on the primary and watches the DR channel's lag rise
// and fall back under 0.2 s: first 2000 single-row inserts from 8
// connections, then one transaction of 250,000 rows, which the DR replica
// takes a while to apply (heartbeats queue behind it).
func (e *estateUnderTest) testBurst(t *testing.T) {
	m := e.start(t, monitor.Config{Interval: 250 * time.Millisecond})
	waitFor(t, m, 5*time.Second, "DR lag known", func(s snapshot.Snapshot) bool { return drLag(s) >= 0 })
	app := e.appDB(t, "eu-1")
	app.SetMaxOpenConns(8)
	watchLag(t, m, "2000 inserts from 8 connections", func() error {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for w := range 8 {
			wg.Go(func() {
				for i := range 250 {
					if _, err := app.Exec("INSERT INTO meridian_test.burst (id, note) VALUES (?, REPEAT('x', 100))", 1+w*250+i); err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	peak := watchLag(t, m, "one transaction of 250,000 rows", func() error {
		_, err := app.Exec("INSERT INTO meridian_test.burst (id, note) SELECT 1000000 + seq, REPEAT('y', 100) FROM meridian_test.seq_1_to_250000")
		return err
	})
	if peak < 0.2 {
		t.Errorf("DR lag peaked at %.3f s while the replica applied 250,000 rows in one transaction, want it above the idle ceiling of 0.2 s", peak)
	}
}

// watchLag runs write on the primary and follows the DR lag until it is
// back under 0.2 s; it returns the peak.
func watchLag(t *testing.T, m *monitor.Monitor, what string, write func() error) float64 {
	t.Helper()
	updates, cancel := m.Subscribe()
	defer cancel()
	begun := time.Now()
	if err := write(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	wrote := time.Since(begun)
	peak, fractional := 0.0, false
	for {
		select {
		case s := <-updates:
			lag := drLag(s)
			peak = max(peak, lag)
			if lag > 0 && math.Abs(lag*1000-math.Round(lag*1000)) > 1e-9 {
				fractional = true
			}
			if lag >= 0 && lag < 0.2 && time.Since(begun) > wrote+500*time.Millisecond {
				t.Logf("%s took %s; DR lag peaked at %.6f s, back under 0.2 s %s after the writes began",
					what, wrote.Round(time.Millisecond), peak, time.Since(begun).Round(time.Millisecond))
				if peak <= 0 {
					t.Errorf("%s: DR lag never rose above zero", what)
				}
				if !fractional {
					t.Errorf("%s: no lag reading had sub-millisecond digits", what)
				}
				return peak
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: DR lag did not fall back under 0.2 s; peak %.3f s", what, peak)
		}
	}
}

// testStoppedApplier stops the DR replica's SQL thread: the snapshot shows
// it within two intervals, the IO thread still running, and the lag grows.
func (e *estateUnderTest) testStoppedApplier(t *testing.T) {
	cfg := fast()
	m := e.start(t, cfg)
	waitFor(t, m, 5*time.Second, "DR channel healthy", func(s snapshot.Snapshot) bool {
		c, _ := channel(s, "us-1", "eu")
		return c.Healthy()
	})
	dr := e.admin(t, "us-1")
	if err := dr.StopReplicaSQL(context.Background(), "eu"); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	s := waitFor(t, m, 2*cfg.Interval, "SQL thread stopped", func(s snapshot.Snapshot) bool {
		c, _ := channel(s, "us-1", "eu")
		return !c.SQLRunning
	})
	t.Logf("stopped SQL thread seen after %s", time.Since(stopped).Round(time.Millisecond))
	if c, _ := channel(s, "us-1", "eu"); c.IORunning != "Yes" || c.Healthy() {
		t.Errorf("channel with its SQL thread stopped: io=%s sql=%v", c.IORunning, c.SQLRunning)
	}
	waitFor(t, m, 3*time.Second, "DR lag growing past 0.5 s", func(s snapshot.Snapshot) bool { return drLag(s) > 0.5 })
	if err := dr.StartReplica(context.Background(), "eu"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, 3*time.Second, "DR lag back under 0.2 s", func(s snapshot.Snapshot) bool {
		lag := drLag(s)
		return lag >= 0 && lag < 0.2
	})
}

// testErrant writes on the read-only DR replica as the admin, which the
// monitor must report with the exact GTID; then the same row written on the
// primary breaks the DR applier with a duplicate key, reported with its error.
func (e *estateUnderTest) testErrant(t *testing.T) {
	m := e.start(t, fast())
	ctx := context.Background()
	dr := e.admin(t, "us-1")
	conn, err := dr.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var errant string
	for _, stmt := range []string{
		"SET GLOBAL read_only = 0",
		"INSERT INTO meridian_test.burst (id, note) VALUES (100000, 'errant')",
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&errant); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	waitFor(t, m, 3*time.Second, "errant "+errant+" on us-1", func(s snapshot.Snapshot) bool {
		n, _ := s.Node("us-1")
		return len(n.Errant) == 1 && n.Errant[0] == errant
	})
	t.Logf("errant transaction %s reported after %s", errant, time.Since(written).Round(time.Millisecond))

	if _, err := e.appDB(t, "eu-1").Exec("INSERT INTO meridian_test.burst (id, note) VALUES (100000, 'conflict')"); err != nil {
		t.Fatal(err)
	}
	s := waitFor(t, m, 3*time.Second, "DR applier stopped by the duplicate", func(s snapshot.Snapshot) bool {
		c, _ := channel(s, "us-1", "eu")
		return !c.SQLRunning && c.LastSQLErrno != 0
	})
	c, _ := channel(s, "us-1", "eu")
	t.Logf("DR channel: io=%s sql=%v errno=%d error=%q", c.IORunning, c.SQLRunning, c.LastSQLErrno, c.LastSQLError)
	if c.LastSQLErrno != 1062 || !strings.Contains(c.LastSQLError, "Duplicate") || c.IORunning != "Yes" {
		t.Errorf("DR channel after a duplicate key: io=%s errno=%d error=%q", c.IORunning, c.LastSQLErrno, c.LastSQLError)
	}
	// Repair: drop the errant row locally and let the primary's row in.
	if err := dr.ExecLocal(ctx, "DELETE FROM meridian_test.burst WHERE id = 100000"); err != nil {
		t.Fatal(err)
	}
	if err := dr.StartReplica(ctx, "eu"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, 3*time.Second, "DR channel healthy again", func(s snapshot.Snapshot) bool {
		c, _ := channel(s, "us-1", "eu")
		return c.Healthy()
	})
}

// testHistory checks that the history fills every history interval and
// that rows older than the retention go.
func (e *estateUnderTest) testHistory(t *testing.T) {
	primary := e.admin(t, "eu-1")
	count := func(where string) int {
		var n int
		if err := primary.DB().QueryRow("SELECT COUNT(*) FROM meridian.replication_lag_history WHERE " + where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	old := time.Now().Add(-8 * 24 * time.Hour).UTC().Format("2006-01-02 15:04:05")
	if err := primary.ExecLocal(context.Background(),
		"INSERT INTO meridian.replication_lag_history (source_region, target_region, target_node, lag_seconds, recorded_at) VALUES ('eu', 'us', 'us-1', 0.5, '"+old+"')"); err != nil {
		t.Fatal(err)
	}
	before := count("TRUE")
	m := e.start(t, fast())
	waitFor(t, m, 3*time.Second, "first round", func(snapshot.Snapshot) bool { return true })
	// Two writes of a row per channel, and the old row gone.
	want := before - 1 + 4
	deadline := time.Now().Add(5 * time.Second)
	for (count("recorded_at < NOW() - INTERVAL 7 DAY") > 0 || count("TRUE") < want) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := count("recorded_at < NOW() - INTERVAL 7 DAY"); n > 0 {
		t.Errorf("%d rows older than the 7-day retention remain", n)
	}
	if n := count("TRUE"); n < want {
		t.Errorf("history has %d rows, want at least %d", n, want)
	}
	var lag sql.NullString
	var target string
	if err := primary.DB().QueryRow("SELECT lag_seconds, target_node FROM meridian.replication_lag_history WHERE target_region = 'us' ORDER BY id DESC LIMIT 1").Scan(&lag, &target); err != nil {
		t.Fatal(err)
	}
	t.Logf("latest DR history row: lag_seconds=%s target_node=%s", lag.String, target)
	// The history is the controller region's own: never in a binlog.
	replica := e.admin(t, "eu-2")
	var tables int
	replica.DB().QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'meridian' AND TABLE_NAME = 'replication_lag_history'").Scan(&tables)
	if tables != 0 {
		t.Errorf("the history table reached eu-2 through replication")
	}

	// A controller in the read-only DR region records there, without a
	// transaction of its own in the region's domain.
	dr := e.admin(t, "us-1")
	domain2 := func() uint64 {
		state, err := dr.GTIDState(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return state.Binlog.Seq(2)
	}
	seq := domain2()
	e.start(t, monitor.Config{Region: "us", Interval: 500 * time.Millisecond})
	var rows int
	for deadline := time.Now().Add(5 * time.Second); rows == 0 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		dr.DB().QueryRow("SELECT COUNT(*) FROM meridian.replication_lag_history").Scan(&rows)
	}
	if rows == 0 {
		t.Error("a controller in us recorded no history on us-1")
	}
	if after := domain2(); after != seq {
		t.Errorf("recording history on the read-only us-1 moved its domain 2 from seq %d to %d: an errant transaction", seq, after)
	}
}

// testHungNode points the monitor's view of eu-2 at a listener that accepts
// connections and never answers: the other nodes keep their cadence and
// the snapshots keep coming, eu-2 reported as timed out.
func (e *estateUnderTest) testHungNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	cfg := fast()
	cfg.Endpoints = hungEndpoints{Endpoints: sandbox.EndpointsFrom(e.info, e.sb.Topology(), e.sb.Credentials(), "eu"), node: "eu-2", addr: ln.Addr().String()}
	m := e.start(t, cfg)
	first := waitFor(t, m, 3*time.Second, "first snapshot", func(snapshot.Snapshot) bool { return true })
	for _, n := range first.Nodes {
		if n.Up == (n.Name == "eu-2") {
			t.Errorf("first snapshot: %s up=%v %s", n.Name, n.Up, n.Error)
		}
	}
	updates, cancel := m.Subscribe()
	defer cancel()
	var snaps []snapshot.Snapshot
	for len(snaps) < 7 {
		select {
		case s := <-updates:
			snaps = append(snaps, s)
		case <-time.After(2 * cfg.Interval):
			t.Fatalf("no snapshot for %s after %d", 2*cfg.Interval, len(snaps))
		}
	}
	// The cadence is judged on the median gap: a machine loaded by other
	// test packages may delay one round (and the ticker then starts the
	// next at once), while a hung node would delay every one.
	gaps := map[string][]time.Duration{}
	for i, s := range snaps[1:] {
		prev := snaps[i]
		gaps["snapshots"] = append(gaps["snapshots"], s.At.Sub(prev.At))
		hung, _ := s.Node("eu-2")
		if hung.Up || !strings.Contains(hung.Error, "timed out after 400ms") {
			t.Errorf("hung eu-2: up=%v error=%q", hung.Up, hung.Error)
		}
		for _, name := range []string{"eu-1", "us-1"} {
			n, _ := s.Node(name)
			p, _ := prev.Node(name)
			if !n.Up {
				t.Errorf("%s down beside the hung node: %s", name, n.Error)
			}
			gaps[name] = append(gaps[name], n.ProbedAt.Sub(p.ProbedAt))
		}
	}
	for what, g := range gaps {
		slices.Sort(g)
		if median := g[len(g)/2]; median < cfg.Interval*3/4 || median > cfg.Interval*5/4 {
			t.Errorf("%s: median gap %s (gaps %v), interval %s: cadence lost", what, median, g, cfg.Interval)
		}
	}
	hung, _ := snaps[len(snaps)-1].Node("eu-2")
	t.Logf("hung eu-2 reported as %q; stats %+v", hung.Error, m.Stats())
}

// hungEndpoints sends the monitor to addr for one node.
type hungEndpoints struct {
	provision.Endpoints
	node, addr string
}

func (h hungEndpoints) Admin(name string) node.Endpoint {
	e := h.Endpoints.Admin(name)
	if name == h.node {
		e.Addr = h.addr
	}
	return e
}

// testKilledNode kills eu-2: the monitor reports it down within two
// intervals while the others keep their cadence, then up again after a
// restart.
func (e *estateUnderTest) testKilledNode(t *testing.T) {
	cfg := fast()
	m := e.start(t, cfg)
	waitFor(t, m, 5*time.Second, "all up", func(s snapshot.Snapshot) bool {
		for _, n := range s.Nodes {
			if !n.Up {
				return false
			}
		}
		return true
	})
	if err := e.sb.Kill("eu-2"); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	s := waitFor(t, m, 2*cfg.Interval, "eu-2 down", func(s snapshot.Snapshot) bool {
		n, _ := s.Node("eu-2")
		return !n.Up
	})
	n, _ := s.Node("eu-2")
	t.Logf("killed eu-2 reported down after %s: %s", time.Since(killed).Round(time.Millisecond), n.Error)
	for _, name := range []string{"eu-1", "us-1"} {
		if n, _ := s.Node(name); !n.Up || s.At.Sub(n.ProbedAt) > cfg.Interval {
			t.Errorf("%s while eu-2 is down: up=%v probed %s before the snapshot", name, n.Up, s.At.Sub(n.ProbedAt))
		}
	}
	if err := e.sb.Start(context.Background(), "eu-2"); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	waitFor(t, m, 5*time.Second, "eu-2 up again", func(s snapshot.Snapshot) bool {
		n, _ := s.Node("eu-2")
		c, _ := channel(s, "eu-2", "eu")
		return n.Up && c.Healthy()
	})
	t.Logf("restarted eu-2 reported up and replicating after %s", time.Since(restarted).Round(time.Millisecond))
}

func (e *estateUnderTest) admin(t *testing.T, name string) *node.Client {
	t.Helper()
	c, err := node.Open(context.Background(), sandbox.Endpoints(e.info, e.sb.Topology(), e.sb.Credentials()).Admin(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// appDB connects to a node directly as the application account.
func (e *estateUnderTest) appDB(t *testing.T, name string) *sql.DB {
	t.Helper()
	n, ok := e.info.Node(name)
	if !ok {
		t.Fatalf("no node %s", name)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = e.info.Credentials.User, e.info.Credentials.Password
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(n.Host, fmt.Sprint(n.Port))
	cfg.Timeout = 3 * time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}
