// Package api serves what the controller knows about the estate: the last
// monitor snapshot as JSON, as Prometheus metrics, and as a web page that
// draws the topology and refreshes itself.
package api

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meridian-geo/meridian/internal/snapshot"
)

// SnapshotSource hands out the latest snapshot; a zero At means no probe
// round has finished yet. It is called once per request, concurrently.
type SnapshotSource interface {
	Snapshot() snapshot.Snapshot
}

// Option configures the handler.
type Option func(*config)

type config struct {
	logger     *slog.Logger
	ops        Operations
	residency  ResidencySource
	collectors []prometheus.Collector
}

// WithLogger sets where request errors (a failed metrics collection, a
// client gone mid-response) are logged; slog.Default() otherwise.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithOperations serves the controller's actions (leases, switchover,
// failover, ack, audit, status); without it those endpoints are absent.
func WithOperations(ops Operations) Option {
	return func(c *config) { c.ops = ops }
}

// WithCollector adds metrics to /metrics (the controller's own).
func WithCollector(col prometheus.Collector) Option {
	return func(c *config) { c.collectors = append(c.collectors, col) }
}

//go:embed web
var webFiles embed.FS

// New returns the handler serving:
//
//	GET /api/v1/topology  the last snapshot as JSON (503 before the first one)
//	GET /metrics          Prometheus metrics built from the last snapshot
//	                      (and the WithCollector ones)
//	... and with WithOperations the controller's endpoints (operations.go)
//	GET /api/v1/residency with WithResidency: the rules and the latest audit
//	GET /healthz          "ok"
//	GET /                 the topology page
func New(src SnapshotSource, opts ...Option) http.Handler {
	cfg := config{logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		snapshotCollector{src: src},
	)
	reg.MustRegister(cfg.collectors...)

	web, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}

	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/topology", topologyHandler(src, cfg.logger))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: printlnLogger{cfg.logger},
		// One bad series must not hide all the others from Prometheus.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	if cfg.ops != nil {
		operationRoutes(mux, cfg.ops, cfg.logger)
	}
	if cfg.residency != nil {
		residencyRoute(mux, cfg.residency, cfg.logger)
	}
	mux.Handle("GET /", http.FileServerFS(web))
	return mux
}

func topologyHandler(src SnapshotSource, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s := src.Snapshot()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if s.At.IsZero() {
			w.WriteHeader(http.StatusServiceUnavailable)
			writeJSON(w, log, map[string]string{"error": "no snapshot yet: the first probe round has not finished"})
			return
		}
		writeJSON(w, log, s)
	})
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, v any) {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Warn("api: writing JSON response", "error", err)
	}
}

// printlnLogger lets promhttp report collection errors through slog.
type printlnLogger struct{ log *slog.Logger }

func (l printlnLogger) Println(v ...any) {
	l.log.Error("api: serving metrics", "error", fmt.Sprint(v...))
}
