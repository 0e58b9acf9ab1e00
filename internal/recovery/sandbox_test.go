package recovery_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/failover"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/recovery"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
	"github.com/meridian-geo/meridian/internal/topology"
)

// estate is a running active-passive sandbox with an executor on it.
type estate struct {
	t  *testing.T
	sb *sandbox.Sandbox
	ex *recovery.Executor
}

func up(t *testing.T) *estate {
	sb := sandboxtest.Up(t, "active-passive.yaml")
	info, err := sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(t.TempDir(), "audit.jsonl"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	return &estate{t: t, sb: sb, ex: &recovery.Executor{
		Topology:    sb.Topology(),
		Endpoints:   sandbox.Endpoints(info, sb.Topology(), sb.Credentials()),
		Credentials: sb.Credentials(),
		Audit:       log,
		Logger:      sandboxtest.Logger(t),
	}}
}

func (e *estate) admin(name string) *node.Client {
	e.t.Helper()
	c, err := node.Open(context.Background(), e.ex.Endpoints.Admin(name))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// app connects with the application's account, which read_only binds.
func (e *estate) app(name string) *sql.DB {
	e.t.Helper()
	info, err := e.sb.Info()
	if err != nil {
		e.t.Fatal(err)
	}
	n, _ := info.Node(name)
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
	cfg.User, cfg.Passwd = e.sb.Credentials().App.User, e.sb.Credentials().App.Password
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 3*time.Second, 5*time.Second, 5*time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	e.t.Cleanup(func() { db.Close() })
	return db
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (e *estate) exec(c *node.Client, stmts ...string) {
	e.t.Helper()
	for _, s := range stmts {
		if _, err := c.DB().Exec(s); err != nil {
			e.t.Fatalf("%s: %s: %v", c.Name(), s, err)
		}
	}
}

func (e *estate) binlog(c *node.Client) gtid.Position {
	e.t.Helper()
	st, err := c.GTIDState(context.Background())
	must(e.t, err)
	return st.Binlog
}

// applied waits until replica applied pos.
func (e *estate) applied(replica *node.Client, pos gtid.Position) {
	e.t.Helper()
	ok, err := replica.WaitForGTID(context.Background(), pos, 20*time.Second)
	if err != nil || !ok {
		e.t.Fatalf("%s did not apply %s: %v", replica.Name(), pos, err)
	}
}

func (e *estate) readOnly(c *node.Client) bool {
	e.t.Helper()
	on, err := c.ReadOnly(context.Background())
	must(e.t, err)
	return on
}

func (e *estate) count(c *node.Client) int {
	e.t.Helper()
	var n int
	must(e.t, c.DB().QueryRow("SELECT COUNT(*) FROM app.t").Scan(&n))
	return n
}

// promote is a decision to make candidate eu-main's primary after failed.
func promote(failed, candidate string, atRisk ...string) failover.Decision {
	return failover.Decision{Cluster: "eu-main", Kind: failover.PrimaryDead, Failed: failed, Action: failover.Promote,
		Candidate: candidate, Region: "eu", Reasons: []string{"test"}, AtRisk: atRisk,
		NewPrimaries: topology.Primaries{Nodes: map[string]string{"eu-main": candidate}}, Affects: []string{"eu-main"}}
}

// TestFailoverRejoinAndErrant: eu-1 is killed, eu-2 promoted and us-1
// repointed; eu-1 restarted rejoins; then eu-1 is promoted while eu-2 holds
// a transaction nobody else has: eu-2 is refused with exactly that GTID.
func TestFailoverRejoinAndErrant(t *testing.T) {
	e := up(t)
	ctx := context.Background()
	eu1, eu2, us1 := e.admin("eu-1"), e.admin("eu-2"), e.admin("us-1")
	e.exec(eu1, "CREATE DATABASE app", "CREATE TABLE app.t (id INT PRIMARY KEY, at VARCHAR(10))",
		"INSERT INTO app.t VALUES (1, 'eu-1'), (2, 'eu-1')")
	pos := e.binlog(eu1)
	e.applied(eu2, pos)
	e.applied(us1, pos)

	must(t, e.sb.Kill("eu-1"))
	res, err := e.ex.Failover(ctx, promote("eu-1", "eu-2"))
	if err != nil {
		t.Fatalf("failover: %v\n%+v", err, res)
	}
	t.Logf("failover in %s, problems %v", res.Duration, res.Problems)
	if e.readOnly(eu2) || !e.readOnly(us1) {
		t.Fatalf("after failover: eu-2 read_only %v, us-1 read_only %v", e.readOnly(eu2), e.readOnly(us1))
	}
	if len(res.Problems) != 1 || res.Problems[0][:len(recovery.ActionFence)] != recovery.ActionFence {
		t.Errorf("problems %v, want only the dead eu-1's fence", res.Problems)
	}
	if _, err := e.app("eu-2").Exec("INSERT INTO app.t VALUES (3, 'eu-2')"); err != nil {
		t.Fatalf("the application cannot write on the new primary: %v", err)
	}
	if _, err := e.app("us-1").Exec("INSERT INTO app.t VALUES (99, 'us-1')"); err == nil {
		t.Fatal("us-1 took an application write")
	}
	e.applied(us1, e.binlog(eu2))
	if rs, _ := us1.Replicas(ctx); len(rs) != 1 || rs[0].IORunning != "Yes" || !rs[0].SQLRunning {
		t.Fatalf("us-1 replication %+v", rs)
	}
	if rs, _ := eu2.Replicas(ctx); len(rs) != 0 {
		t.Fatalf("the new primary still replicates: %+v", rs)
	}

	must(t, e.sb.Start(ctx, "eu-1"))
	eu1 = e.admin("eu-1")
	p := topology.Primaries{Nodes: map[string]string{"eu-main": "eu-2"}}
	rj, err := e.ex.Rejoin(ctx, "eu-1", p)
	if err != nil || !rj.Rejoined || len(rj.Errant) != 0 {
		t.Fatalf("rejoin = %+v, %v", rj, err)
	}
	if !e.readOnly(eu1) {
		t.Error("the rejoined eu-1 is writable")
	}
	e.applied(eu1, e.binlog(eu2))
	if n := e.count(eu1); n != 3 {
		t.Errorf("eu-1 holds %d rows, want 3", n)
	}

	// eu-2 alone gets row 4: its replicas are stopped.
	must(t, eu1.StopReplica(ctx, "eu"))
	must(t, us1.StopReplica(ctx, "eu"))
	e.exec(eu2, "INSERT INTO app.t VALUES (4, 'eu-2 only')")
	only := e.binlog(eu2).Subtract(e.binlog(eu1))
	if len(only) != 1 {
		t.Fatalf("eu-2 ahead by %v", only)
	}
	res, err = e.ex.Failover(ctx, promote("eu-2", "eu-1", only[0].String()))
	if err != nil {
		t.Fatalf("failover to eu-1: %v\n%+v", err, res)
	}
	if !e.readOnly(eu2) || e.readOnly(eu1) {
		t.Fatal("eu-2 not fenced or eu-1 not writable")
	}
	p = topology.Primaries{Nodes: map[string]string{"eu-main": "eu-1"}}
	rj, err = e.ex.Rejoin(ctx, "eu-2", p)
	if err != nil || rj.Rejoined || !slices.Equal(rj.Errant, []string{only[0].String()}) {
		t.Fatalf("rejoin of eu-2 = %+v, %v; want refused with errant %s", rj, err, only[0])
	}
	t.Logf("refused: %s", rj.Reason)
	if rs, _ := eu2.Replicas(ctx); !e.readOnly(eu2) || len(rs) != 0 {
		t.Errorf("the refused eu-2: read_only %v, connections %+v", e.readOnly(eu2), rs)
	}
	e.applied(us1, e.binlog(eu1))
	if n := e.count(us1); n != 3 {
		t.Errorf("us-1 holds %d rows, want 3 (row 4 is lost)", n)
	}
	var refusals int
	for _, a := range e.ex.Audit.Entries() {
		if a.Kind == audit.KindRefusal && a.Node == "eu-2" {
			refusals++
		}
	}
	if refusals != 1 {
		t.Errorf("%d audited refusals of eu-2's rejoin, want 1", refusals)
	}
}

// writer commits numbered rows to the current primary with the
// application's account and remembers each acknowledged one; Hold and
// Resume stop it and point it elsewhere, as routers do.
type writer struct {
	mu      sync.RWMutex // held for writing while writes are held
	target  *sql.DB
	acked   []int
	stop    chan struct{}
	done    chan struct{}
	failure error
}

func (w *writer) run() {
	defer close(w.done)
	for i := 1; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		w.mu.RLock()
		_, err := w.target.Exec("INSERT INTO app.t VALUES (?, 'w')", i)
		w.mu.RUnlock()
		if err != nil {
			w.failure = fmt.Errorf("row %d: %w", i, err)
			return
		}
		w.acked = append(w.acked, i)
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *writer) options(next *sql.DB) recovery.SwitchoverOptions {
	return recovery.SwitchoverOptions{
		MaxLag: 5 * time.Second,
		Hold:   func() { w.mu.Lock() },
		Resume: func() { w.target = next; w.mu.Unlock() },
	}
}

// TestSwitchoverUnderLoad moves the primary eu-1 → us-1 across the 80 ms
// link and back while a writer commits rows: every acknowledged row is on
// the new primary.
func TestSwitchoverUnderLoad(t *testing.T) {
	e := up(t)
	ctx := context.Background()
	eu1, us1 := e.admin("eu-1"), e.admin("us-1")
	e.exec(eu1, "CREATE DATABASE app", "CREATE TABLE app.t (id INT PRIMARY KEY, at VARCHAR(10))")
	e.applied(us1, e.binlog(eu1))

	w := &writer{target: e.app("eu-1"), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	time.Sleep(300 * time.Millisecond)
	res, err := e.ex.Switchover(ctx, topology.Primaries{}, topology.Primaries{Region: "us"}, w.options(e.app("us-1")))
	if err != nil {
		close(w.stop)
		<-w.done
		t.Fatalf("switchover to us-1: %v\n%+v", err, res)
	}
	t.Logf("eu-1 → us-1: write pause %s, total %s, problems %v", res.WritePause, res.Duration, res.Problems)
	time.Sleep(300 * time.Millisecond)
	back, err := e.ex.Switchover(ctx, topology.Primaries{Region: "us"}, topology.Primaries{}, w.options(e.app("eu-1")))
	time.Sleep(300 * time.Millisecond)
	close(w.stop)
	<-w.done
	if err != nil {
		t.Fatalf("switchover back to eu-1: %v\n%+v", err, back)
	}
	t.Logf("us-1 → eu-1: write pause %s, total %s, problems %v", back.WritePause, back.Duration, back.Problems)
	if w.failure != nil {
		t.Fatalf("writer: %v", w.failure)
	}
	if len(res.Problems)+len(back.Problems) > 0 || res.WritePause > 2*time.Second || back.WritePause > 2*time.Second {
		t.Errorf("problems %v %v, pauses %s %s", res.Problems, back.Problems, res.WritePause, back.WritePause)
	}
	if e.readOnly(eu1) || !e.readOnly(us1) {
		t.Error("after switching back: eu-1 must be writable, us-1 read-only")
	}
	e.applied(us1, e.binlog(eu1))
	for _, c := range []*node.Client{eu1, us1} {
		var ids []int
		rows, err := c.DB().Query("SELECT id FROM app.t ORDER BY id")
		must(t, err)
		for rows.Next() {
			var id int
			must(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range w.acked {
			if _, found := slices.BinarySearch(ids, id); !found {
				t.Errorf("%s lacks acknowledged row %d", c.Name(), id)
			}
		}
	}
	t.Logf("%d acknowledged rows, all present", len(w.acked))
}

// TestSwitchoverRefusesErrantCandidate: a candidate holding a transaction
// the primary lacks is refused before anything changes.
func TestSwitchoverRefusesErrantCandidate(t *testing.T) {
	e := up(t)
	ctx := context.Background()
	eu1, us1 := e.admin("eu-1"), e.admin("us-1")
	// Written outside the replication stream, as an operator might by mistake.
	e.exec(us1, "CREATE DATABASE stray")
	held := false
	_, err := e.ex.Switchover(ctx, topology.Primaries{}, topology.Primaries{Region: "us"},
		recovery.SwitchoverOptions{Hold: func() { held = true }})
	var refused *recovery.RefusedError
	if !errors.As(err, &refused) || held {
		t.Fatalf("switchover = %v (held %v), want a refusal before holding writes", err, held)
	}
	t.Log(err)
	if e.readOnly(eu1) || !e.readOnly(us1) {
		t.Error("a refused switchover changed read_only")
	}
}
