package sandbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/checker"
	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
	"github.com/meridian-geo/meridian/internal/topology"
)

// appDB connects to a node directly as the application account.
func appDB(t *testing.T, sb *sandbox.Sandbox, name string) *sql.DB {
	t.Helper()
	info, err := sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	n, ok := info.Node(name)
	if !ok {
		t.Fatalf("no node %s", name)
	}
	db := openApp(t, info, n.Host, n.Port)
	db.SetMaxOpenConns(2)
	return db
}

// openApp connects to host:port as the application account.
func openApp(t *testing.T, info *sandbox.Info, host string, port int) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = info.Credentials.User, info.Credentials.Password
	cfg.Net, cfg.Addr = "tcp", fmt.Sprintf("%s:%d", host, port)
	cfg.Timeout, cfg.ReadTimeout = 3*time.Second, 10*time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

// write inserts one row into the region's own table through a pinned
// connection and returns the GTID MariaDB gave the transaction.
func write(t *testing.T, db *sql.DB, table string, id int) gtid.GTID {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// On a Galera node a replicated DDL (the other regions' CREATE TABLE,
	// applied in total order) may abort the insert with a deadlock error:
	// Galera's answer that the client should try again, as any client would.
	insert := fmt.Sprintf("INSERT INTO meridian_test.%s (id, note) VALUES (?, 'hello')", table)
	for attempt := 1; ; attempt++ {
		_, err = conn.ExecContext(ctx, insert, id)
		var me *mysql.MySQLError
		if err == nil || !errors.As(err, &me) || me.Number != 1213 || attempt == 5 {
			break
		}
	}
	if err != nil {
		t.Fatalf("insert into %s: %v", table, err)
	}
	var last string
	if err := conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&last); err != nil {
		t.Fatal(err)
	}
	g, err := gtid.ParseGTID(last)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// waitLogged waits until a node's binlog holds g. Unlike MASTER_GTID_WAIT,
