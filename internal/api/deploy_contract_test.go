package api_test

import (
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
)

// TestDeployFilesUseExposedMetrics keeps the alert rules, their unit tests
// and the Grafana dashboard in deploy/ from drifting away from /metrics:
// every meridian_* name they mention must be one the handler exposes.
func TestDeployFilesUseExposedMetrics(t *testing.T) {
	controller := api.NewControllerMetrics(func() api.ControllerGauges {
		return api.ControllerGauges{Primaries: map[string]string{"eu": "eu-1"},
			Leases: []api.LeaseGauge{{Region: "eu", Granting: true, ExpiresIn: 3 * time.Second}}}
	})
	_, _, samples := scrape(t, api.New(&source{snap: estate(time.Now())}, api.WithCollector(controller)))
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
