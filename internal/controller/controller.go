// Package controller is the long-running Meridian process of `meridian run`:
// it is placed in one region, runs the monitor against the whole estate,
// serves what it sees over HTTP (JSON API, Prometheus metrics, web page),
// grants the routers their write leases, and acts: automatic failover of a
// confirmed dead primary, fencing and rejoining an old primary that comes
// back, planned switchovers and the follow-the-sun schedule.
//
// Observe → decide → act: the monitor's snapshots are classified by
// failover.Detector and decided by failover.Choose and failover.Guard
// (pure); the schedule's moves are decided by scheduleMove (pure); the
// effects are recovery.Executor's, with the controller's own around them
// (revoking and granting leases, moving the monitor to the new primaries,
// saving the state, auditing what was refused).
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/failover"
	"github.com/meridian-geo/meridian/internal/hooks"
	"github.com/meridian-geo/meridian/internal/lease"
	"github.com/meridian-geo/meridian/internal/monitor"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/recovery"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Executor carries out decisions on the servers (recovery.Executor).
type Executor interface {
	Failover(ctx context.Context, d failover.Decision) (recovery.Result, error)
	Switchover(ctx context.Context, from, to topology.Primaries, opts recovery.SwitchoverOptions) (recovery.SwitchoverResult, error)
	Fence(ctx context.Context, node string) error
	Rejoin(ctx context.Context, node string, p topology.Primaries) (recovery.RejoinResult, error)
}

// Config configures a controller.
type Config struct {
	Monitor monitor.Config
	// Listen is the HTTP address (default 127.0.0.1:0, a free port).
	Listen string
	Logger *slog.Logger
	// Credentials are the accounts recovery acts with (the replication
	// account for CHANGE MASTER). Without an admin account the controller
	// only watches: no failover, fencing, switchover or schedule.
	Credentials provision.Credentials
	// StateFile keeps the runtime primaries across restarts ("" keeps them
	// in memory only); the audit log is written beside it (AuditFile).
	StateFile string
	Failover  FailoverConfig
	// Executor replaces the recovery.Executor built from the above (tests).
	Executor Executor
	// ResidencyAuditInterval is how often the residency audit runs when the
	// topology declares personal tables (DefaultResidencyAuditInterval when
	// zero; negative turns it off).
	ResidencyAuditInterval time.Duration
}

// FailoverConfig tunes the controller's decisions; zero fields take the
// defaults.
type FailoverConfig struct {
	// Manual turns automatic failover off (manual failover, switchover,
	// fencing and rejoin still work).
	Manual bool
	// Confirmations is how many consecutive failed rounds confirm a dead
	// primary (failover.DefaultConfirmations).
	Confirmations int
	// BlockPeriod keeps automatic failovers of a cluster apart
	// (failover.DefaultBlockPeriod).
	BlockPeriod time.Duration
	// LeaseDuration is how long a write lease lasts (lease.DefaultDuration).
	LeaseDuration time.Duration
	// MaxLag bounds how far behind a switchover's candidate may be
	// (recovery.DefaultMaxLag); a scheduled move to a region further
	// behind is skipped.
	MaxLag time.Duration
	Policy failover.Policy
}

// AuditFile is where the audit log of a controller with this state file
// goes: beside it.
func AuditFile(stateFile string) string {
	if stateFile == "" {
		return ""
	}
	return strings.TrimSuffix(stateFile, ".json") + ".audit.jsonl"
}

// Controller is a running controller.
type Controller struct {
	cfg      Config
	topo     *topology.Topology
	monitor  *monitor.Monitor
	server   *http.Server
	mux      *http.ServeMux
	url      string
	cancel   context.CancelFunc
	done     sync.WaitGroup
	log      *slog.Logger
	audit    *audit.Log
	exec     Executor // nil: watch only
	leases   *leases
	guard    *failover.Guard
	detector *failover.Detector // only the loop touches it
	// seenUp are the nodes some snapshot showed up (only the loop touches it).
	seenUp  map[string]bool
	metrics *api.ControllerMetrics

	// act lets one action run at a time: the loop's failovers, rejoins and
	// scheduled moves, and the API's switchovers and manual failovers.
	act sync.Mutex

	mu    sync.Mutex
	state State
	// refused is, per cluster (or "schedule"), the last refusal audited,
	// so that one repeated every round is audited once.
	refused map[string]string
	// fenced are returning nodes fenced and not yet rejoined.
	fenced map[string]bool
	// skipped is the start of the schedule window whose move was skipped.
	skipped time.Time
	// postponed is the start of the window whose move waits for its
	// region to become fit.
	postponed time.Time

	residency residencyAudits
}

