package router_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/meridian-geo/meridian/internal/router"
)

// testDiff compares eu-1 (main) with us-1 (other, across the 80 ms link):
// no mismatch while they agree, one counted per execution once a row is
// planted on us-1 alone, writes skipped.
func testDiff(t *testing.T, f *fixture) {
	for _, stmt := range []string{"CREATE TABLE meridian_test.diffs (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO meridian_test.diffs VALUES (1, 'one'), (2, 'two'), (3, 'three')"} {
		if _, err := f.admin["eu-1"].Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	f.waitReplicated(t, "us-1")
	svc := f.startService(t, router.ServiceConfig{Name: "eu-diff", Kind: router.Diff, DiffMain: "eu-1", DiffOther: "us-1"}, f.base)
	cfg := f.appConfig()
	cfg.Addr = svc.Addr().String()
	db := openDB(t, cfg)
	db.SetMaxOpenConns(1)
	// report waits until the session recorded its last statement: it reads
	// the next command (the ping) only once other's answer is in.
	report := func() router.DiffReport {
		t.Helper()
		if err := db.Ping(); err != nil {
			t.Fatal(err)
		}
		return svc.DiffReport()
	}
	const all = "SELECT id, v FROM diffs ORDER BY id"
	rows := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM (" + all + ") AS t").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 3 {
		if n := rows(); n != 3 {
			t.Fatalf("%d rows, want 3", n)
		}
	}
	if _, err := db.Exec("SELECT v FROM diffs"); err != nil { // another order on each server, same rows
		t.Fatal(err)
	}
	if who(t, db, whoami) != "eu-1" {
		t.Error("the client did not get main's answer")
	}
	r := report()
	count := stmtReport(t, r, "select count(*) from(select id, v from diffs order by id) as t")
	if count.Executions != 3 || count.Compared != 3 || count.Mismatches != 0 || count.LastMismatch != nil {
		t.Errorf("agreeing servers: %+v", count)
	}
	if unordered := stmtReport(t, r, "select v from diffs"); unordered.Mismatches != 0 || unordered.Compared != 1 {
		t.Errorf("rows in another order counted as a mismatch: %+v", unordered)
	}
	if count.OtherMs < 70 || count.MainMs > count.OtherMs {
		t.Errorf("latencies: main %.1f ms, other %.1f ms; want other across the 80 ms link", count.MainMs, count.OtherMs)
	}
	if w := stmtReport(t, r, "select node from meridian_test.whoami"); w.Mismatches != 1 {
		t.Errorf("each node's own whoami row: %+v, want a mismatch", w)
	}

	// Plant a row on us-1 alone.
	conn, err := f.admin["us-1"].Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"SET SESSION sql_log_bin = 0", "INSERT INTO meridian_test.diffs VALUES (4, 'planted')", "SET SESSION sql_log_bin = 1"} {
		if _, err := conn.ExecContext(context.Background(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	for range 2 {
		if n := rows(); n != 3 {
			t.Errorf("%d rows after planting on other, want main's 3", n)
		}
	}
	if _, err := db.Exec("UPDATE diffs SET v = 'uno' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	r = report()
	count = stmtReport(t, r, "select count(*) from(select id, v from diffs order by id) as t")
	if count.Executions != 5 || count.Compared != 5 || count.Mismatches != 2 || count.LastMismatch == nil {
		t.Fatalf("after planting: %+v, want 2 mismatches of 5", count)
	}
	if m := count.LastMismatch; m.SQL != "SELECT COUNT(*) FROM ("+all+") AS t" || m.Main.Rows != 1 || m.Other.Rows != 1 || m.Main.Checksum == m.Other.Checksum {
		t.Errorf("mismatch example %+v", m)
	}
	if w := stmtReport(t, r, "update diffs set v = ? where id = ?"); w.Executions != 1 || w.Skipped != 1 || w.Compared != 0 {
		t.Errorf("a write: %+v, want skipped", w)
	}
	if r.Statements[0].Mismatches != 2 {
		t.Errorf("most mismatched statement not first: %+v", r.Statements[0])
	}
	out, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(out), `"last_mismatch":{"sql":"SELECT COUNT(*)`) {
		t.Errorf("JSON %s, %v", out, err)
	}
}

func stmtReport(t *testing.T, r router.DiffReport, normalised string) router.DiffStatement {
	t.Helper()
	for _, s := range r.Statements {
		if s.Statement == normalised {
			return s
		}
	}
	var have []string
	for _, s := range r.Statements {
		have = append(have, s.Statement)
	}
	t.Fatalf("no statement %q in the report (have %q)", normalised, have)
	return router.DiffStatement{}
}
