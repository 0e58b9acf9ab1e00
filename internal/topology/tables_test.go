package topology

import "testing"

func TestTablePolicyMatching(t *testing.T) {
	topo := &Topology{Tables: []TablePolicy{
		{Match: "shop.users", Home: &HomeRule{Column: "country", Lookup: LookupCountry}},
		{Match: "shop.*", LWW: &LWWRule{}},
		{Match: "*.audit_?"},
	}}
	cases := []struct {
		schema, table, want string
		found               bool
	}{
		{"shop", "users", PolicyHome, true},
		{"SHOP", "Users", PolicyHome, true}, // names compare case-insensitively
		{"shop", "orders", PolicyLWW, true}, // the first match wins
		{"crm", "audit_1", PolicyNone, true},
		{"crm", "audit_10", "", false},
		{"shopx", "users", "", false},
	}
	for _, c := range cases {
		p, ok := topo.TablePolicy(c.schema, c.table)
		if ok != c.found || (ok && p.Kind() != c.want) {
			t.Errorf("TablePolicy(%s.%s) = %q, %v; want %q, %v", c.schema, c.table, p.Kind(), ok, c.want, c.found)
		}
	}
}

func TestHomeRegion(t *testing.T) {
	topo := &Topology{
		Regions:       []Region{{Name: "eu"}, {Name: "us"}, {Name: "apac"}},
		Jurisdictions: []Jurisdiction{{Country: "FR", Region: "eu"}, {Country: "SG", Region: "apac"}},
	}
	values := HomeRule{Column: "home_region", Values: map[string]string{"EU": "eu", "US": "us"}}
	country := HomeRule{Column: "country", Lookup: LookupCountry}
	user := HomeRule{Column: "user_id", Lookup: LookupUser}
	cases := []struct {
		rule   HomeRule
		value  string
		want   string
		wantOK bool
	}{
		{values, "EU", "eu", true},
		{values, "us", "us", true},
		{values, "APAC", "", false},
		{country, "fr", "eu", true},
		{country, "SG", "apac", true},
		{country, "BR", "", false},
		{user, "42", "", false}, // only the users directory knows
	}
	for _, c := range cases {
		got, ok := topo.HomeRegion(c.rule, c.value)
		if got != c.want || ok != c.wantOK {
			t.Errorf("HomeRegion(%+v, %q) = %q, %v; want %q, %v", c.rule, c.value, got, ok, c.want, c.wantOK)
		}
	}
	if r := topo.TieBreakRank(LWWRule{}, "apac"); r != 2 {
		t.Errorf("default tie-break rank of apac = %d, want 2 (file order)", r)
	}
	if r := topo.TieBreakRank(LWWRule{TieBreak: []string{"us", "apac", "eu"}}, "eu"); r != 2 {
		t.Errorf("tie-break rank of eu = %d, want 2", r)
	}
	if r := topo.TieBreakRank(LWWRule{}, "mars"); r != -1 {
		t.Errorf("rank of an unknown region = %d, want -1", r)
	}
}

func TestResidencyQueries(t *testing.T) {
	topo := &Topology{
		Source:  "/etc/meridian/estate.yaml",
		Regions: []Region{{Name: "eu", Backups: "backups/eu"}, {Name: "us", Backups: "/srv/backups/us"}, {Name: "apac"}},
		Tables: []TablePolicy{
			{Match: "shop.users", Home: &HomeRule{Column: "country", Lookup: LookupCountry}, Personal: true},
			{Match: "shop.orders", Home: &HomeRule{Column: "customer_id", Lookup: LookupUser}, Personal: true},
			{Match: "shop.notes", Owner: "eu", Personal: true, User: "author"},
			{Match: "shop.*"},
		},
		Users: &UsersTable{Table: "shop.users", ID: "id", Email: "email", Country: "country"},
	}
	if !topo.HasPersonalData() {
		t.Error("HasPersonalData = false with personal tables")
	}
	for _, c := range []struct {
		table    string
		personal bool
	}{{"users", true}, {"ORDERS", true}, {"products", false}, {"notes", true}} {
		if got := topo.IsPersonal("shop", c.table); got != c.personal {
			t.Errorf("IsPersonal(shop.%s) = %v, want %v", c.table, got, c.personal)
		}
	}
	for i, want := range []string{"", "customer_id", "author", ""} {
		if got := topo.Tables[i].UserColumn(); got != want {
			t.Errorf("UserColumn of %s = %q, want %q", topo.Tables[i].Match, got, want)
		}
	}
	if !topo.IsUsersTable("Shop", "USERS") || topo.IsUsersTable("shop", "orders") {
		t.Error("IsUsersTable does not recognise shop.users alone")
	}
	for region, want := range map[string]string{"eu": "/etc/meridian/backups/eu", "us": "/srv/backups/us", "apac": "", "mars": ""} {
		if got := topo.BackupDir(region); got != want {
			t.Errorf("BackupDir(%s) = %q, want %q", region, got, want)
		}
	}
	if (&Topology{}).HasPersonalData() {
		t.Error("HasPersonalData = true without tables")
	}
}
