package conflict

import (
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

func testTopology(t *testing.T, tables string) *topology.Topology {
	t.Helper()
	src := `name: t
architecture: active-active
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
  - {name: apac, gtid_domain_id: 3}
clusters:
  - {name: eu-main, kind: single, region: eu, nodes: [{name: eu-1}]}
  - {name: us-main, kind: single, region: us, nodes: [{name: us-1}]}
  - {name: apac-main, kind: single, region: apac, nodes: [{name: apac-1}]}
tables:
` + tables
	topo, _, err := topology.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestVersionPacksTimeAndDomain(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 123456000, time.UTC)
	v := MakeVersion(at, 3)
	if v.Domain() != 3 || !v.Time().Equal(at) || v.Micros() != at.UnixMicro() {
		t.Fatalf("MakeVersion(%s, 3) = %d: time %s domain %d", at, v, v.Time(), v.Domain())
	}
	if later := MakeVersion(at.Add(time.Microsecond), 1); later <= v {
		t.Fatalf("a later microsecond from a lower domain must sort after: %d <= %d", later, v)
	}
	if Version(0).String() != "v0" || !Version(0).Time().IsZero() {
		t.Fatalf("version 0: %q %s", Version(0), Version(0).Time())
	}
}

func TestWins(t *testing.T) {
	topo := testTopology(t, `  - {match: shop.docs, lww: {}}
  - {match: shop.tied, lww: {tie_break: [us, apac, eu]}}
  - {match: shop.tags, set: {}}
  - {match: shop.inv, counter: [stock]}
  - {match: shop.other, owner: us}
`)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	eu, us, apac := MakeVersion(at, 1), MakeVersion(at, 2), MakeVersion(at, 3)
	euLater := MakeVersion(at.Add(time.Microsecond), 1)
	live := func(v Version) Side { return Side{Version: v} }
	gone := func(v Version) Side { return Side{Version: v, Deleted: true} }
	cases := []struct {
		table string
		a, b  Side
		want  bool
	}{
		{"docs", live(euLater), live(apac), true},           // later commit time wins
		{"docs", live(apac), live(euLater), false},          //
		{"docs", live(apac), live(eu), true},                // a tie: file order, apac last
		{"docs", live(us), live(apac), false},               //
		{"docs", live(eu), live(eu), false},                 // the same write
		{"docs", gone(euLater), live(apac), true},           // a later delete wins
		{"docs", live(euLater), gone(us), true},             // a later update beats a delete
		{"tied", live(eu), live(apac), true},                // tie_break [us, apac, eu]: eu last
		{"tied", live(us), live(apac), false},               //
		{"tags", live(eu), gone(euLater), true},             // add wins over a concurrent remove
		{"tags", gone(euLater), live(eu), false},            //
		{"tags", gone(euLater), gone(eu), true},             // two removes: the later
		{"inv", live(euLater), live(us), true},              // counters order the rest like lww
		{"unknown", live(euLater), live(us), true},          // no policy: still ordered (for the log)
		{"docs", live(MakeVersion(at, 9)), live(eu), false}, // an unknown domain ranks last
	}
	for _, c := range cases {
		r := RuleFor(topo, "shop", c.table)
		if got := r.Wins(c.a, c.b); got != c.want {
			t.Errorf("%s (%s): Wins(%+v, %+v) = %v, want %v", c.table, r.Kind, c.a, c.b, got, c.want)
		}
	}
}

func TestConverge(t *testing.T) {
	topo := testTopology(t, `  - {match: shop.docs, lww: {}}
  - {match: shop.tags, set: {}}
`)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := func(us int, d uint32) Version { return MakeVersion(at.Add(time.Duration(us)*time.Microsecond), d) }
	cases := []struct {
		name  string
		table string
		rows  []RowState
		want  int
		ok    bool
	}{
		{"latest present", "docs", []RowState{{Node: "eu-1", Present: true, Version: v(1, 1)}, {Node: "us-1", Present: true, Version: v(5, 2)}}, 1, true},
		{"later tombstone deletes", "docs", []RowState{{Node: "eu-1", Present: true, Version: v(1, 1)}, {Node: "us-1", Version: v(5, 2)}}, 1, true},
		{"a node that never got the row", "docs", []RowState{{Node: "eu-1"}, {Node: "us-1", Present: true, Version: 0}}, 1, true},
		{"set: the element stays", "tags", []RowState{{Node: "eu-1", Version: v(9, 1)}, {Node: "us-1", Present: true, Version: v(1, 2)}}, 1, true},
		{"unprotected: people decide", "free", []RowState{{Node: "eu-1", Present: true, Version: v(1, 1)}}, -1, false},
		{"nothing to compare", "docs", nil, -1, false},
	}
	for _, c := range cases {
		got, ok := RuleFor(topo, "shop", c.table).Converge(c.rows)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: Converge = %d, %v; want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestIsHidden(t *testing.T) {
	for col, want := range map[string][2]bool{
		"_meridian_ver": {true, false}, "_MERIDIAN_PREV": {true, false}, "_meridian_d_stock": {true, true}, "stock": {false, false},
	} {
		if IsHidden(col) != want[0] || IsDelta(col) != want[1] {
			t.Errorf("%s: IsHidden %v IsDelta %v, want %v", col, IsHidden(col), IsDelta(col), want)
		}
	}
}
