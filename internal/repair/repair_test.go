package repair

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/checksum"
	"github.com/meridian-geo/meridian/internal/conflict"
	"github.com/meridian-geo/meridian/internal/topology"
)

// estate: eu is a Galera cluster of three, us a primary with a replica, apac
// a single server; active-active.
func estate(arch topology.Architecture) Estate {
	return Estate{
		Topology: &topology.Topology{
			Architecture: arch,
			Roles:        topology.Roles{Primary: "us", DR: "eu"},
			Regions:      []topology.Region{{Name: "eu", GTIDDomainID: 1}, {Name: "us", GTIDDomainID: 2}, {Name: "apac", GTIDDomainID: 3}},
			Clusters: []topology.Cluster{
				{Name: "eu-g", Kind: topology.Galera, Region: "eu", Nodes: []topology.Node{{Name: "eu-1"}, {Name: "eu-2"}, {Name: "eu-3"}}},
				{Name: "us-m", Kind: topology.PrimaryReplica, Region: "us", Nodes: []topology.Node{{Name: "us-1"}, {Name: "us-2"}}},
				{Name: "apac-s", Kind: topology.Single, Region: "apac", Nodes: []topology.Node{{Name: "apac-1"}}},
			},
			Jurisdictions: []topology.Jurisdiction{{Country: "FR", Region: "eu"}, {Country: "US", Region: "us"}},
		},
		Now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC),
	}
}

func users() *checksum.Table {
	return &checksum.Table{
		Schema: "shop", Name: "users",
		Columns: []checksum.Column{
			{Name: "id", DataType: "int", ColumnType: "int(11)"},
			{Name: "country", DataType: "char", ColumnType: "char(2)"},
			{Name: "name", DataType: "varchar", ColumnType: "varchar(40)", Nullable: true},
		},
		Key: []string{"id"}, Index: "PRIMARY",
	}
}

func img(hash uint32, country, name string) *Image {
	return &Image{Values: []checksum.Value{checksum.Text("1"), checksum.Text(country), checksum.Text(name)}, Hash: hash}
}

var (
	v1 = img(1, "FR", "Ana")
	v2 = img(2, "FR", "Anna")
)

// row gives every node of the estate a version: v1 unless overridden.
func row(overrides map[string]*Image) Row {
	r := Row{Key: []checksum.Value{checksum.Text("1")}, Images: map[string]*Image{}}
	for _, n := range []string{"eu-1", "eu-2", "eu-3", "us-1", "us-2", "apac-1"} {
		r.Images[n] = v1
	}
	for n, v := range overrides {
		r.Images[n] = v
	}
	return r
}

// expect checks a decided repair: its statements (node: verb) and, unless
// "", its rule.
func expect(t *testing.T, got RowRepair, want []string, rule string) {
	t.Helper()
	if got.Unrepaired != "" {
		t.Fatalf("unrepaired: %s", got.Unrepaired)
	}
	if strings.Join(nodesOf(got), ", ") != strings.Join(want, ", ") {
		t.Errorf("statements %v, want %v", nodesOf(got), want)
	}
	if rule != "" && got.Rule != rule {
		t.Errorf("rule %q, want %q", got.Rule, rule)
	}
}

