package services

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-geo/meridian/internal/lease"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// follower keeps one router service's view and lease current.
type follower struct {
	name, kind, region string
	controller         string
	endpoints          provision.Endpoints
	topo               *topology.Topology
	interval           time.Duration
	client             *http.Client
	svc                *router.Service
	view               *router.LiveView
	lease              *lease.Holder
	log                *slog.Logger

	// ready closes once a view is published and a renewal answered.
	ready     chan struct{}
	readyOnce sync.Once
	viewed    atomic.Bool
	renewed   atomic.Bool

	// Only the poll's goroutine touches these.
	lastAt   time.Time
	lastView router.View
	// fence is the lease's story so far; only the fencing goroutine
	// touches it.
	fence fenceState
	// pollErr and renewErr are the last failures logged, so that a
	// failure repeating every interval is logged once.
	pollErr, renewErr atomic.Pointer[string]
}

// follow polls the view, renews the lease and watches it every interval
// until ctx ends. Each runs alone, skipping ticks while its previous run
// hangs (a partition black-holes requests until they time out): the
// lease is watched on time regardless.
func (f *follower) follow(ctx context.Context) {
	var poll, renew, watch single
	defer poll.wait()
	defer renew.wait()
	defer watch.wait()
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		poll.try(func() { f.poll(ctx) })
		renew.try(func() { f.renew(ctx) })
		watch.try(func() { f.watchLease(ctx) })
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// requestTimeout bounds one call to the controller: several intervals, so
// that a slow answer across a WAN link is not cut, yet short against a
// lease's lifetime.
func (f *follower) requestTimeout() time.Duration { return max(time.Second, 4*f.interval) }

// poll fetches the controller's snapshot and publishes the view derived
// from it when it changed.
func (f *follower) poll(ctx context.Context) {
	var s snapshot.Snapshot
	if err := f.call(ctx, http.MethodGet, "/api/v1/topology", nil, &s); err != nil {
		f.failed(&f.pollErr, "cannot read the controller's view", err)
		return
	}
	f.recovered(&f.pollErr, "controller's view read again")
	if s.At.Equal(f.lastAt) {
		return
	}
	f.lastAt = s.At
	v := router.ViewFromSnapshot(s, f.region, func(name string) string { return f.endpoints.Admin(name).Addr })
	v.Lease = f.lease
	if !reflect.DeepEqual(v, f.lastView) {
		if v.Primary != f.lastView.Primary {
			f.log.Info("router view: primary", "primary", v.Primary, "was", f.lastView.Primary)
		}
		f.view.Set(v)
		f.lastView = v
	}
	f.viewed.Store(true)
	f.checkReady()
}

// leaseRequest is the body of POST /api/v1/lease.
type leaseRequest struct {
	Region  string `json:"region"`
	Service string `json:"service"`
}

// renew asks the controller for the write lease. The lease counts from
// before the request was sent, so it ends before the controller's record
// of it. A refusal drops the lease at once; no answer lets it run out.
func (f *follower) renew(ctx context.Context) {
	defer func() {
		f.renewed.Store(true)
		f.checkReady()
	}()
	body, err := json.Marshal(leaseRequest{Region: f.region, Service: f.name})
	if err != nil {
		panic(err) // two strings always marshal
	}
	sentAt := time.Now()
	var g lease.Grant
	err = f.call(ctx, http.MethodPost, "/api/v1/lease", body, &g)
	var refused *refusal
	switch {
	case err == nil:
		f.lease.Renewed(sentAt, g)
		f.recovered(&f.renewErr, "write lease renewed again", "primary", g.Primary, "epoch", g.Epoch)
	case errors.As(err, &refused) && refused.status == http.StatusConflict:
		f.lease.Lost()
		f.failed(&f.renewErr, "write lease refused", err)
	default:
		f.failed(&f.renewErr, "cannot renew the write lease", err)
	}
}

// watchLease fences or unfences the region's primary as the lease comes
// and goes (see fenceState).
func (f *follower) watchLease(ctx context.Context) {
	primary, valid := f.lease.Valid(time.Now())
	act := f.fence.next(primary, valid, func(name string) bool { return f.topo.NodeRegion(name) == f.region })
	if act.lost != "" {
		f.log.Warn("write lease lost: writes refused until the controller renews it", "primary", act.lost)
	}
	if act.node == "" {
		return
	}
	// Lifting read_only is only right while the lease still says so.
	deadline := time.Now().Add(f.requestTimeout())
	if !act.readOnly {
		deadline = f.lease.Until()
	}
	actx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err := setReadOnly(actx, f.endpoints.Admin(act.node), act.readOnly)
	f.fence.done(act, err == nil)
	switch {
	case err != nil && act.readOnly:
		f.log.Error("self-fencing failed: the primary may still take writes from elsewhere", "node", act.node, "err", err)
	case err != nil:
		f.log.Warn("cannot lift read_only after the lease came back", "node", act.node, "err", err)
	case act.readOnly:
		f.log.Warn("self-fencing: primary made read-only", "node", act.node)
	default:
		f.log.Info("lease back: read_only lifted", "node", act.node)
	}
}

func setReadOnly(ctx context.Context, ep node.Endpoint, on bool) error {
	c, err := node.Open(ctx, ep)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.SetReadOnly(ctx, on)
}

// refusal is the controller's answer other than 200: its status and error.
type refusal struct {
	status  int
	message string
}

func (r *refusal) Error() string { return fmt.Sprintf("HTTP %d: %s", r.status, r.message) }

// call sends one request to the controller and decodes its JSON answer.
func (f *follower) call(ctx context.Context, method, path string, body []byte, into any) error {
	ctx, cancel := context.WithTimeout(ctx, f.requestTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, f.controller+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = string(bytes.TrimSpace(data))
		}
		return &refusal{status: resp.StatusCode, message: e.Error}
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

func (f *follower) checkReady() {
	if f.viewed.Load() && f.renewed.Load() {
		f.readyOnce.Do(func() { close(f.ready) })
	}
}

// failed logs err once until it changes or the call succeeds again; at
// debug level before the first view, while the controller may still be
// starting (WaitReady reports one that never answers).
func (f *follower) failed(last *atomic.Pointer[string], msg string, err error) {
	if !f.viewed.Load() || errors.Is(err, context.Canceled) {
		// Not yet following (the controller may still be starting), or
		// stopping: nothing an operator must hear about.
		f.log.Debug(msg, "controller", f.controller, "err", err)
		return
	}
	text := err.Error()
	if prev := last.Swap(&text); prev == nil || *prev != text {
		f.log.Warn(msg, "controller", f.controller, "err", err)
	}
}

// recovered logs msg when the call had failed before.
func (f *follower) recovered(last *atomic.Pointer[string], msg string, args ...any) {
	if last.Swap(nil) != nil {
		f.log.Info(msg, args...)
	}
}

// single runs one function at a time in the background, skipping calls
// while the previous one runs.
type single struct {
	busy atomic.Bool
	wg   sync.WaitGroup
}

func (s *single) try(fn func()) {
	if !s.busy.CompareAndSwap(false, true) {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.busy.Store(false)
		fn()
	}()
}

func (s *single) wait() { s.wg.Wait() }