// which follows gtid_slave_pos, it also works on the node that wrote g, and
// it proves the transaction kept its origin domain in that node's binlog.
func waitLogged(ctx context.Context, c *node.Client, g gtid.GTID, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		state, err := c.GTIDState(ctx)
		if err != nil {
			return false, err
		}
		if state.Binlog.Contains(gtid.Position{g.Domain: g}) {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRows polls a table's row count until it reaches want: MariaDB adds a
// GTID to gtid_binlog_pos when it writes the binlog, a moment before the
// engine commit makes the rows visible, so a logged GTID can precede its rows.
func waitRows(ctx context.Context, c *node.Client, table string, want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		var count int
		err := c.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&count)
		if err != nil || count == want || time.Now().After(deadline) {
			return count, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestArchitectures(t *testing.T) {
	for _, example := range []string{"active-passive.yaml", "active-active.yaml", "hub-and-spoke.yaml", "follow-the-sun.yaml"} {
		t.Run(strings.TrimSuffix(example, ".yaml"), func(t *testing.T) {
			checkArchitecture(t, sandboxtest.Up(t, example))
		})
	}
}

func TestEcommerceNineGaleraNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("nine Galera nodes take about a minute")
	}
	sb := sandboxtest.Up(t, "ecommerce.yaml")
	for _, r := range sb.Topology().Regions {
		c := sandboxtest.Admin(t, sb, sb.Topology().LinkNode(r.Name))
		status, err := c.WsrepStatus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if status["wsrep_cluster_size"] != "3" {
			t.Errorf("region %s: wsrep_cluster_size = %q, want 3", r.Name, status["wsrep_cluster_size"])
		}
	}
	checkArchitecture(t, sb)
}

// checkArchitecture writes in every writable region and checks the layout
// the architecture promises: every row reaches every node, each transaction
// keeps its origin region's GTID domain everywhere, read-only regions refuse
// the application, every replication thread runs and plan finds nothing to do.
func checkArchitecture(t *testing.T, sb *sandbox.Sandbox) {
	ctx := context.Background()
	topo := sb.Topology()
	now := time.Now()
	layout := topo.Layout(now)

	type written struct {
		region, table string
		gtid          gtid.GTID
	}
	var writes []written
	for i, region := range topo.WritableRegions(now) {
		db := appDB(t, sb, topo.LinkNode(region))
		table := "t_" + strings.ReplaceAll(region, "-", "_")
		for _, stmt := range []string{
			"CREATE DATABASE IF NOT EXISTS meridian_test",
			fmt.Sprintf("CREATE TABLE meridian_test.%s (id INT PRIMARY KEY, note VARCHAR(20))", table),
		} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("region %s: %s: %v", region, stmt, err)
			}
		}
		g := write(t, db, table, i+1)
		r, _ := topo.Region(region)
		if g.Domain != r.GTIDDomainID {
			t.Errorf("write in region %s got GTID %s: domain %d, want the region's domain %d", region, g, g.Domain, r.GTIDDomainID)
		}
		writes = append(writes, written{region, table, g})
	}
	if len(writes) == 0 {
		t.Fatal("the topology has no writable region")
	}

	for _, n := range topo.Nodes() {
		c := sandboxtest.Admin(t, sb, n.Name)
		for _, w := range writes {
			ok, err := waitLogged(ctx, c, w.gtid, 15*time.Second)
			if err != nil || !ok {
				t.Errorf("node %s did not apply %s (written in %s): ok=%v err=%v", n.Name, w.gtid, w.region, ok, err)
				continue
			}
			if count, err := waitRows(ctx, c, "meridian_test."+w.table, 1, 5*time.Second); err != nil || count != 1 {
				t.Errorf("node %s: %s has %d rows (err %v), want 1", n.Name, w.table, count, err)
			}
		}
		if !layout.Writable[n.Name] {
			_, err := appDB(t, sb, n.Name).ExecContext(ctx, "INSERT INTO meridian_test."+writes[0].table+" (id, note) VALUES (1000, 'nope')")
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1290 {
				t.Errorf("node %s is read-only by the layout, but an app write gave %v, want error 1290 (read-only)", n.Name, err)
			}
		}

		replicas, err := c.Replicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, r := range replicas {
			got = append(got, r.Connection)
			if r.IORunning != "Yes" || !r.SQLRunning {
				t.Errorf("node %s connection '%s': io=%s sql=%v: %s %s", n.Name, r.Connection, r.IORunning, r.SQLRunning, r.LastIOError, r.LastSQLError)
			}
			if r.UsingGTID != "Slave_Pos" {
				t.Errorf("node %s connection '%s' uses GTID mode %q, want Slave_Pos", n.Name, r.Connection, r.UsingGTID)
			}
		}
		for _, ch := range layout.Channels {
			if ch.Replica == n.Name {
				want = append(want, ch.Connection)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("node %s has replication connections %v, the layout wants %v", n.Name, got, want)
		}
	}

	assertConverged(t, sb)
	assertOneDifference(t, sb, writes[0].table)
}

