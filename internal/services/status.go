package services

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/meridian-geo/meridian/internal/router"
)

// Status is one running service as GET /api/v1/services shows it.
type Status struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	Kind   string `json:"kind"`
	// Listen is the address clients connect to.
	Listen string `json:"listen"`
	// Sessions is the number of client connections open now.
	Sessions int                      `json:"sessions"`
	Backends map[string]BackendStatus `json:"backends"`
	// Primary is where the service sends writes ("" when nowhere).
	Primary string `json:"primary"`
	// Unavailable are the nodes its view has down or fenced, by name.
	Unavailable []string `json:"unavailable"`
	// LeaseUntil is when its write lease ends (absent when it holds none).
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
	// Diff is what a diff service compared so far (absent for other kinds).
	Diff *router.DiffReport `json:"diff,omitempty"`
}

// BackendStatus is one node's traffic from a service.
type BackendStatus struct {
	// Queries counts client commands sent to the node so far.
	Queries     uint64 `json:"queries"`
	Connections int64  `json:"connections"`
	Outstanding int64  `json:"outstanding"`
}

// Statuses lists the services region by region, in the order the
// topology declares them.
func (s *Set) Statuses() []Status {
	out := make([]Status, 0, len(s.followers))
	now := time.Now()
	for _, f := range s.followers {
		st := f.svc.Stats()
		backends := make(map[string]BackendStatus, len(st.Backends))
		for name, b := range st.Backends {
			backends[name] = BackendStatus{Queries: b.Queries, Connections: b.Connections, Outstanding: b.Outstanding}
		}
		view := f.view.View()
		status := Status{Name: f.name, Region: f.region, Kind: f.kind, Listen: f.svc.Addr().String(),
			Sessions: st.Sessions, Backends: backends, Primary: view.Primary, Unavailable: []string{}}
		for name, n := range view.Nodes {
			if !n.Up || n.Fenced {
				status.Unavailable = append(status.Unavailable, name)
			}
		}
		slices.Sort(status.Unavailable)
		if f.kind == router.Diff {
			report := f.svc.DiffReport()
			status.Diff = &report
		}
		if _, ok := f.lease.Valid(now); ok {
			until := f.lease.Until()
			status.LeaseUntil = &until
		}
		out = append(out, status)
	}
	return out
}

// Handler serves GET /api/v1/services: Statuses as JSON.
func (s *Set) Handler(log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err := json.NewEncoder(w).Encode(s.Statuses()); err != nil {
			log.Warn("api: writing the services", "error", err)
		}
	})
}