// Start begins monitoring, serving and (with credentials) acting; it
// returns once the HTTP listener is bound, so URL is usable at once (the
// API answers 503 until the first probe round completes).
func Start(ctx context.Context, cfg Config) (_ *Controller, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Monitor.Logger == nil {
		cfg.Monitor.Logger = cfg.Logger
	}
	if cfg.Monitor.Now == nil {
		cfg.Monitor.Now = time.Now
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Monitor.Topology == nil {
		return nil, errors.New("controller: no topology")
	}
	st, err := LoadState(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	t := cfg.Monitor.Topology
	now := cfg.Monitor.Now()
	if t.Architecture == topology.FollowTheSun && st.Primaries.Region == "" {
		// The controller moves the primary at each window's start by a
		// switchover: the layout must not flip by itself at the boundary.
		st.Primaries.Region = t.PrimaryRegionAt(now)
	}
	cfg.Monitor.Primaries = st.Primaries
	mon, err := monitor.New(cfg.Monitor)
	if err != nil {
		return nil, err
	}
	auditLog, err := audit.Open(AuditFile(cfg.StateFile), 0)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			auditLog.Close()
		}
	}()
	c := &Controller{
		cfg: cfg, topo: t, monitor: mon, log: cfg.Logger, audit: auditLog,
		leases:   newLeases(t, cfg.Failover.LeaseDuration, st.Primaries, now),
		guard:    &failover.Guard{BlockPeriod: cfg.Failover.BlockPeriod},
		detector: failover.NewDetector(t, failover.DetectorConfig{Confirmations: cfg.Failover.Confirmations}),
		seenUp:   map[string]bool{},
		state:    st, refused: map[string]string{}, fenced: map[string]bool{},
	}
	c.metrics = api.NewControllerMetrics(c.gauges)
	c.exec, err = c.executor()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("controller listen on %s: %w", cfg.Listen, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	c.url = "http://" + ln.Addr().String()
	c.mux = http.NewServeMux()
	apiOptions := []api.Option{api.WithLogger(c.log), api.WithOperations(operations{c}), api.WithCollector(c.metrics)}
	if t.HasPersonalData() {
		apiOptions = append(apiOptions, api.WithResidency(c))
	}
	c.mux.Handle("/", api.New(mon, apiOptions...))
	c.server = &http.Server{
		Handler:           c.mux,
		ReadHeaderTimeout: 5 * time.Second,
	}
	updates, unsubscribe := mon.Subscribe()
	c.done.Add(3)
	go func() {
		defer c.done.Done()
		if err := mon.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			c.log.Error("monitor stopped", "err", err)
		}
	}()
	go func() {
		defer c.done.Done()
		defer unsubscribe()
		c.loop(ctx, updates)
	}()
	go func() {
		defer c.done.Done()
		if err := c.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("controller HTTP server stopped", "err", err)
		}
	}()
	if interval := c.residencyInterval(); interval > 0 {
		c.done.Add(1)
		go func() {
			defer c.done.Done()
			c.auditResidency(ctx, interval)
		}()
	}
	c.log.Info("controller running", "url", c.url, "region", cfg.Monitor.Region, "acting", c.exec != nil,
		"automatic_failover", c.exec != nil && !cfg.Failover.Manual, "primaries", st.Primaries)
	return c, nil
}

