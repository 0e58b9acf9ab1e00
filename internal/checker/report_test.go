package checker

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/checksum"
	"github.com/meridian-geo/meridian/internal/repair"
)

func kv() *checksum.Table {
	return &checksum.Table{
		Schema: "shop", Name: "kv",
		Columns: []checksum.Column{
			{Name: "k", DataType: "int", ColumnType: "int(11)"},
			{Name: "v", DataType: "varchar", ColumnType: "varchar(10)", Nullable: true},
			{Name: "g", DataType: "int", ColumnType: "int(11)", Nullable: true, Generated: true},
		},
		Key: []string{"k"}, Index: "PRIMARY",
	}
}

func TestDifferenceRoundTrip(t *testing.T) {
	row := repair.Row{
		Key: []checksum.Value{checksum.Text("7")},
		Images: map[string]*repair.Image{
			"eu-1": {Values: []checksum.Value{checksum.Text("7"), checksum.Text("a")}, Hash: 11},
			"eu-2": {Values: []checksum.Value{checksum.Text("7"), checksum.Null}, Hash: 12},
			"us-1": nil,
		},
	}
	d := newDifference(kv(), row)
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"table":"shop.kv","key":{"k":"7"},"versions":{"eu-1":{"k":"7","v":"a"},"eu-2":{"k":"7","v":null},"us-1":null},"hashes":{"eu-1":11,"eu-2":12}}`
	if string(data) != want {
		t.Errorf("JSON\n got %s\nwant %s", data, want)
	}
	var back Difference
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	got, err := back.row(kv())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, row) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, row)
	}
	if text := d.describe(); text != "  shop.kv k=7: eu-1: k=7 v=a | eu-2: k=7 v=NULL | us-1: (no row)\n" {
		t.Errorf("describe = %q", text)
	}
}

func TestDescribeShowsOnlyDifferingColumns(t *testing.T) {
	d := Difference{Table: "shop.kv", Key: map[string]checksum.Value{"k": checksum.Text("7")}, Versions: map[string]map[string]checksum.Value{
		"eu-1": {"k": checksum.Text("7"), "v": checksum.Text("a")},
		"eu-2": {"k": checksum.Text("7"), "v": checksum.Text("a")},
		"us-1": {"k": checksum.Text("7"), "v": checksum.Text(strings.Repeat("b", 60))},
	}}
	want := "  shop.kv k=7: eu-1,eu-2: v=a | us-1: v=" + strings.Repeat("b", 39) + "…\n"
	if got := d.describe(); got != want {
		t.Errorf("describe =\n%q\nwant\n%q", got, want)
	}
}

func TestExitCode(t *testing.T) {
	diff := Difference{Table: "shop.kv", Key: map[string]checksum.Value{"k": checksum.Text("7")}}
	repaired := Repair{
		RowRepair: repair.RowRepair{Table: "shop.kv", KeyColumns: []string{"k"}, Key: []checksum.Value{checksum.Text("7")},
			Statements: []repair.Statement{{Node: "us-1", SQL: "INSERT ..."}}},
		Applied: []Outcome{{Node: "us-1", Rows: 1}},
	}
	stale := repaired
	stale.Applied = []Outcome{{Node: "us-1", Rows: 0}}
	identical := TableResult{Table: "shop.kv", Status: StatusIdentical}
	tests := []struct {
		name   string
		report Report
		want   int
	}{
		{"identical", Report{Tables: []TableResult{identical}}, ExitClean},
		{"a row differs", Report{Tables: []TableResult{identical}, Differences: []Difference{diff}}, ExitDiffers},
		{"a row differs, repair only printed", Report{Differences: []Difference{diff}, Repairs: []Repair{{RowRepair: repaired.RowRepair}}}, ExitDiffers},
		{"a row differed and was repaired", Report{Differences: []Difference{diff}, Repairs: []Repair{repaired}}, ExitClean},
		{"the row changed before its repair", Report{Differences: []Difference{diff}, Repairs: []Repair{stale}}, ExitDiffers},
		{"a table missing on a node", Report{Tables: []TableResult{{Status: StatusMissing}}}, ExitDiffers},
		{"differing chunks beyond --max-rows", Report{Tables: []TableResult{{Status: StatusDiffers, Unlisted: 2}}}, ExitDiffers},
		{"an unsettled row", Report{Tables: []TableResult{identical}, Unsettled: []Unsettled{{Table: "shop.kv"}}}, ExitIncomplete},
		{"a skipped table", Report{Tables: []TableResult{{Status: StatusSkipped}}}, ExitIncomplete},
	}
	for _, tt := range tests {
		if got := tt.report.ExitCode(); got != tt.want {
			t.Errorf("%s: exit %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestPauseReason(t *testing.T) {
	second := func(n int) *time.Duration { d := time.Duration(n) * time.Second; return &d }
	tests := []struct {
		loads []load
		want  string
	}{
		{[]load{{node: "a", lag: second(1), running: 3}, {node: "b", running: 25}}, ""},
		{[]load{{node: "a", lag: second(2), running: 3}}, "a lags 2s (max 1s)"},
		{[]load{{node: "a", lag: nil, running: 3}}, ""}, // NULL lag is unknown, not a reason to wait forever
		{[]load{{node: "a", running: 26}, {node: "b", lag: second(5)}}, "a runs 26 threads (max 25); b lags 5s (max 1s)"},
	}
	for _, tt := range tests {
		if got := pauseReason(tt.loads, time.Second, 25); got != tt.want {
			t.Errorf("pauseReason(%+v) = %q, want %q", tt.loads, got, tt.want)
		}
	}
	if got := pauseReason([]load{{node: "a", lag: second(100), running: 100}}, 0, 0); got != "" {
		t.Errorf("limits off: %q", got)
	}
}

func TestProgressLine(t *testing.T) {
	p := Progress{Table: "shop.orders", TablesDone: 1, Tables: 3, Rows: 500_000, Estimate: 1_000_000, Differences: 2, Elapsed: 10 * time.Second}
	want := "[############............]  50%  table 2/3 shop.orders  500.0k/1.00M rows  2 differ  10s  ETA 10s"
	if got := ProgressLine(p, 0); got != want {
		t.Errorf("ProgressLine =\n%q\nwant\n%q", got, want)
	}
	p.Rows, p.Paused = 2_000_000, "us-2 lags 3s (max 1s)"
	if got := ProgressLine(p, 0); !strings.HasPrefix(got, "[#######################.]  99%") || !strings.HasSuffix(got, "paused: us-2 lags 3s (max 1s)") {
		t.Errorf("an estimate passed: %q", got)
	}
	if got := ProgressLine(p, 20); len(got) != 20 {
		t.Errorf("not cut to the width: %q", got)
	}
}

func TestTablePattern(t *testing.T) {
	for in, want := range map[string]string{"shop": "shop.*", "shop.orders": "shop.orders", " shop.o* ": "shop.o*"} {
		if got, err := tablePattern(in); err != nil || got != want {
			t.Errorf("tablePattern(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ".t", "s.", "a.b.c", "shop.[x"} {
		if _, err := tablePattern(bad); err == nil {
			t.Errorf("tablePattern(%q) accepted", bad)
		}
	}
	o := Options{Tables: []string{"shop.o*", "meridian"}}
	for _, tt := range []struct {
		schema, table string
		want          bool
	}{{"shop", "orders", true}, {"shop", "users", false}, {"meridian", "heartbeat", true}} {
		if got := o.included(tt.schema, tt.table); got != tt.want {
			t.Errorf("included(%s.%s) = %v", tt.schema, tt.table, got)
		}
	}
	if !o.schemaIncluded("shop") || !o.schemaIncluded("meridian") || o.schemaIncluded("mysql") {
		t.Error("schema selection wrong")
	}
	all := Options{}
	if all.included("mysql", "user") || all.included("meridian", "heartbeat") || !all.included("shop", "orders") {
		t.Error("default selection wrong")
	}
	if all.schemaIncluded("sys") || !all.schemaIncluded("shop") {
		t.Error("default schema selection wrong")
	}
}
