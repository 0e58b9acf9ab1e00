package router_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/router/routertest"
)

// TestCausalReads runs routers in us in front of the active-passive
// sandbox: writes cross the 80 ms link to eu-1, reads go to us-1, which
// replicates over that same link. A write's OK and its binlog event leave
// eu-1 together, so a read sent as soon as the OK arrives races the
// write's replication: without causal reads it misses now and then.
func TestCausalReads(t *testing.T) {
	f := startFixture(t)
	info, err := f.sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	topo, _, err := estate.LoadTopology("examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	us := routertest.SandboxView(info, topo, "us", time.Now())
	if us.Primary != "eu-1" || us.Nodes["us-1"].Region != "us" {
		t.Fatalf("us view: primary %q, us-1 in %q", us.Primary, us.Nodes["us-1"].Region)
	}
	if _, err := f.admin["eu-1"].Exec("CREATE TABLE meridian_test.causal (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	f.waitReplicated(t, "eu-2", "us-1")
	c := &causalRun{f: f, view: us}

	t.Run("ReadYourWritesByDefault", func(t *testing.T) {
		svc := c.start(t, router.ServiceConfig{Name: "us-default"})
		const pairs = 1000
		started := time.Now()
		done, misses := c.run(t, svc, pairs, 16, false, false)
		st := svc.Stats()
		t.Logf("%d write-then-read pairs over 16 sessions in %s: %d reads on us-1, %d statements on eu-1 (%d writes)",
			done, time.Since(started).Round(time.Millisecond), st.Backends["us-1"].Queries, st.Backends["eu-1"].Queries, pairs)
		if done != pairs || misses != 0 {
			t.Errorf("%d of %d reads missed their own write", misses, done)
		}
		if replica := st.Backends["us-1"].Queries; replica < pairs*9/10 {
			t.Errorf("us-1 served %d of %d reads, want most", replica, pairs)
		}
	})
	t.Run("OffMisses", func(t *testing.T) {
		svc := c.start(t, router.ServiceConfig{Name: "us-plain", CausalReads: router.CausalOff})
		done, misses := c.run(t, svc, 320, 16, false, true)
		t.Logf("first miss after %d pairs", done)
		if misses == 0 {
			t.Errorf("%d write-then-read pairs without causal reads all read their write: the test cannot fail", done)
		}
	})
	t.Run("GlobalAcrossSessions", func(t *testing.T) {
		svc := c.start(t, router.ServiceConfig{Name: "us-global", CausalReads: router.CausalGlobal})
		const pairs = 240
		done, misses := c.run(t, svc, pairs, 16, true, false)
		if done != pairs || misses != 0 {
			t.Errorf("%d of %d reads missed another session's write", misses, done)
		}
		if replica := svc.Stats().Backends["us-1"].Queries; replica < pairs*9/10 {
			t.Errorf("us-1 served %d of %d reads, want most", replica, pairs)
		}
	})
	t.Run("LocalMissesOtherSessions", func(t *testing.T) {
		svc := c.start(t, router.ServiceConfig{Name: "us-local", CausalReads: router.CausalLocal})
		if _, misses := c.run(t, svc, 320, 16, true, true); misses == 0 {
			t.Error("sessions read each other's writes at once without global causal reads: the global test cannot fail")
		}
	})
	t.Run("WaitsOncePerWrite", func(t *testing.T) {
		svc := c.start(t, router.ServiceConfig{Name: "us-once", CausalReads: router.CausalLocal})
		conn := c.conn(t, svc)
		before := f.status(t, "us-1", "Com_select")
		const reads = 10
		id := c.ids.Add(1)
		if err := write(conn, id); err != nil {
			t.Fatal(err)
		}
		for range reads {
			if seen, err := read(conn, id); err != nil || !seen {
				t.Fatalf("a read after the session's write: seen %t, %v", seen, err)
			}
		}
		if d := f.status(t, "us-1", "Com_select") - before; d != reads+1 {
			t.Errorf("us-1 ran %d SELECTs for %d reads after one write, want %d (one wait)", d, reads, reads+1)
		}
	})
	t.Run("LaggingReplicaFallsBackToPrimary", func(t *testing.T) {
		const timeout = 100 * time.Millisecond
		svc := c.start(t, router.ServiceConfig{Name: "us-lagging", CausalReads: router.CausalLocal, CausalReadsTimeout: timeout})
		conn := c.conn(t, svc)
		if _, err := f.admin["us-1"].Exec("STOP ALL SLAVES"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := f.admin["us-1"].Exec("START ALL SLAVES"); err != nil {
				t.Fatal(err)
			}
			f.waitReplicated(t, "us-1")
		})
		id := c.ids.Add(1)
		if err := write(conn, id); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		if seen, err := read(conn, id); err != nil || !seen {
			t.Errorf("a read after the session's write on a stopped replica: seen %t, %v", seen, err)
		}
		took := time.Since(started)
		st := svc.Stats()
		if st.Backends["us-1"].Queries != 0 || st.Backends["eu-1"].Queries != 2 {
			t.Errorf("write and read went to eu-1 %d times, us-1 %d times; want 2 and 0", st.Backends["eu-1"].Queries, st.Backends["us-1"].Queries)
		}
		if took < timeout {
			t.Errorf("the read took %s, less than the %s wait it should have given the replica", took, timeout)
		}
	})
}

// causalRun writes rows through a router and reads them back at once.
type causalRun struct {
	f    *fixture
	view router.View
	ids  atomic.Int64 // the last row id used, unique across runs
}

func (c *causalRun) start(t *testing.T, cfg router.ServiceConfig) *router.Service {
	t.Helper()
	cfg.Region = "us"
	return c.f.startService(t, cfg, c.view)
}

// conn opens one client connection (one router session) to svc.
func (c *causalRun) conn(t *testing.T, svc *router.Service) *sql.Conn {
	t.Helper()
	cfg := c.f.appConfig()
	cfg.Addr = svc.Addr().String()
	conn, err := openDB(t, cfg).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// write inserts row id in autocommit; text statements, so that each
// costs one round trip.
func write(conn *sql.Conn, id int64) error {
	_, err := conn.ExecContext(context.Background(), fmt.Sprintf("INSERT INTO meridian_test.causal VALUES (%d)", id))
	return err
}

// read reports whether row id is there.
func read(conn *sql.Conn, id int64) (bool, error) {
	var n int
	err := conn.QueryRowContext(context.Background(), fmt.Sprintf("SELECT COUNT(*) FROM meridian_test.causal WHERE id = %d", id)).Scan(&n)
	return n == 1, err
}

// writeThenRead writes a new row through writer and reports whether
// reader sees it at once.
func (c *causalRun) writeThenRead(writer, reader *sql.Conn) (bool, error) {
	id := c.ids.Add(1)
	if err := write(writer, id); err != nil {
		return false, fmt.Errorf("write row %d: %w", id, err)
	}
	seen, err := read(reader, id)
	if err != nil {
		return false, fmt.Errorf("read row %d: %w", id, err)
	}
	return seen, nil
}

// run writes and reads back up to pairs rows through svc from workers
// concurrent sessions: each reads through the connection it wrote with,
// or through a second session of its own when crossSession is set. With
// stopAtMiss the run ends at the first read that misses its row. It
// returns how many pairs ran and how many reads missed.
func (c *causalRun) run(t *testing.T, svc *router.Service, pairs, workers int, crossSession, stopAtMiss bool) (int, int) {
	t.Helper()
	var started, done, missed atomic.Int64
	writers, readers := make([]*sql.Conn, workers), make([]*sql.Conn, workers)
	for w := range workers {
		writers[w] = c.conn(t, svc)
		readers[w] = writers[w]
		if crossSession {
			readers[w] = c.conn(t, svc)
		}
	}
	parallel(workers, func(w int) {
		for started.Add(1) <= int64(pairs) && !(stopAtMiss && missed.Load() > 0) {
			seen, err := c.writeThenRead(writers[w], readers[w])
			if err != nil {
				t.Error(err)
				return
			}
			if !seen {
				missed.Add(1)
			}
			done.Add(1)
		}
	})
	return int(done.Load()), int(missed.Load())
}