// assertOneDifference runs the consistency checker on the estate, from the
// controller's region, after a row was added to one node alone (the last,
// outside the binary log): that row, and nothing else, differs.
func assertOneDifference(t *testing.T, sb *sandbox.Sandbox, table string) {
	t.Helper()
	ctx := context.Background()
	topo := sb.Topology()
	nodes := topo.Nodes()
	lone := sandboxtest.Admin(t, sb, nodes[len(nodes)-1].Name)
	insert := fmt.Sprintf("INSERT INTO meridian_test.%s (id, note) VALUES (999, 'only here')", table)
	if err := lone.ExecLocal(ctx, insert); err != nil {
		t.Fatal(err)
	}
	info, err := sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	region := topo.ControllerRegion(time.Now())
	report, err := checker.Run(ctx, checker.Options{
		Topology: topo, Endpoints: sandbox.EndpointsFrom(info, topo, sb.Credentials(), region), Region: region,
		Tables: []string{"meridian_test"}, Logger: sandboxtest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Differences) != 1 || report.Differences[0].Key["id"].Text != "999" || report.ExitCode() != checker.ExitDiffers {
		t.Errorf("check after a row was added to %s alone:\n%s", nodes[len(nodes)-1].Name, report)
	}
	if err := lone.ExecLocal(ctx, fmt.Sprintf("DELETE FROM meridian_test.%s WHERE id = 999", table)); err != nil {
		t.Fatal(err)
	}
}

func assertConverged(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	ctx := context.Background()
	info, err := sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	ep := sandbox.Endpoints(info, sb.Topology(), sb.Credentials())
	observed, err := provision.Observe(ctx, sb.Topology(), ep, sb.Credentials())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := provision.Diff(sb.Topology(), time.Now(), ep, sb.Credentials(), observed)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Empty() {
		t.Errorf("plan on the converged sandbox is not empty:\n%s", plan)
	}
}

// TestWANLinks proves the declared RTT is really applied to replication and
// that a partition stops it until healed.
func TestWANLinks(t *testing.T) {
	sb := sandboxtest.Up(t, "active-passive.yaml")
	ctx := context.Background()
	topo := sb.Topology()
	primary, dr := topo.Roles.Primary, topo.Roles.DR
	if rtt := topo.RTT(primary, dr); rtt != 80*time.Millisecond {
		t.Fatalf("example declares %s between %s and %s, this test expects 80ms", rtt, primary, dr)
	}
	db := appDB(t, sb, topo.LinkNode(primary))
	for _, stmt := range []string{"CREATE DATABASE IF NOT EXISTS meridian_test", "CREATE TABLE meridian_test.t_wan (id INT PRIMARY KEY, note VARCHAR(20))"} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	replica := sandboxtest.Admin(t, sb, topo.LinkNode(dr))
	nextID := 0
	// delay is the median time from commit on the primary to apply on the DR replica.
	delay := func() time.Duration {
		var samples []time.Duration
		for range 9 {
			nextID++
			start := time.Now()
			g := write(t, db, "t_wan", nextID)
			ok, err := replica.WaitForGTID(ctx, gtid.Position{g.Domain: g}, 10*time.Second)
			if err != nil || !ok {
				t.Fatalf("replica did not apply %s: %v", g, err)
			}
			samples = append(samples, time.Since(start))
		}
		sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
		return samples[len(samples)/2]
	}
	slow := delay()
	if err := sb.SetLatency(primary, dr, 0); err != nil {
		t.Fatal(err)
	}
	fast := delay()
	t.Logf("commit-to-apply median: %s with 80ms RTT, %s with 0ms", slow, fast)
	if slow-fast < 30*time.Millisecond || slow > fast+150*time.Millisecond {
		t.Errorf("an 80ms RTT link should add about 40ms one way: got %s vs %s", slow, fast)
	}
	if err := sb.SetLatency(primary, dr, 80*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	if err := sb.Partition(primary, dr); err != nil {
		t.Fatal(err)
	}
	nextID++
	g := write(t, db, "t_wan", nextID)
	if ok, err := replica.WaitForGTID(ctx, gtid.Position{g.Domain: g}, 2*time.Second); err != nil || ok {
		t.Fatalf("%s crossed a partitioned link (ok=%v err=%v)", g, ok, err)
	}
	if err := sb.Heal(primary, dr); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	if ok, err := replica.WaitForGTID(ctx, gtid.Position{g.Domain: g}, 30*time.Second); err != nil || !ok {
		t.Fatalf("%s did not arrive after heal (ok=%v err=%v)", g, ok, err)
	}
	t.Logf("replication resumed %s after heal", time.Since(healed).Round(time.Millisecond))
}

// TestRestartKeepsData stops a sandbox and starts it again on the same
// directory without --fresh: data, accounts, ports and replication survive.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	start := func() *sandbox.Sandbox {
		return sandboxtest.Up(t, "active-passive.yaml", func(o *sandbox.Options) { o.Dir, o.Fresh = dir, false })
	}
	first := start()
	topo := first.Topology()
	primary := topo.LinkNode(topo.Roles.Primary)
	db := appDB(t, first, primary)
	for _, stmt := range []string{"CREATE DATABASE meridian_test", "CREATE TABLE meridian_test.t_keep (id INT PRIMARY KEY, note VARCHAR(20))"} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	g := write(t, db, "t_keep", 1)
	firstInfo, _ := first.Info()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := start()
	secondInfo, _ := second.Info()
	for _, n := range firstInfo.Nodes {
		if m, _ := secondInfo.Node(n.Name); m.Port != n.Port {
			t.Errorf("node %s moved from port %d to %d across a restart", n.Name, n.Port, m.Port)
		}
	}
	dr := sandboxtest.Admin(t, second, topo.LinkNode(topo.Roles.DR))
	if ok, err := waitLogged(ctx, dr, g, 10*time.Second); err != nil || !ok {
		t.Fatalf("DR lost %s across a restart (ok=%v err=%v)", g, ok, err)
	}
	g2 := write(t, appDB(t, second, primary), "t_keep", 2)
	if ok, err := waitLogged(ctx, dr, g2, 10*time.Second); err != nil || !ok {
		t.Fatalf("replication did not resume after a restart: %s missing (ok=%v err=%v)", g2, ok, err)
	}
	assertConverged(t, second)
}