// executor is the configured one, or a recovery.Executor when the
// controller has credentials to act with.
func (c *Controller) executor() (Executor, error) {
	if c.cfg.Executor != nil {
		return c.cfg.Executor, nil
	}
	if c.cfg.Credentials.Admin.User == "" {
		return nil, nil
	}
	hc, err := hooks.ConfigFromTopology(c.topo)
	if err != nil {
		return nil, err
	}
	return &recovery.Executor{
		Topology: c.topo, Endpoints: c.cfg.Monitor.Endpoints, Credentials: c.cfg.Credentials,
		Audit: c.audit, Hooks: hooks.New(hc, c.log, c.audit), Logger: c.log, Now: c.cfg.Monitor.Now,
	}, nil
}

// Handle serves more of the API beside the controller's own, such as the
// router services started after it (they need its URL first).
func (c *Controller) Handle(pattern string, h http.Handler) { c.mux.Handle(pattern, h) }

// URL is the controller's base URL.
func (c *Controller) URL() string { return c.url }

// Snapshot is the monitor's latest snapshot.
func (c *Controller) Snapshot() snapshot.Snapshot { return c.monitor.Snapshot() }

// Monitor is the controller's monitor.
func (c *Controller) Monitor() *monitor.Monitor { return c.monitor }

// Primaries is who takes writes now, as the controller decided.
func (c *Controller) Primaries() topology.Primaries {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.clone().Primaries
}

// Audit is the controller's audit log.
func (c *Controller) Audit() *audit.Log { return c.audit }

// Close stops serving, acting and monitoring and waits for all three.
func (c *Controller) Close() error {
	c.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.server.Shutdown(ctx)
	c.done.Wait()
	return errors.Join(err, c.audit.Close())
}

func (c *Controller) now() time.Time { return c.cfg.Monitor.Now() }

// record audits e, logging a failure to do so.
func (c *Controller) record(e audit.Entry) {
	if e.Time.IsZero() {
		e.Time = c.now()
	}
	if err := c.audit.Record(e); err != nil {
		c.log.Error("audit", "err", err)
	}
}

// refuse audits a refusal once per distinct reason and key; fresh is
// false for a repetition.
func (c *Controller) refuse(key, cluster, step, reason string, detail any) (fresh bool) {
	c.mu.Lock()
	repeated := c.refused[key] == reason
	c.refused[key] = reason
	c.mu.Unlock()
	if repeated {
		return false
	}
	c.log.Warn("refused", "cluster", cluster, "step", step, "reason", reason)
	c.record(audit.Entry{Kind: audit.KindRefusal, Cluster: cluster, Step: step, Detail: detail, Error: reason})
	return true
}

// setPrimaries makes p the primaries everywhere: the saved state, the
// monitor's layout, the leases; the monitor probes at once so that the
// routers' view follows.
func (c *Controller) setPrimaries(p topology.Primaries, mutate func(*State)) {
	c.mu.Lock()
	c.state.Primaries = p
	if mutate != nil {
		mutate(&c.state)
	}
	st := c.state.clone()
	c.mu.Unlock()
	c.saveState(st)
	c.monitor.SetPrimaries(p)
	c.leases.grant(p, c.now())
	c.monitor.ProbeNow()
}

func (c *Controller) updateState(mutate func(*State)) {
	c.mu.Lock()
	mutate(&c.state)
	st := c.state.clone()
	c.mu.Unlock()
	c.saveState(st)
}

func (c *Controller) saveState(st State) {
	if err := saveState(c.cfg.StateFile, st); err != nil {
		c.log.Error("controller state not saved: a restarted controller would not know the current primaries", "err", err)
	}
}

// Lease answers a router's renewal (POST /api/v1/lease).
func (c *Controller) Lease(region, service string) (lease.Grant, error) {
	return c.leases.renew(region, service, time.Now())
}

// gauges are the controller's state for /metrics.
func (c *Controller) gauges() api.ControllerGauges {
	p := c.Primaries()
	g := api.ControllerGauges{Primaries: map[string]string{}}
	for _, region := range c.topo.WritableRegionsFor(c.now(), p) {
		g.Primaries[region] = c.topo.LinkNodeFor(region, p)
	}
	for _, l := range c.leases.states(time.Now()) {
		g.Leases = append(g.Leases, api.LeaseGauge{Region: l.Region, Granting: l.Granting, ExpiresIn: l.ExpiresIn})
	}
	return g
}
