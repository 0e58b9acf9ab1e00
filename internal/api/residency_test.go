package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

func TestResidencyMetricsAndRoute(t *testing.T) {
	view := api.ResidencyView{
		Jurisdictions: api.Jurisdictions(&topology.Topology{Jurisdictions: []topology.Jurisdiction{{Country: "FR", Region: "eu", Law: "GDPR"}}}),
		Tables:        []api.ResidencyRule{{Match: "shop.users", Home: "country in country, through the jurisdictions"}},
		Interval:      time.Minute,
		Report: &residency.Report{At: time.Now(), Incomplete: []string{"apac-1"},
			Nodes: []residency.NodeAudit{
				{Node: "eu-1", Region: "eu", Tables: []residency.Census{{Table: "shop.users", Rows: map[string]int64{"eu": 5}}}},
				{Node: "us-1", Region: "us", Tables: []residency.Census{{Table: "shop.users", Rows: map[string]int64{"eu": 2, "us": 4}}}},
				{Node: "apac-1", Region: "apac", Problem: "unreachable"},
			},
			Violations: []residency.Violation{{Node: "us-1", Region: "us", Table: "shop.users", Home: "eu", Rows: 2}}},
	}
	h := api.New(&source{snap: estate(time.Now())}, api.WithResidency(residencySource{view}))
	_, _, samples := scrape(t, h)
	for series, want := range map[string]string{
		`meridian_residency_violations{region="us",table="shop.users"}`: "2",
		`meridian_residency_violations{region="eu",table="shop.users"}`: "0",
		`meridian_residency_audit_incomplete_nodes`:                     "1",
	} {
		if got := samples[series]; got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	res, body := get(t, h, "/api/v1/residency")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/residency: %d %s", res.StatusCode, body)
	}
	var got api.ResidencyView
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Report == nil || len(got.Report.Violations) != 1 || got.Tables[0].Match != "shop.users" {
		t.Errorf("residency view %+v, %v", got, err)
	}
}

func TestResidencyRules(t *testing.T) {
	topo := &topology.Topology{Tables: []topology.TablePolicy{
		{Match: "shop.users", Home: &topology.HomeRule{Column: "country", Lookup: topology.LookupCountry}, Personal: true},
		{Match: "shop.orders", Home: &topology.HomeRule{Column: "customer_id", Lookup: topology.LookupUser}, Personal: true},
		{Match: "crm.*", Owner: "eu", Personal: true},
		{Match: "shop.products"},
	}}
	rules := api.ResidencyRules(topo)
	want := []string{"country in country, through the jurisdictions", "user in customer_id, through the users directory", "region eu"}
	if len(rules) != 3 {
		t.Fatalf("rules %+v: want the 3 personal tables", rules)
	}
	for i, r := range rules {
		if r.Home != want[i] {
			t.Errorf("rule %s: home %q, want %q", r.Match, r.Home, want[i])
		}
	}
}
