package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/lease"
)

// Operations are what the controller does on request. Errors carry their
// HTTP status through ErrorStatus.
type Operations interface {
	// Lease renews a router's write lease; an error is a refusal (409).
	Lease(region, service string) (lease.Grant, error)
	Switchover(ctx context.Context, to string) (any, error)
	Failover(ctx context.Context, region string, force bool) (any, error)
	Ack(cluster string) error
	Audit() []audit.Entry
	// Status is the controller's state: primaries, leases, schedule.
	Status() any
	// ErrorStatus is the HTTP status of an operation's error: 409 for a
	// refusal, 400 for a request naming nothing known, 503 when the
	// controller cannot act, else 500.
	ErrorStatus(err error) int
}

// Request bodies.
type (
	LeaseRequest struct {
		Region  string `json:"region"`
		Service string `json:"service"`
	}
	SwitchoverRequest struct {
		To string `json:"to"`
	}
	FailoverRequest struct {
		Region string `json:"region"`
		Force  bool   `json:"force"`
	}
	AckRequest struct {
		Cluster string `json:"cluster"`
	}
)

// operationRoutes serves:
//
//	POST /api/v1/lease       {"region","service"} → lease.Grant, 409 while no lease is granted
//	POST /api/v1/switchover  {"to": node or region} → the switchover's result, 409 when refused
//	POST /api/v1/failover    {"region","force"} → the failover's result, 409 when refused
//	POST /api/v1/ack         {"cluster"}
//	GET  /api/v1/audit       the latest audit entries, oldest first
//	GET  /api/v1/controller  primaries, leases, nodes awaiting rejoin or kept out, schedule
func operationRoutes(mux *http.ServeMux, ops Operations, log *slog.Logger) {
	mux.HandleFunc("POST /api/v1/lease", func(w http.ResponseWriter, r *http.Request) {
		var req LeaseRequest
		if !decode(w, r, log, &req) {
			return
		}
		g, err := ops.Lease(req.Region, req.Service)
		if err != nil {
			fail(w, log, http.StatusConflict, err)
			return
		}
		reply(w, log, g)
	})
	mux.HandleFunc("POST /api/v1/switchover", func(w http.ResponseWriter, r *http.Request) {
		var req SwitchoverRequest
		if decode(w, r, log, &req) && required(w, log, "to", req.To) {
			answer(w, log, ops, func() (any, error) { return ops.Switchover(r.Context(), req.To) })
		}
	})
	mux.HandleFunc("POST /api/v1/failover", func(w http.ResponseWriter, r *http.Request) {
		var req FailoverRequest
		if decode(w, r, log, &req) && required(w, log, "region", req.Region) {
			answer(w, log, ops, func() (any, error) { return ops.Failover(r.Context(), req.Region, req.Force) })
		}
	})
	mux.HandleFunc("POST /api/v1/ack", func(w http.ResponseWriter, r *http.Request) {
		var req AckRequest
		if decode(w, r, log, &req) && required(w, log, "cluster", req.Cluster) {
			answer(w, log, ops, func() (any, error) {
				return map[string]string{"acknowledged": req.Cluster}, ops.Ack(req.Cluster)
			})
		}
	})
	mux.HandleFunc("GET /api/v1/audit", func(w http.ResponseWriter, _ *http.Request) {
		entries := ops.Audit()
		if entries == nil {
			entries = []audit.Entry{}
		}
		reply(w, log, entries)
	})
	mux.HandleFunc("GET /api/v1/controller", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, log, ops.Status())
	})
}

// answer replies with the operation's result, or its error with the
// status ErrorStatus gives it (and the result, when there is one, as
// "result": what a refused switchover did before rolling back).
func answer(w http.ResponseWriter, log *slog.Logger, ops Operations, op func() (any, error)) {
	res, err := op()
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ops.ErrorStatus(err))
		writeJSON(w, log, map[string]any{"error": err.Error(), "result": res})
		return
	}
	reply(w, log, res)
}

func reply(w http.ResponseWriter, log *slog.Logger, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, log, v)
}

func fail(w http.ResponseWriter, log *slog.Logger, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeJSON(w, log, map[string]string{"error": err.Error()})
}

// decode reads a JSON body of at most 64 KiB, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, log *slog.Logger, into any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		fail(w, log, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return false
	}
	return true
}

func required(w http.ResponseWriter, log *slog.Logger, field, value string) bool {
	if value == "" {
		fail(w, log, http.StatusBadRequest, fmt.Errorf("request body: %q is required", field))
		return false
	}
	return true
}
