package router_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClients runs real clients through the router of the active-passive
// sandbox — the mariadb command-line client, sysbench, Go's
// go-sql-driver/mysql with server-side prepared statements and Node's
// mysql2 — and checks, with the servers' own counters, that their reads
// ran on the replica eu-2 and their writes on the primary eu-1.
func TestClients(t *testing.T) {
	f := startFixture(t)
	t.Run("MariadbCLI", func(t *testing.T) { testMariadbCLI(t, f) })
	t.Run("Sysbench", func(t *testing.T) { testSysbench(t, f) })
	t.Run("GoDriverPrepared", func(t *testing.T) { testGoDriverPrepared(t, f) })
	t.Run("NodeMysql2", func(t *testing.T) { testNodeMysql2(t, f) })
}

// served is where statements ran between two readings of the counters.
type served struct {
	t             *testing.T
	before, after map[string]map[string]int64
}

// counted are the status counters served compares.
var counted = []string{"Com_select", "Com_insert", "Com_update", "Com_stmt_prepare", "Com_stmt_execute"}

// measure runs a client's work and returns what the servers counted.
//
// A replica counts the row events it applies from the binlog as
// statements too (Com_insert, Com_update), and not always once per
// transaction (its parallel applier may count a retried one again), so
// the replica eu-2 applies nothing while the work runs: whatever it counts
// then, the router sent it.
func (f *fixture) measure(t *testing.T, work func()) served {
	t.Helper()
	f.setApplier(t, "STOP")
	defer f.waitReplicated(t)
	defer f.setApplier(t, "START")
	before := f.counters(t, counted...)
	work()
	return served{t: t, before: before, after: f.counters(t, counted...)}
}

// setApplier stops or starts the SQL thread of eu-2's replication
// connection, named after the region it replicates from.
func (f *fixture) setApplier(t *testing.T, verb string) {
	t.Helper()
	if _, err := f.admin["eu-2"].Exec(verb + " SLAVE 'eu' SQL_THREAD"); err != nil {
		t.Fatalf("%s the applier of eu-2: %v", verb, err)
	}
}

func (s served) delta(node, counter string) int64 {
	return s.after[node][counter] - s.before[node][counter]
}

// atLeast checks that node counted at least n of counter.
func (s served) atLeast(node, counter string, n int64, what string) {
	s.t.Helper()
	if d := s.delta(node, counter); d < n {
		s.t.Errorf("%s counted %d %s, want at least %d: %s", node, d, counter, n, what)
	}
}

// wroteOnPrimaryOnly checks that at least n statements of a kind (counter
// Com_insert, Com_update) ran on the primary and none on the replica.
func (s served) wroteOnPrimaryOnly(counter string, n int64) {
	s.t.Helper()
	s.atLeast("eu-1", counter, n, "the client's writes")
	if d := s.delta("eu-2", counter); d != 0 {
		s.t.Errorf("the replica eu-2 ran %d of the client's writes (%s)", d, counter)
	}
}

// readOnReplica checks that at least n SELECT statements ran on the
// replica, and none in the other region.
func (s served) readOnReplica(n int64) {
	s.t.Helper()
	s.atLeast("eu-2", "Com_select", n, "the client's plain reads")
	if d := s.delta("us-1", "Com_select"); d != 0 {
		s.t.Errorf("us-1 (another region) ran %d of the client's reads", d)
	}
}