func nodesOf(r RowRepair) []string {
	var out []string
	for _, s := range r.Statements {
		out = append(out, s.Node+": "+strings.Fields(s.SQL)[0])
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		arch   topology.Architecture
		policy topology.TablePolicy
		row    Row
		opts   Options
		want   []string // node: verb
		rule   string
		fails  string
	}{
		{
			name: "no policy, active-active: the first region wins; a Galera node changed alone is outvoted",
			arch: topology.ActiveActive, row: row(map[string]*Image{"eu-2": v2}),
			want: []string{"eu-2: UPDATE"}, rule: "no policy: the preferred region eu's version",
		},
		{
			name: "no policy, active-passive: the primary region wins",
			arch: topology.ActivePassive, row: row(map[string]*Image{"us-1": v2, "us-2": v2}),
			want: []string{"apac-1: UPDATE", "eu-1: UPDATE", "eu-2: UPDATE", "eu-3: UPDATE"}, rule: "no policy: the preferred region us's version",
		},
		{
			name: "no policy, --prefer us",
			arch: topology.ActiveActive, row: row(map[string]*Image{"us-1": v2, "us-2": v2}), opts: Options{Prefer: "us"},
			want: []string{"apac-1: UPDATE", "eu-1: UPDATE", "eu-2: UPDATE", "eu-3: UPDATE"},
		},
		{
			name: "a replica changed alone: the tie in its region goes to the primary",
			arch: topology.ActiveActive, policy: topology.TablePolicy{Owner: "us"}, row: row(map[string]*Image{"us-2": v2}),
			want: []string{"us-2: UPDATE"}, rule: "owner us: the owner region's version",
		},
		{
			name: "owner: a row the owner lacks is deleted everywhere else",
			arch: topology.ActiveActive, policy: topology.TablePolicy{Owner: "us"}, row: row(map[string]*Image{"us-1": nil, "us-2": nil}),
			want: []string{"apac-1: DELETE", "eu-1: DELETE", "eu-2: DELETE", "eu-3: DELETE"},
		},
		{
			name: "owner: a row only the owner has is inserted everywhere else",
			arch: topology.ActiveActive, policy: topology.TablePolicy{Owner: "us"},
			row:  row(map[string]*Image{"eu-1": nil, "eu-2": nil, "eu-3": nil, "apac-1": nil}),
			want: []string{"apac-1: INSERT", "eu-1: INSERT", "eu-2: INSERT", "eu-3: INSERT"},
		},
		{
			name: "home by country: the home region's version",
			arch: topology.ActiveActive, policy: topology.TablePolicy{Home: &topology.HomeRule{Column: "country", Lookup: topology.LookupCountry}},
			row:  row(map[string]*Image{"us-1": v2, "us-2": v2, "apac-1": v2}),
			want: []string{"apac-1: UPDATE", "us-1: UPDATE", "us-2: UPDATE"}, rule: "home country: the home region eu's version",
		},
		{
			name: "home: versions naming different homes are left to a person",
			arch: topology.ActiveActive, policy: topology.TablePolicy{Home: &topology.HomeRule{Column: "country", Lookup: topology.LookupCountry}},
			row: row(map[string]*Image{"us-1": img(3, "US", "Ana")}), fails: "different home regions (eu, us)",
		},
		{
			name: "home by user directory cannot be resolved by the checker",
			arch: topology.ActiveActive, policy: topology.TablePolicy{Home: &topology.HomeRule{Column: "country", Lookup: topology.LookupUser}},
			row: row(map[string]*Image{"us-1": v2}), fails: "names no home region",
		},
		{
			name: "lww on a table without the rule's hidden version: unrepaired, with the reason",
			arch: topology.ActiveActive, policy: topology.TablePolicy{LWW: &topology.LWWRule{}},
			row: row(map[string]*Image{"us-1": v2, "us-2": v2}), fails: "has no _meridian_ver column",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(estate(tt.arch), users(), tt.policy, tt.row, tt.opts)
			if tt.fails != "" {
				if !strings.Contains(got.Unrepaired, tt.fails) || len(got.Statements) > 0 {
					t.Fatalf("got %+v, want unrepaired: %s", got, tt.fails)
				}
				return
			}
			expect(t, got, tt.want, tt.rule)
		})
	}
}

// docs is an lww table with the conflict rule's hidden version column.
func docs() *checksum.Table {
	return &checksum.Table{
		Schema: "shop", Name: "docs",
		Columns: []checksum.Column{
			{Name: "id", DataType: "int", ColumnType: "int(11)"},
			{Name: "body", DataType: "varchar", ColumnType: "varchar(40)", Nullable: true},
			{Name: conflict.HiddenVersion, DataType: "bigint", ColumnType: "bigint(20) unsigned"},
		},
		Key: []string{"id"}, Index: "PRIMARY",
	}
}

func doc(body string, v conflict.Version) *Image {
	return &Image{Values: []checksum.Value{checksum.Text("1"), checksum.Text(body), checksum.Text(strconv.FormatUint(uint64(v), 10))}, Hash: uint32(v)}
}

