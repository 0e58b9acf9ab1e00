package api_test

import (
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/residency"
)

type residencySource struct{ view api.ResidencyView }

func (s residencySource) Residency() api.ResidencyView { return s.view }

// TestDeployFilesUseExposedMetrics keeps the alert rules, their unit tests
// and the Grafana dashboard in deploy/ from drifting away from /metrics:
// every meridian_* name they mention must be one the handler exposes.
func TestDeployFilesUseExposedMetrics(t *testing.T) {
	controller := api.NewControllerMetrics(func() api.ControllerGauges {
		return api.ControllerGauges{Primaries: map[string]string{"eu": "eu-1"},
			Leases: []api.LeaseGauge{{Region: "eu", Granting: true, ExpiresIn: 3 * time.Second}}}
	})
	res := residencySource{api.ResidencyView{Report: &residency.Report{At: time.Now(),
		Nodes:      []residency.NodeAudit{{Node: "us-1", Region: "us", Tables: []residency.Census{{Table: "shop.users", Rows: map[string]int64{"us": 3}}}}},
		Violations: []residency.Violation{{Node: "us-1", Region: "us", Table: "shop.orders", Home: "eu", Rows: 1}}}}}
	_, _, samples := scrape(t, api.New(&source{snap: estate(time.Now())}, api.WithCollector(controller), api.WithResidency(res)))
	exposed := map[string]bool{}
	name := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	for series := range samples {
		exposed[name.FindString(series)] = true
	}

	mention := regexp.MustCompile(`\bmeridian_[a-z0-9_]+`)
	for _, path := range []string{
		"../../deploy/prometheus/alerts.yaml",
		"../../deploy/prometheus/alerts_test.yaml",
		"../../deploy/grafana/meridian.json",
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		used := slices.Compact(slices.Sorted(slices.Values(mention.FindAllString(string(b), -1))))
		if len(used) == 0 {
			t.Errorf("%s mentions no meridian_* metric", path)
		}
		for _, m := range used {
			if !exposed[m] {
				t.Errorf("%s uses %s, which /metrics does not expose", path, m)
			}
		}
	}
}