// TestTLSReplication runs the active-passive example with TLS asked for on
// its links: the sandbox generates loopback certificates and every
// replication connection verifies the server it connects to.
func TestTLSReplication(t *testing.T) {
	sb := sandboxtest.Up(t, "active-passive.yaml", func(o *sandbox.Options) {
		o.Topology.Replication.TLS = &topology.TLS{VerifyServerCert: true}
	})
	topo := sb.Topology()
	ctx := context.Background()
	db := appDB(t, sb, topo.LinkNode(topo.Roles.Primary))
	for _, stmt := range []string{"CREATE DATABASE meridian_test", "CREATE TABLE meridian_test.t_tls (id INT PRIMARY KEY, note VARCHAR(20))"} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	g := write(t, db, "t_tls", 1)
	dr := sandboxtest.Admin(t, sb, topo.LinkNode(topo.Roles.DR))
	if ok, err := waitLogged(ctx, dr, g, 10*time.Second); err != nil || !ok {
		t.Fatalf("%s did not replicate over TLS (ok=%v err=%v)", g, ok, err)
	}
	replicas, err := dr.Replicas(ctx)
	if err != nil || len(replicas) != 1 {
		t.Fatalf("replicas: %v %v", replicas, err)
	}
	if r := replicas[0]; !r.SSL || !r.SSLVerifyServerCert || r.SSLCA == "" {
		t.Errorf("DR connection is not verified TLS: ssl=%v verify=%v ca=%q", r.SSL, r.SSLVerifyServerCert, r.SSLCA)
	}
	assertConverged(t, sb)
}

// TestRestartKeepsRuntimePrimaries restarts a sandbox whose controller had
// moved eu-main's primary to eu-2: the restart lays out the saved
// primaries, not the file's, so eu-1 does not come back writable beside
// eu-2.
func TestRestartKeepsRuntimePrimaries(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	start := func() *sandbox.Sandbox {
		return sandboxtest.Up(t, "active-passive.yaml", func(o *sandbox.Options) { o.Dir, o.Fresh = dir, false })
	}
	if err := start().Close(); err != nil {
		t.Fatal(err)
	}
	state := `{"primaries": {"nodes": {"eu-main": "eu-2"}}}`
	if err := os.WriteFile(filepath.Join(dir, sandbox.ControllerStateFile), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	sb := start()
	for name, want := range map[string]bool{"eu-1": true, "eu-2": false, "us-1": true} {
		if on, err := sandboxtest.Admin(t, sb, name).ReadOnly(ctx); err != nil || on != want {
			t.Errorf("%s read_only = %v (%v), want %v", name, on, err, want)
		}
	}
	db := appDB(t, sb, "eu-2")
	for _, stmt := range []string{"CREATE DATABASE meridian_test", "CREATE TABLE meridian_test.t_moved (id INT PRIMARY KEY, note VARCHAR(20))"} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	g := write(t, db, "t_moved", 1)
	for _, name := range []string{"eu-1", "us-1"} {
		if ok, err := waitLogged(ctx, sandboxtest.Admin(t, sb, name), g, 10*time.Second); err != nil || !ok {
			t.Errorf("%s did not replicate %s from the saved primary eu-2 (ok=%v err=%v)", name, g, ok, err)
		}
	}
}

// TestSavedPrimaryUnknownNode refuses a state file naming a node its
// cluster does not have, naming the file and field, before any server starts.
func TestSavedPrimaryUnknownNode(t *testing.T) {
	topo, _, err := estate.LoadTopology("examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, sandbox.ControllerStateFile)
	if err := os.WriteFile(state, []byte(`{"primaries": {"nodes": {"eu-main": "us-1"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.Up(context.Background(), sandbox.Options{Topology: topo, Dir: dir, Logger: sandboxtest.Logger(t)})
	if err == nil {
		sb.Close()
		t.Fatal("sandbox started with a saved primary outside its cluster")
	}
	if !strings.Contains(err.Error(), state) || !strings.Contains(err.Error(), "primaries.nodes.eu-main") {
		t.Errorf("error does not name the file and field: %v", err)
	}
}