// routerAddr is the router's host and port, as separate arguments.
func (f *fixture) routerAddr(t *testing.T) (string, string) {
	host, port, err := net.SplitHostPort(f.svc.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// runTool runs a client program to completion (killed by its pid when it
// overruns) and returns its standard output. A missing program fails the
// test: the tools are part of the machine's setup (scripts/setup.sh).
func runTool(t *testing.T, stdin string, env []string, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required (scripts/setup.sh installs it): %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	t.Logf("%s %s: %s", name, strings.Join(args, " "), time.Since(started).Round(time.Millisecond))
	return stdout.String()
}

// secretFile writes a client's options (its password among them) into a
// private file of the test, so that no password shows on a command line.
func secretFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliWrites creates a table and writes to it, in and out of
// transactions; what reads the last write (LAST_INSERT_ID(), SHOW
// WARNINGS, a read inside the transaction) runs on the primary.
const cliWrites = `
CREATE TABLE cli_items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40));
INSERT INTO cli_items VALUES (1, 'one'), (2, 'two');
INSERT INTO cli_items (name) VALUES ('three');
SELECT LAST_INSERT_ID();
INSERT IGNORE INTO cli_items VALUES (1, 'again');
SHOW WARNINGS;
START TRANSACTION;
INSERT INTO cli_items VALUES (4, 'four');
SELECT name, (SELECT node FROM whoami) FROM cli_items WHERE id = 4;
COMMIT;
BEGIN;
INSERT INTO cli_items VALUES (5, 'five');
ROLLBACK;
`

// cliReads are plain reads (seven SELECTs, two of them in one
// multi-statement query) around session commands, all for the replica.
const cliReads = `
SELECT node FROM whoami;
SELECT COUNT(*) FROM cli_items;
SELECT GROUP_CONCAT(name ORDER BY id) FROM cli_items;
USE mysql;
SELECT DATABASE(), (SELECT node FROM meridian_test.whoami);
SET @x = 'cli';
SELECT @x, (SELECT node FROM meridian_test.whoami);
DELIMITER //
SELECT 'multi', 1; SELECT name FROM meridian_test.cli_items WHERE id = 2//
DELIMITER ;
`

func testMariadbCLI(t *testing.T, f *fixture) {
	host, port := f.routerAddr(t)
	defaults := secretFile(t, "client.cnf", fmt.Sprintf("[client]\nuser=%s\npassword=%s\n", f.app.User, f.app.Password))
	run := func(script string, args ...string) string {
		t.Helper()
		args = append([]string{"--defaults-file=" + defaults, "-h", host, "-P", port, "--batch", "--skip-column-names"}, args...)
		return strings.TrimSpace(runTool(t, script, nil, "mariadb", args...))
	}
	writes := f.measure(t, func() {
		want := "3\nWarning\t1062\tDuplicate entry '1' for key 'PRIMARY'\nfour\teu-1"
		if got := run(cliWrites, "meridian_test"); got != want {
			t.Errorf("mariadb, the writes script printed\n%s\nwant\n%s", got, want)
		}
	})
	writes.wroteOnPrimaryOnly("Com_insert", 5)
	reads := f.measure(t, func() {
		want := strings.Join([]string{"eu-2", "4", "one,two,three,four", "mysql\teu-2", "cli\teu-2", "multi\t1", "two"}, "\n")
		if got := run(cliReads, "meridian_test"); got != want {
			t.Errorf("mariadb, the reads script printed\n%s\nwant\n%s", got, want)
		}
	})
	reads.readOnReplica(7)
	if got := run("", "--ssl", "--skip-ssl-verify-server-cert", "-e", "status"); !strings.Contains(got, "Cipher in use") {
		t.Errorf("mariadb --ssl status shows no cipher:\n%s", got)
	}
}

// sysbenchReport matches the counts of sysbench's final report.
var sysbenchReport = regexp.MustCompile(`(?m)^\s+(read|write|transactions):\s+(\d+)`)

func testSysbench(t *testing.T, f *fixture) {
	host, port := f.routerAddr(t)
	// Any error fails the run. Rows are picked uniformly: sysbench's
	// default puts most accesses on 1% of them, where four threads
	// deadlock each other (error 1213) on MariaDB itself too.
	options := secretFile(t, "sysbench.cfg", strings.Join([]string{
		"db-driver=mysql", "mysql-host=" + host, "mysql-port=" + port,
		"mysql-user=" + f.app.User, "mysql-password=" + f.app.Password, "mysql-db=meridian_test",
		"tables=2", "table-size=1000", "threads=4", "rand-type=uniform", "mysql-ignore-errors=none", "",
	}, "\n"))
	sysbench := func(args ...string) map[string]int64 {
		t.Helper()
		out := runTool(t, "", nil, "sysbench", append([]string{"--config-file=" + options, "oltp_read_write"}, args...)...)
		counts := map[string]int64{}
		for _, m := range sysbenchReport.FindAllStringSubmatch(out, -1) {
			counts[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
		}
		return counts
	}
	prepared := f.measure(t, func() { sysbench("prepare") })
	prepared.wroteOnPrimaryOnly("Com_insert", 2)
	t.Cleanup(func() { sysbench("cleanup") })

	// In transactions (sysbench's default) every statement runs on the
	// primary: reads included.
	var report map[string]int64
	inTx := f.measure(t, func() { report = sysbench("run", "--time=3") })
	if report["transactions"] == 0 || report["read"] == 0 {
		t.Fatalf("sysbench run: %v, want transactions and reads", report)
	}
	t.Logf("sysbench oltp_read_write in transactions: %v", report)
	inTx.wroteOnPrimaryOnly("Com_insert", report["transactions"])
	inTx.atLeast("eu-1", "Com_select", report["read"], "reads inside transactions")

	// Without transactions the reads go to the replica; this run speaks
	// the text protocol. The writes are updates alone: DELETE then INSERT
	// of one id by two threads at once collide (error 1062) without a
	// transaction, on MariaDB itself too.
	autocommit := f.measure(t, func() {
		report = sysbench("run", "--time=2", "--skip_trx=on", "--delete_inserts=0", "--db-ps-mode=disable")
	})
	if report["transactions"] == 0 || report["read"] == 0 || report["write"] == 0 {
		t.Fatalf("sysbench run --skip_trx=on: %v, want transactions, reads and writes", report)
	}
	t.Logf("sysbench oltp_read_write in autocommit: %v", report)
	autocommit.wroteOnPrimaryOnly("Com_update", report["write"])
	autocommit.readOnReplica(report["read"])
}

// goRow is a row of go_items, every column a different parameter type.
type goRow struct {
	id    int64
	name  string
	note  *string // NULL for odd ids
	body  []byte
	made  time.Time
	price float64
}

func goRowOf(id int64) goRow {
	r := goRow{id: id, name: fmt.Sprintf("go %d", id), body: []byte{0, byte(id), 0xff, '\''},
		made: time.Date(2024, 2, 29, 23, 59, 58, int(id)*1000, time.UTC), price: float64(id) / 4}
	if id%2 == 0 {
		note := fmt.Sprintf("even %d", id)
		r.note = &note
	}
	return r
}

func (r goRow) String() string {
	note := "NULL"
	if r.note != nil {
		note = *r.note
	}
	return fmt.Sprintf("%d %q %s %x %s %g", r.id, r.name, note, r.body, r.made.Format(time.RFC3339Nano), r.price)
}

func testGoDriverPrepared(t *testing.T, f *fixture) {
	const rows = 50
	cfg := f.appConfig()
	cfg.ParseTime = true
	db := openDB(t, cfg)
	// One connection: a statement prepared once serves every execution.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE go_items (id BIGINT PRIMARY KEY, name VARCHAR(40), note VARCHAR(40) NULL, body BLOB, made DATETIME(6), price DOUBLE)"); err != nil {
		t.Fatal(err)
	}
	const insertSQL = "INSERT INTO go_items VALUES (?, ?, ?, ?, ?, ?)"
	const selectSQL = "SELECT id, name, note, body, made, price FROM go_items WHERE id = ?"
	scan := func(row interface{ Scan(...any) error }) goRow {
		t.Helper()
		var r goRow
		if err := row.Scan(&r.id, &r.name, &r.note, &r.body, &r.made, &r.price); err != nil {
			t.Fatalf("%s: %v", selectSQL, err)
		}
		return r
	}

	writes := f.measure(t, func() {
		insert, err := db.Prepare(insertSQL)
		if err != nil {
			t.Fatal(err)
		}
		defer insert.Close()
		for id := int64(1); id <= rows; id++ {
			r := goRowOf(id)
			if _, err := insert.Exec(r.id, r.name, r.note, r.body, r.made, r.price); err != nil {
				t.Fatalf("insert %d: %v", id, err)
			}
		}
		// A transaction's prepared statements run on the primary, which
		// shows them its own uncommitted write.
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		r := goRowOf(rows + 1)
		if _, err := tx.Stmt(insert).Exec(r.id, r.name, r.note, r.body, r.made, r.price); err != nil {
			t.Fatalf("insert in a transaction: %v", err)
		}
		inTx, err := tx.Prepare(selectSQL + " FOR UPDATE")
		if err != nil {
			t.Fatal(err)
		}
		if got := scan(inTx.QueryRow(r.id)); got.String() != r.String() {
			t.Errorf("read in the transaction:\n%s\nwant\n%s", got, r)
		}
		var node string
		if err := tx.QueryRow("SELECT node FROM whoami WHERE node <> ?", "").Scan(&node); err != nil || node != "eu-1" {
			t.Errorf("a prepared read in a transaction ran on %q (%v), want eu-1", node, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	})
	writes.wroteOnPrimaryOnly("Com_insert", rows+1)
	writes.atLeast("eu-1", "Com_stmt_execute", rows+1, "the prepared inserts")

	reads := f.measure(t, func() {
		read, err := db.Prepare(selectSQL)
		if err != nil {
			t.Fatal(err)
		}
		defer read.Close()
		for pass := range 2 {
			for id := int64(1); id <= rows+1; id++ {
				if got, want := scan(read.QueryRow(id)), goRowOf(id); got.String() != want.String() {
					t.Fatalf("pass %d, row %d:\n%s\nwant\n%s", pass, id, got, want)
				}
			}
		}
		var missing goRow
		if err := read.QueryRow(int64(-1)).Scan(&missing.id); err == nil {
			t.Errorf("a missing row was found")
		}
	})
	reads.readOnReplica(2*(rows+1) + 1)
	reads.atLeast("eu-2", "Com_stmt_execute", 2*(rows+1)+1, "the prepared reads")
	if d := reads.delta("eu-2", "Com_stmt_prepare"); d != 1 {
		t.Errorf("eu-2 prepared the reused statement %d times, want once", d)
	}
}

// nodeDir holds the mysql2 client script and its pinned dependencies.
const nodeDir = "testdata/node"

func testNodeMysql2(t *testing.T, f *fixture) {
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "mysql2")); err != nil {
		t.Fatalf("mysql2 is not installed in internal/router/%s: run scripts/setup.sh (or npm ci --prefix internal/router/%s): %v", nodeDir, nodeDir, err)
	}
	host, port := f.routerAddr(t)
	env := []string{"MERIDIAN_HOST=" + host, "MERIDIAN_PORT=" + port, "MERIDIAN_USER=" + f.app.User,
		"MERIDIAN_PASSWORD=" + f.app.Password, "MERIDIAN_DB=meridian_test"}
	client := func(phase string) map[string]json.RawMessage {
		t.Helper()
		out := runTool(t, "", env, "node", filepath.Join(nodeDir, "client.js"), phase)
		results := map[string]json.RawMessage{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if err := json.Unmarshal([]byte(line), &results); err != nil {
				t.Fatalf("mysql2 client printed %q: %v", line, err)
			}
		}
		return results
	}
	expect := func(results map[string]json.RawMessage, want map[string]string) {
		t.Helper()
		for label, value := range want {
			if got := string(results[label]); got != value {
				t.Errorf("mysql2 %s: %s, want %s", label, got, value)
			}
		}
	}
	var results map[string]json.RawMessage
	writes := f.measure(t, func() { results = client("write") })
	expect(results, map[string]string{"updated": "2", "own write": `"in a transaction"`})
	writes.wroteOnPrimaryOnly("Com_insert", 11)
	writes.atLeast("eu-1", "Com_stmt_execute", 11, "the executed inserts")

	reads := f.measure(t, func() { results = client("read") })
	expect(results, map[string]string{
		"row 3":                `{"price":null,"made":"2024-01-03T12:00:00.000Z","body":[0,3,255]}`,
		"names":                `["node 1!","node 2!","node 3","node 4","node 5","node 6","node 7","node 8","node 9","node 10"]`,
		"count":                "11",
		"read from":            `"eu-2"`,
		"user variable":        `{"x":42,"text":"a string"}`,
		"multi-statement":      `[{"a":1},{"name":"in a transaction"}]`,
		"transaction on, then": `["eu-1","eu-2"]`,
		"parse error":          "1064",
		"after reset":          `{"x":null}`,
		"rows":                 "[5000,12502500]",
		"after change user":    `{"x":null,"db":"mysql","node":"eu-2"}`,
		"tls read from":        `"eu-2"`,
	})
	// Ten executions of one read, a count, whoami, @x, a two-statement
	// query, whoami after the transaction, the sequence, @x after the reset,
	// after the change of user and over TLS.
	reads.readOnReplica(10 + 1 + 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1)
	reads.atLeast("eu-2", "Com_stmt_execute", 15, "the executed reads")
}
