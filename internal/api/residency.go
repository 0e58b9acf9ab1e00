package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

// ResidencySource is the controller's residency audit: the rules the
// topology declares and the latest report.
type ResidencySource interface {
	Residency() ResidencyView
}

// ResidencyView is GET /api/v1/residency.
type ResidencyView struct {
	Jurisdictions []Jurisdiction  `json:"jurisdictions"`
	Tables        []ResidencyRule `json:"tables"`
	// Interval is how often the controller audits.
	Interval time.Duration `json:"interval"`
	// Report is the latest audit; nil before the first.
	Report *residency.Report `json:"report"`
}

// Jurisdiction is one country's rule.
type Jurisdiction struct {
	Country      string `json:"country"`
	Name         string `json:"name,omitempty"`
	Region       string `json:"region"`
	Law          string `json:"law,omitempty"`
	LocalStorage bool   `json:"local_storage"`
}

// Jurisdictions lists the topology's jurisdictions.
func Jurisdictions(t *topology.Topology) []Jurisdiction {
	out := []Jurisdiction{}
	for _, j := range t.Jurisdictions {
		out = append(out, Jurisdiction{Country: j.Country, Name: j.Name, Region: j.Region, Law: j.Law, LocalStorage: j.LocalStorage})
	}
	return out
}

// ResidencyRule is one personal table policy, for people.
type ResidencyRule struct {
	Match string `json:"match"`
	// Home says how a row's region is known.
	Home string `json:"home"`
}

// ResidencyRules describes the topology's personal tables.
func ResidencyRules(t *topology.Topology) []ResidencyRule {
	rules := []ResidencyRule{}
	for _, p := range t.Tables {
		if !p.Personal {
			continue
		}
		var home string
		switch {
		case p.Owner != "":
			home = "region " + p.Owner
		case p.Home != nil && p.Home.Lookup == topology.LookupCountry:
			home = "country in " + p.Home.Column + ", through the jurisdictions"
		case p.Home != nil && p.Home.Lookup == topology.LookupUser:
			home = "user in " + p.Home.Column + ", through the users directory"
		case p.Home != nil:
			home = "region named by " + p.Home.Column
		}
		rules = append(rules, ResidencyRule{Match: p.Match, Home: home})
	}
	return rules
}

// WithResidency serves GET /api/v1/residency and the residency metrics.
func WithResidency(src ResidencySource) Option {
	return func(c *config) {
		c.residency = src
		c.collectors = append(c.collectors, residencyCollector{src})
	}
}

func residencyRoute(mux *http.ServeMux, src ResidencySource, log *slog.Logger) {
	mux.HandleFunc("GET /api/v1/residency", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, log, src.Residency())
	})
}

var (
	residencyViolations = prometheus.NewDesc("meridian_residency_violations",
		"Personal rows found outside their jurisdiction's region by the latest residency audit, by table and by the region they were found in.",
		[]string{"table", "region"}, nil)
	residencyIncomplete = prometheus.NewDesc("meridian_residency_audit_incomplete_nodes",
		"Nodes the latest residency audit could not read: it proves nothing about them.", nil, nil)
	residencyAge = prometheus.NewDesc("meridian_residency_audit_age_seconds",
		"Seconds since the latest residency audit finished.", nil, nil)
)

type residencyCollector struct{ src ResidencySource }

func (residencyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- residencyViolations
	ch <- residencyIncomplete
	ch <- residencyAge
}

func (c residencyCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.src.Residency().Report
	if r == nil {
		return
	}
	// Every personal table found, in every region it was looked for, is a
	// series, 0 while clean: an alert's absence then means "checked".
	series := map[[2]string]int64{}
	for _, n := range r.Nodes {
		for _, census := range n.Tables {
			series[[2]string{census.Table, n.Region}] += 0
		}
	}
	for key, rows := range r.ByTableRegion() {
		series[key] += rows
	}
	for key, rows := range series {
		ch <- prometheus.MustNewConstMetric(residencyViolations, prometheus.GaugeValue, float64(rows), key[0], key[1])
	}
	ch <- prometheus.MustNewConstMetric(residencyIncomplete, prometheus.GaugeValue, float64(len(r.Incomplete)))
	ch <- prometheus.MustNewConstMetric(residencyAge, prometheus.GaugeValue, time.Since(r.At).Seconds())
}
