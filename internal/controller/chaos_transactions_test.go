package controller_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
)

var transactions = flag.Bool("transactions", false, "run TestChaosTransactions (bench/failover.sh)")

// TestChaosTransactions runs a writer of small transactions (an insert and
// an update of a running total, about 100 a second) through the DR
// region's router while the primary moves by switchover to us, then while
// that region dies and the controller fails over back to eu. The
// switchover must cost no client-visible error (the routers hold the
// transactions' statements and replay the open one on the new primary);
// every failover error is counted by kind; and no transaction is ever
// applied twice: the running total equals the rows inserted, id by id.
//
// It takes over a minute, so make test leaves it to bench/failover.sh
// (-transactions); TestFidelity in internal/router replays a transaction
// on a moved primary in a few seconds.
func TestChaosTransactions(t *testing.T) {
	if !*transactions {
		t.Skip("run by bench/failover.sh with -transactions")
	}
	sb := upWithRouters(t, nil)
	ctrl := sb.Controller()
	ctx := context.Background()
	eu1 := sandboxtest.Admin(t, sb, "eu-1")
	for _, stmt := range []string{
		"CREATE TABLE chaos.txrows (id INT PRIMARY KEY, amount INT NOT NULL)",
		"CREATE TABLE chaos.totals (k INT PRIMARY KEY, n INT NOT NULL, s BIGINT NOT NULL)",
		"INSERT INTO chaos.totals VALUES (1, 0, 0)",
	} {
		if _, err := eu1.DB().ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	us1 := sandboxtest.Admin(t, sb, "us-1")
	waitFor(t, 30*time.Second, "chaos.totals on us-1", func() bool {
		var n int
		return us1.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM chaos.totals").Scan(&n) == nil && n == 1
	})
	w := startTxWriter(t, sb, "us-rw", 10*time.Millisecond)
	w.waitCommits(t, 50, 30*time.Second)

	res, err := ctrl.Switchover(ctx, "us")
	if err != nil {
		t.Fatalf("switchover to us: %v", err)
	}
	w.waitCommits(t, len(w.committedIDs())+50, 30*time.Second)
	switchover := w.phase()
	t.Logf("switchover %s → %s (write pause %s): %d transactions committed, errors %v",
		res.OldPrimary, res.NewPrimary, res.WritePause.Round(time.Millisecond), len(w.committedIDs()), switchover)
	if len(switchover) > 0 {
		t.Errorf("the switchover cost the client errors: %v", switchover)
	}

	if err := sb.Kill("us"); err != nil {
		t.Fatal(err)
	}
	before := len(w.committedIDs())
	w.waitCommits(t, before+50, 60*time.Second)
	w.halt()
	failover := w.phase()
	t.Logf("region us killed, failover to eu: %d transactions committed since, errors by kind %v", len(w.committedIDs())-before, failover)

	// No transaction applied twice, none half applied: the total counts
	// exactly the rows present, and adds up exactly their ids.
	var rows, total, sum, ids int64
	if err := eu1.DB().QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(id), 0) FROM chaos.txrows").Scan(&rows, &ids); err != nil {
		t.Fatal(err)
	}
	if err := eu1.DB().QueryRowContext(ctx, "SELECT n, s FROM chaos.totals WHERE k = 1").Scan(&total, &sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("new primary eu-1: %d rows (ids sum %d), running total %d (sum %d); %d transactions acknowledged", rows, ids, total, sum, len(w.committedIDs()))
	if rows != total || ids != sum {
		t.Errorf("running total %d/%d against %d rows summing to %d: a transaction was applied twice or in part", total, sum, rows, ids)
	}
	present := map[int]bool{}
	r, err := eu1.DB().QueryContext(ctx, "SELECT id FROM chaos.txrows")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var id int
		r.Scan(&id)
		present[id] = true
	}
	r.Close()
	var lost []int
	for _, id := range w.committedIDs() {
		if !present[id] {
			lost = append(lost, id)
		}
	}
	t.Logf("acknowledged transactions missing on eu-1 (lost with the region, asynchronous replication): %d %v", len(lost), lost)
}

// txWriter commits small transactions through a router service, one at a
// time, and counts the errors of each phase by kind.
type txWriter struct {
	db   *sql.DB
	pace time.Duration
	stop chan struct{}
	done sync.WaitGroup

	mu        sync.Mutex
	committed []int
	errors    map[string]int
}

func startTxWriter(t *testing.T, sb *sandbox.Sandbox, service string, pace time.Duration) *txWriter {
	t.Helper()
	cfg, _ := serviceClient(t, sb, service)
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &txWriter{db: sql.OpenDB(connector), pace: pace, stop: make(chan struct{}), errors: map[string]int{}}
	w.db.SetMaxOpenConns(1)
	w.done.Add(1)
	go w.run()
	t.Cleanup(w.halt)
	return w
}

func (w *txWriter) run() {
	defer w.done.Done()
	for id := 1; ; id++ {
		select {
		case <-w.stop:
			return
		default:
		}
		err := w.commit(id)
		w.mu.Lock()
		if err == nil {
			w.committed = append(w.committed, id)
		} else {
			w.errors[err.Error()]++
		}
		w.mu.Unlock()
		time.Sleep(w.pace)
	}
}

// commit runs one transaction; an error names the step that failed.
func (w *txWriter) commit(id int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("BEGIN: %s", errorKind(err))
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO chaos.txrows VALUES (?, ?)", id, id%7); err != nil {
		tx.Rollback()
		return fmt.Errorf("INSERT: %s", errorKind(err))
	}
	if _, err := tx.ExecContext(ctx, "UPDATE chaos.totals SET n = n + 1, s = s + ? WHERE k = 1", id); err != nil {
		tx.Rollback()
		return fmt.Errorf("UPDATE: %s", errorKind(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("COMMIT: %s", errorKind(err))
	}
	return nil
}

func (w *txWriter) committedIDs() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.committed)
}

// phase returns the errors counted since the last call, by kind.
func (w *txWriter) phase() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.errors
	w.errors = map[string]int{}
	return out
}

func (w *txWriter) waitCommits(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for len(w.committedIDs()) < n {
		if time.Now().After(deadline) {
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("%d transactions committed, not %d, within %s; errors %v", len(w.committed), n, limit, w.errors)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *txWriter) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.done.Wait()
	w.db.Close()
}