func TestPlanConflictRules(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	early, late := conflict.MakeVersion(at, 2), conflict.MakeVersion(at.Add(time.Millisecond), 1)
	e := estate(topology.ActiveActive)
	e.Topology.Tables = []topology.TablePolicy{
		{Match: "shop.docs", LWW: &topology.LWWRule{}},
		{Match: "shop.tags", Set: &topology.SetRule{}},
	}
	all := func(img *Image) map[string]*Image {
		m := map[string]*Image{}
		for _, n := range []string{"eu-1", "eu-2", "eu-3", "us-1", "us-2", "apac-1"} {
			m[n] = img
		}
		return m
	}
	tests := []struct {
		name   string
		table  string
		images map[string]*Image
		tombs  map[string]conflict.Version
		want   []string
		rule   string
	}{
		{
			name: "lww: the latest version everywhere, whatever the region",
			images: func() map[string]*Image {
				m := all(doc("old", early))
				m["eu-2"] = doc("new", late)
				return m
			}(),
			want: []string{"apac-1: UPDATE", "eu-1: UPDATE", "eu-3: UPDATE", "us-1: UPDATE", "us-2: UPDATE"},
			rule: "lww: the latest version, eu-2's (version 2026-12-04T10:00:00.001000Z@1, from region eu)",
		},
		{
			name: "lww: a node that never got the row gets it",
			images: func() map[string]*Image {
				m := all(doc("old", early))
				m["apac-1"] = nil
				return m
			}(),
			tombs: map[string]conflict.Version{},
			want:  []string{"apac-1: INSERT"},
		},
		{
			name: "lww: a later delete (its tombstone) removes the row everywhere",
			images: func() map[string]*Image {
				m := all(nil)
				m["us-2"] = doc("old", early)
				return m
			}(),
			tombs: map[string]conflict.Version{"eu-1": late},
			want:  []string{"us-2: DELETE"},
		},
		{
			name:  "set: an element present somewhere stays, against an older remove",
			table: "tags",
			images: func() map[string]*Image {
				m := all(nil)
				m["us-1"] = doc("tag", late)
				return m
			}(),
			tombs: map[string]conflict.Version{"eu-1": early},
			want:  []string{"apac-1: INSERT", "eu-1: INSERT", "eu-2: INSERT", "eu-3: INSERT", "us-2: INSERT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := docs()
			if tt.table != "" {
				tb.Name = tt.table
			}
			policy, _ := e.Topology.TablePolicy("shop", tb.Name)
			got := Plan(e, tb, policy, Row{Key: []checksum.Value{checksum.Text("1")}, Images: tt.images, Tombstones: tt.tombs}, Options{})
			expect(t, got, tt.want, tt.rule)
		})
	}
}

func TestPlanConflictRuleWithoutTombstones(t *testing.T) {
	e := estate(topology.ActiveActive)
	e.Topology.Tables = []topology.TablePolicy{{Match: "shop.docs", LWW: &topology.LWWRule{}}}
	images := map[string]*Image{"eu-1": doc("a", 5), "us-1": nil}
	got := Plan(e, docs(), e.Topology.Tables[0], Row{Key: []checksum.Value{checksum.Text("1")}, Images: images}, Options{})
	if !strings.Contains(got.Unrepaired, "us-1 lacks the row and its tombstones were not read") {
		t.Errorf("%+v", got)
	}
}

func TestPlanGuardsEachStatementWithTheVersionItReplaces(t *testing.T) {
	got := Plan(estate(topology.ActiveActive), users(), topology.TablePolicy{}, row(map[string]*Image{"eu-2": v2}), Options{})
	if len(got.Statements) != 1 {
		t.Fatalf("%+v", got)
	}
	sql := got.Statements[0].SQL
	if !strings.HasPrefix(sql, "UPDATE `shop`.`users` SET `name` = 'Ana' WHERE `id` = 1 AND CRC32(") || !strings.HasSuffix(sql, " = 2") {
		t.Errorf("statement %s", sql)
	}
}

func TestPlanWithoutComparedNodesInTheWinningRegion(t *testing.T) {
	r := Row{Key: []checksum.Value{checksum.Text("1")}, Images: map[string]*Image{"eu-1": v1, "eu-2": v2}}
	got := Plan(estate(topology.ActiveActive), users(), topology.TablePolicy{Owner: "us"}, r, Options{})
	if !strings.Contains(got.Unrepaired, "no compared node in region us") {
		t.Errorf("%+v", got)
	}
}
