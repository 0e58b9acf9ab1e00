package provision

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/mariadbd"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/topology"
)

// estate is a set of real standalone mariadbd servers for a topology whose
// nodes declare loopback addresses, reached through StaticEndpoints.
type estate struct {
	topo      *topology.Topology
	ep        *StaticEndpoints
	bins      mariadbd.Binaries
	dir       string
	ports     map[string]int
	instances map[string]*mariadbd.Instance
	mu        sync.Mutex
}

// startEstate starts one server per node of yamlFormat (whose %d verbs
// receive one free port per node, in node order), each with ServerSettings
// plus extra[node], and creates the admin account over the root socket.
func startEstate(t *testing.T, yamlFormat string, nodes int, extra map[string]map[string]string) *estate {
	t.Helper()
	bins, err := mariadbd.FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := mariadbd.FreePorts(nodes)
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, nodes)
	for i, p := range ports {
		args[i] = p
	}
	topo := parseTopology(t, fmt.Sprintf(yamlFormat, args...))
	ep, err := NewStaticEndpoints(topo, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := mariadbd.GrantTraversal(dir); err != nil {
		t.Fatal(err)
	}
	e := &estate{topo: topo, ep: ep, bins: bins, dir: dir, ports: map[string]int{}, instances: map[string]*mariadbd.Instance{}}
	for i, name := range nodeNames(topo) {
		e.ports[name] = ports[i]
	}
	// Clusters start side by side; a Galera cluster's nodes one after the
	// other, the first bootstrapping it.
	var wg sync.WaitGroup
	errs := make([]error, len(topo.Clusters))
	for i, c := range topo.Clusters {
		var galera *galeraPorts
		if c.Kind == topology.Galera {
			if galera, err = newGaleraPorts(c); err != nil {
				t.Fatal(err)
			}
		}
		wg.Go(func() {
			for j, n := range c.Nodes {
				if errs[i] = e.start(t, n.Name, extra[n.Name], galera.config(c, j)); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return e
}

// galeraPorts are the gcomm, IST and SST ports of each node of a cluster.
type galeraPorts struct{ gcomm, ist, sst []int }

func newGaleraPorts(c topology.Cluster) (*galeraPorts, error) {
	p, err := mariadbd.FreePorts(3 * len(c.Nodes))
	if err != nil {
		return nil, err
	}
	n := len(c.Nodes)
	return &galeraPorts{gcomm: p[:n], ist: p[n : 2*n], sst: p[2*n:]}, nil
}

// config is node j's Galera configuration (nil outside Galera).
func (g *galeraPorts) config(c topology.Cluster, j int) *mariadbd.Galera {
	if g == nil {
		return nil
	}
	var members []string
	for _, port := range g.gcomm {
		members = append(members, fmt.Sprintf("127.0.0.1:%d", port))
	}
	return &mariadbd.Galera{ClusterName: c.Name, Bootstrap: j == 0, Members: members,
		GCommPort: g.gcomm[j], ISTPort: g.ist[j], SSTPort: g.sst[j]}
}

// start starts (or restarts) node name with ServerSettings plus extra.
func (e *estate) start(t *testing.T, name string, extra map[string]string, galera *mariadbd.Galera) error {
	settings := ServerSettings(e.topo, e.topo.Layout(time.Now()), name)
	for k, v := range extra {
		settings[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	inst, err := mariadbd.Start(ctx, e.bins, mariadbd.Config{
		Name: name, Dir: filepath.Join(e.dir, name), Port: e.ports[name], Settings: settings, Galera: galera,
	})
	if err != nil {
		return err
	}
	t.Cleanup(func() {
		if err := inst.Stop(30 * time.Second); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	e.mu.Lock()
	e.instances[name] = inst
	e.mu.Unlock()
	root, err := node.Open(ctx, node.Endpoint{Name: name, Socket: inst.Socket(), User: "root"})
	if err != nil {
		return err
	}
	defer root.Close()
	a := testCreds.Admin
	return root.ExecLocal(ctx,
		"CREATE USER IF NOT EXISTS "+node.QuoteString(a.User)+"@'127.0.0.1' IDENTIFIED BY "+node.QuoteString(a.Password),
		"GRANT ALL PRIVILEGES ON *.* TO "+node.QuoteString(a.User)+"@'127.0.0.1' WITH GRANT OPTION")
}

// restart restarts a standalone node.
func (e *estate) restart(t *testing.T, name string, extra map[string]string) {
	t.Helper()
	if err := e.instances[name].Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.start(t, name, extra, nil); err != nil {
		t.Fatal(err)
	}
}

// plan observes the estate and diffs it against e.topo at now.
func (e *estate) plan(t *testing.T, now time.Time) Plan {
	t.Helper()
	obs, err := Observe(context.Background(), e.topo, e.ep, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Diff(e.topo, now, e.ep, testCreds, obs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *estate) apply(t *testing.T, p Plan) ApplyResult {
	t.Helper()
	res, err := Apply(context.Background(), e.topo, e.ep, testCreds, p)
	if err != nil {
		t.Fatalf("%v\nafter:\n%s", err, res)
	}
	return res
}

// converge plans, applies and checks that nothing is left to do.
func (e *estate) converge(t *testing.T, now time.Time) Plan {
	t.Helper()
	p := e.plan(t, now)
	t.Logf("plan:\n%s", p)
	e.apply(t, p)
	if after := e.plan(t, now); !after.Empty() {
		t.Fatalf("plan after apply is not empty:\n%s", after)
	}
	return p
}

func (e *estate) admin(t *testing.T, name string) *node.Client {
	t.Helper()
	c, err := node.Open(context.Background(), e.ep.Admin(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// app opens name as the application account.
func (e *estate) app(t *testing.T, name string) *node.Client {
	t.Helper()
	ep := e.ep.Admin(name)
	ep.User, ep.Password = testCreds.App.User, testCreds.App.Password
	c, err := node.Open(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func exec(t *testing.T, c *node.Client, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := c.DB().Exec(s); err != nil {
			t.Fatalf("%s: %s: %v", c.Name(), s, err)
		}
	}
}

// waitReplicated waits until every node in replicas has applied what source
// has written so far.
func (e *estate) waitReplicated(t *testing.T, source string, replicas ...string) {
	t.Helper()
	ctx := context.Background()
	state, err := e.admin(t, source).GTIDState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas {
		ok, err := e.admin(t, r).WaitForGTID(ctx, state.Binlog, 30*time.Second)
		if err != nil || !ok {
			statuses, _ := e.admin(t, r).Replicas(ctx)
			t.Fatalf("%s did not reach %s of %s (err %v): %+v", r, state.Binlog, source, err, statuses)
		}
	}
}

func countRows(t *testing.T, c *node.Client, table string) int {
	t.Helper()
	var n int
	if err := c.DB().QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("%s: count %s: %v", c.Name(), table, err)
	}
	return n
}

func kinds(p Plan) map[string]int {
	k := map[string]int{}
	for _, c := range p.Changes {
		k[c.Node+" "+c.Kind]++
	}
	return k
}

const activePassiveRealYAML = `
name: ap-real
architecture: active-passive
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - name: eu-main
    kind: primary-replica
    region: eu
    nodes: [{name: eu-1, address: "127.0.0.1:%d"}, {name: eu-2, address: "127.0.0.1:%d"}]
  - {name: us-dr, kind: single, region: us, nodes: [{name: us-1, address: "127.0.0.1:%d"}]}
roles: {primary: eu, dr: us}
`

func TestApplyActivePassive(t *testing.T) {
	// eu-2 starts without log_slave_updates: the plan must ask for a restart.
	e := startEstate(t, activePassiveRealYAML, 3, map[string]map[string]string{"eu-2": {"log_slave_updates": "OFF"}})
	now := time.Now()

	p := e.plan(t, now)
	t.Logf("first plan:\n%s", p)
	want := map[string]int{
		"eu-1 create-user": 2, "eu-2 create-user": 2, "us-1 create-user": 2,
		"eu-2 setting": 1, "eu-2 create-channel": 1, "us-1 create-channel": 1,
	}
	if got := kinds(p); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first plan kinds %v, want %v", got, want)
	}
	res := e.apply(t, p)
	t.Logf("apply:\n%s", res)
	var restart *NodeResult
	for i := range res.Nodes {
		if len(res.Nodes[i].Restart) > 0 {
			restart = &res.Nodes[i]
		}
	}
	if restart == nil || restart.Node != "eu-2" || !strings.Contains(restart.Restart[0].Summary, "log_slave_updates = ON") ||
		!strings.Contains(restart.Fragment, "log_slave_updates = ON") {
		t.Fatalf("restart not reported for eu-2's log_slave_updates:\n%s", res)
	}
	if left := e.plan(t, now); len(left.Changes) != 1 || !left.Changes[0].NeedsRestart {
		t.Fatalf("after apply, want only the restart left:\n%s", left)
	}
	// Started with ServerSettings, nothing is left.
	e.restart(t, "eu-2", nil)
	if left := e.plan(t, now); !left.Empty() {
		t.Fatalf("after the restart:\n%s", left)
	}

	// The application writes on the primary; both replicas get it, with
	// REPLICATION SLAVE as the replication account's only privilege.
	app := e.app(t, "eu-1")
	exec(t, app, "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(20))",
		"INSERT INTO shop.orders VALUES (1, 'book'), (2, 'pen')")
	e.waitReplicated(t, "eu-1", "eu-2", "us-1")
	if n := countRows(t, e.admin(t, "us-1"), "shop.orders"); n != 2 {
		t.Fatalf("us-1 has %d orders, want 2", n)
	}
	// read_only refuses the application on a replica.
	_, err := e.app(t, "us-1").DB().Exec("INSERT INTO shop.orders VALUES (3, 'ink')")
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) || myErr.Number != 1290 {
		t.Fatalf("app write on read-only us-1: err %v, want error 1290 (read-only)", err)
	}

	// Drift: us-1's connection stopped and read_only off; eu-2 runs a
	// different parallel setup; the app account got SUPER on eu-1.
	exec(t, e.admin(t, "us-1"), "STOP SLAVE 'eu'", "SET GLOBAL read_only = OFF")
	exec(t, e.admin(t, "eu-2"), "STOP SLAVE 'eu'", "SET GLOBAL slave_parallel_threads = 2",
		"SET GLOBAL `eu`.slave_parallel_mode = 'conservative'", "START SLAVE 'eu'", "SET GLOBAL gtid_strict_mode = OFF")
	if err := e.admin(t, "eu-1").ExecLocal(context.Background(), "GRANT SUPER ON *.* TO 'app'@'%'"); err != nil {
		t.Fatal(err)
	}
	drift := e.converge(t, now)
	want = map[string]int{
		"eu-1 grant": 1, "eu-2 setting": 2, "eu-2 change-channel": 1, "us-1 read-only": 1, "us-1 start-channel": 1,
	}
	if got := kinds(drift); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("drift plan kinds %v, want %v:\n%s", got, want, drift)
	}
	exec(t, app, "INSERT INTO shop.orders VALUES (3, 'ink')")
	e.waitReplicated(t, "eu-1", "eu-2", "us-1")
	if n := countRows(t, e.admin(t, "us-1"), "shop.orders"); n != 3 {
		t.Fatalf("us-1 has %d orders, want 3", n)
	}
	var mode string
	if err := e.admin(t, "eu-2").DB().QueryRow("SELECT @@`eu`.slave_parallel_mode").Scan(&mode); err != nil || mode != "optimistic" {
		t.Fatalf("eu-2's connection mode %q (err %v), want optimistic", mode, err)
	}
}

const followTheSunRealYAML = `
name: fts-real
architecture: follow-the-sun
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - {name: eu-main, kind: single, region: eu, nodes: [{name: eu-1, address: "127.0.0.1:%d"}]}
  - {name: us-main, kind: single, region: us, nodes: [{name: us-1, address: "127.0.0.1:%d"}]}
schedule:
  - {region: eu, from: "00:00", to: "16:00"}
  - {region: us, from: "16:00", to: "24:00"}
`

const activeActiveRealYAML = `
name: aa-real
architecture: active-active
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - {name: eu-main, kind: single, region: eu, nodes: [{name: eu-1, address: "127.0.0.1:%d"}]}
  - {name: us-main, kind: single, region: us, nodes: [{name: us-1, address: "127.0.0.1:%d"}]}
`

// The primary moves from eu to us: eu-1 must not fetch its own transactions
// back from us-1. Then the same servers go active-active.
func TestApplyHandoverThenActiveActive(t *testing.T) {
	e := startEstate(t, followTheSunRealYAML, 2, nil)
	e.converge(t, noon)
	exec(t, e.app(t, "eu-1"), "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, region VARCHAR(4))",
		"INSERT INTO shop.orders VALUES (1, 'eu')")
	e.waitReplicated(t, "eu-1", "us-1")

	evening := time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC)
	handover := e.converge(t, evening)
	if !strings.Contains(handover.String(), "first add 1-101-") {
		t.Errorf("handover does not align eu-1's gtid_slave_pos:\n%s", handover)
	}
	exec(t, e.app(t, "us-1"), "INSERT INTO shop.orders VALUES (2, 'us')")
	e.waitReplicated(t, "us-1", "eu-1")
	assertRunning(t, e, "eu-1")

	// Same servers, now active-active: both write, nothing loops.
	ports := []any{e.ports["eu-1"], e.ports["us-1"]}
	e.topo = parseTopology(t, fmt.Sprintf(activeActiveRealYAML, ports...))
	e.converge(t, evening)
	exec(t, e.app(t, "eu-1"), "INSERT INTO shop.orders VALUES (3, 'eu')")
	exec(t, e.app(t, "us-1"), "INSERT INTO shop.orders VALUES (4, 'us')")
	e.waitReplicated(t, "eu-1", "us-1")
	e.waitReplicated(t, "us-1", "eu-1")
	for _, n := range []string{"eu-1", "us-1"} {
		if got := countRows(t, e.admin(t, n), "shop.orders"); got != 4 {
			t.Errorf("%s has %d orders, want 4", n, got)
		}
		assertRunning(t, e, n)
	}
}

func assertRunning(t *testing.T, e *estate, name string) {
	t.Helper()
	statuses, err := e.admin(t, name).Replicas(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if s.IORunning != "Yes" || !s.SQLRunning {
			t.Errorf("%s connection '%s': io %s sql %v: %s %s", name, s.Connection, s.IORunning, s.SQLRunning, s.LastIOError, s.LastSQLError)
		}
	}
}

const galeraRealYAML = `
name: galera-real
architecture: active-passive
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - name: eu-galera
    kind: galera
    region: eu
    nodes: [{name: eu-1, address: "127.0.0.1:%d"}, {name: eu-2, address: "127.0.0.1:%d"}]
  - {name: us-dr, kind: single, region: us, nodes: [{name: us-1, address: "127.0.0.1:%d"}]}
roles: {primary: eu, dr: us}
`

// A Galera region feeding a DR region: accounts stay local to each node
// (neither binlogged nor replicated by Galera), cluster transactions carry
// the same GTID on every Galera node, and the DR node follows the link node.
func TestApplyGalera(t *testing.T) {
	e := startEstate(t, galeraRealYAML, 3, nil)
	first := e.converge(t, noon)
	want := map[string]int{"eu-1 create-user": 2, "eu-2 create-user": 2, "us-1 create-user": 2, "us-1 create-channel": 1}
	if got := kinds(first); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first plan kinds %v, want %v", got, want)
	}
	ctx := context.Background()
	for _, n := range []string{"eu-1", "eu-2", "us-1"} {
		state, err := e.admin(t, n).GTIDState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(state.Binlog) != 0 {
			t.Errorf("%s binlogged account changes: gtid_binlog_pos %s", n, state.Binlog)
		}
	}
	// Both Galera nodes are writable; the DR node gets both writes.
	exec(t, e.app(t, "eu-2"), "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY)", "INSERT INTO shop.orders VALUES (1)")
	exec(t, e.app(t, "eu-1"), "INSERT INTO shop.orders VALUES (2)")
	e.waitReplicated(t, "eu-1", "us-1")
	if n := countRows(t, e.admin(t, "us-1"), "shop.orders"); n != 2 {
		t.Fatalf("us-1 has %d orders, want 2", n)
	}
	s1, err1 := e.admin(t, "eu-1").GTIDState(ctx)
	s2, err2 := e.admin(t, "eu-2").GTIDState(ctx)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if s1.Binlog.String() != s2.Binlog.String() || s1.Binlog.Seq(1) != 4 {
		t.Errorf("Galera binlogs differ or are not in domain 1: eu-1 %s, eu-2 %s", s1.Binlog, s2.Binlog)
	}
}
