package mariadbd

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// binaries fails (never skips) the test when MariaDB is not installed.
func binaries(t *testing.T) Binaries {
	t.Helper()
	b, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// baseDir is a test directory the mysql user can reach.
func baseDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := GrantTraversal(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startNode(t *testing.T, b Binaries, cfg Config) *Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	begin := time.Now()
	inst, err := Start(ctx, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s ready in %v (pid %d)", cfg.Name, time.Since(begin).Round(time.Millisecond), inst.Pid())
	t.Cleanup(func() {
		if err := inst.Stop(30 * time.Second); err != nil {
			t.Errorf("stop %s: %v", cfg.Name, err)
		}
	})
	return inst
}

func openRoot(t *testing.T, inst *Instance) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", RootDSN(inst.Socket()))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(0) // no pooled connection may outlive a server restart
	t.Cleanup(func() { db.Close() })
	return db
}

func ports(t *testing.T, n int) []int {
	t.Helper()
	p, err := FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func assertGone(t *testing.T, inst *Instance) {
	t.Helper()
	select {
	case <-inst.Exited():
	default:
		t.Fatalf("pid %d: Exited not closed", inst.Pid())
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", inst.Pid())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid %d still in /proc (err %v)", inst.Pid(), err)
	}
}

func TestStandaloneRestartKeepsDataAndStops(t *testing.T) {
	b := binaries(t)
	cfg := Config{Name: "solo", Dir: filepath.Join(baseDir(t), "solo"), Port: ports(t, 1)[0],
		Settings: map[string]string{"server_id": "7"}}
	ctx := context.Background()

	first := startNode(t, b, cfg)
	db := openRoot(t, first)
	var id int
	if err := db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil || id != 7 {
		t.Fatalf("server_id = %d, %v; want 7 from Settings", id, err)
	}
	for _, stmt := range []string{
		"CREATE DATABASE kept",
		"CREATE TABLE kept.t (id INT PRIMARY KEY)",
		"INSERT INTO kept.t VALUES (42)",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	begin := time.Now()
	if err := first.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v", time.Since(begin).Round(time.Millisecond))
	assertGone(t, first)

	second := startNode(t, b, cfg)
	var got int
	if err := openRoot(t, second).QueryRowContext(ctx, "SELECT id FROM kept.t").Scan(&got); err != nil || got != 42 {
		t.Fatalf("after restart: id = %d, %v; want 42", got, err)
	}
	if err := second.Kill(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, second)
}

func TestStartFailureReportsErrorLog(t *testing.T) {
	b := binaries(t)
	cfg := Config{Name: "broken", Dir: filepath.Join(baseDir(t), "broken"), Port: ports(t, 1)[0],
		Settings: map[string]string{"no_such_option": "1"}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inst, err := Start(ctx, b, cfg)
	if err == nil {
		inst.Kill()
		t.Fatal("Start succeeded with an unknown option")
	}
	if !strings.Contains(err.Error(), "no_such_option") || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("error should say the server exited and quote error.log, got: %v", err)
	}
}

func TestStopRecordedStopsOnlyVerifiedServers(t *testing.T) {
	b := binaries(t)
	root := baseDir(t)
	inst, err := Start(context.Background(), b, Config{Name: "orphan", Dir: filepath.Join(root, "orphan"), Port: ports(t, 1)[0]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Kill() })

	// A pid file naming a live process that is not that node's server.
	decoy := exec.Command("sleep", "60")
	if err := decoy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { decoy.Process.Kill(); decoy.Wait() })
	fake := filepath.Join(root, "fake")
	if err := os.MkdirAll(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pidPath(fake), fmt.Appendf(nil, "%d\n", decoy.Process.Pid), 0o644); err != nil {
		t.Fatal(err)
	}

	pids, err := StopRecorded(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pids, []int{inst.Pid()}) {
		t.Fatalf("StopRecorded = %v, want [%d]", pids, inst.Pid())
	}
	select {
	case <-inst.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("server still running after StopRecorded")
	}
	assertGone(t, inst)
	if !alive(decoy.Process.Pid) {
		t.Fatal("StopRecorded signalled a process that is not the node's server")
	}
}

// ownerDirEnv makes the test binary act as a server owner that the test kills.
const ownerDirEnv = "MERIDIAN_TEST_OWNER_DIR"

func TestOwnerDeathStopsServer(t *testing.T) {
	if dir := os.Getenv(ownerDirEnv); dir != "" {
		port, _ := strconv.Atoi(os.Getenv(ownerDirEnv + "_PORT"))
		inst, err := Start(context.Background(), binaries(t), Config{Name: "owned", Dir: dir, Port: port})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(inst.Pid())
		select {} // until killed
	}
	binaries(t) // fail here, not in the child, when MariaDB is missing
	dir := filepath.Join(baseDir(t), "owned")
	t.Cleanup(func() { StopRecorded(dir) }) // should the parent-death signal fail
	owner := exec.Command(os.Args[0], "-test.run=^TestOwnerDeathStopsServer$")
	owner.Env = append(os.Environ(), ownerDirEnv+"="+dir, fmt.Sprintf("%s_PORT=%d", ownerDirEnv, ports(t, 1)[0]))
	out, err := owner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		owner.Process.Kill()
		owner.Wait()
		t.Fatalf("owner did not report a server pid: %v", err)
	}
	if !cmdlineMentions(pid, cnfPath(dir)) {
		t.Fatalf("pid %d is not the owned server", pid)
	}
	if err := owner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	owner.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("server pid %d survived its owner", pid)
		}
		time.Sleep(pollInterval)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	got := ports(t, 20)
	low, high := reservedRange()
	seen := map[int]bool{}
	for _, p := range got {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: bad or repeated %d", got, p)
		}
		if high > low && (p < low || p >= high) {
			t.Errorf("port %d outside [%d, %d): the kernel may hand it to another socket before mariadbd binds it", p, low, high)
		}
		seen[p] = true
	}
}

func TestGaleraThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node Galera cluster takes ~30 s")
	}
	b := binaries(t)
	root := baseDir(t)
	p := ports(t, 12)
	var members []string
	for n := range 3 {
		members = append(members, fmt.Sprintf("127.0.0.1:%d", p[n*4+1]))
	}
	begin := time.Now()
	var nodes []*Instance
	var configs []Config
	for n := range 3 {
		name := fmt.Sprintf("g%d", n+1)
		configs = append(configs, Config{
			Name: name, Dir: filepath.Join(root, name), Port: p[n*4],
			Galera: &Galera{
				ClusterName: "meridian-test", Bootstrap: n == 0, Members: members,
				GCommPort: p[n*4+1], ISTPort: p[n*4+2], SSTPort: p[n*4+3],
			},
		})
		nodes = append(nodes, startNode(t, b, configs[n]))
	}
	t.Logf("3-node cluster synced in %v", time.Since(begin).Round(time.Millisecond))

	ctx := context.Background()
	first := openRoot(t, nodes[0])
	var name string
	var size int
	if err := openRoot(t, nodes[2]).QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'").Scan(&name, &size); err != nil || size != 3 {
		t.Fatalf("wsrep_cluster_size = %d, %v; want 3", size, err)
	}
	for _, stmt := range []string{
		"CREATE DATABASE geo",
		"CREATE TABLE geo.t (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO geo.t VALUES (1, 'hello')",
	} {
		if _, err := first.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("node 1: %s: %v", stmt, err)
		}
	}
	// wsrep_sync_wait makes the read wait until node 3 has applied everything
	// committed in the cluster before it.
	readOnThird := func() {
		t.Helper()
		conn, err := openRoot(t, nodes[2]).Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SET SESSION wsrep_sync_wait = 1"); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := conn.QueryRowContext(ctx, "SELECT v FROM geo.t WHERE id = 1").Scan(&v); err != nil || v != "hello" {
			t.Fatalf("node 3 read %q, %v; want hello", v, err)
		}
	}
	readOnThird()

	// A fully stopped cluster restarts from its most advanced node; the others
	// rejoin one at a time. Every membership change takes a seqno, so the last node
	// stopped is the most advanced.
	for n := 2; n >= 0; n-- {
		if err := nodes[n].Stop(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	best, bestSeqno := -1, int64(-1)
	for n, node := range nodes {
		seqno, err := GrastateSeqno(node.Dir())
		if err != nil {
			t.Fatal(err)
		}
		if seqno > bestSeqno {
			best, bestSeqno = n, seqno
		}
	}
	if best != 0 || bestSeqno < 3 {
		t.Fatalf("most advanced node = g%d at seqno %d; want g1 (stopped last) at >= 3", best+1, bestSeqno)
	}
	if err := MarkSafeToBootstrap(nodes[best].Dir()); err != nil {
		t.Fatal(err)
	}
	begin = time.Now()
	restart := func(n int, bootstrap bool) {
		g := *configs[n].Galera
		g.Bootstrap = bootstrap
		cfg := configs[n]
		cfg.Galera = &g
		nodes[n] = startNode(t, b, cfg)
	}
	restart(0, true)
	restart(2, false)
	t.Logf("2 of 3 nodes restarted in %v", time.Since(begin).Round(time.Millisecond))
	readOnThird()
}
