// Package recovery is the effects half of failover: it carries out what
// internal/failover decided (promote a candidate, move a Galera cluster's
// links), planned switchovers, fencing and the rejoin of a returning old
// primary, against the servers through internal/node. Which connections a
// node needs is decided purely (planChannels, rejoinVerdict,
// switchoverRefusal); the rest is effects, each a Step that is logged and
// audited.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/hooks"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Defaults of the Executor's bounds.
const (
	DefaultApplyTimeout = 5 * time.Second
	DefaultFenceTimeout = 2 * time.Second
	DefaultMaxLag       = 5 * time.Second
)

// Executor acts on an estate. Its fields are read-only once in use; it is
// safe for concurrent use, though the controller runs one recovery at a time.
type Executor struct {
	Topology    *topology.Topology
	Endpoints   provision.Endpoints
	Credentials provision.Credentials
	Audit       *audit.Log   // nil: not audited
	Hooks       *hooks.Hooks // nil: no hooks
	Logger      *slog.Logger // nil: slog.Default()
	Now         func() time.Time
	// ApplyTimeout bounds the wait for a candidate to apply its relay log
	// (default DefaultApplyTimeout).
	ApplyTimeout time.Duration
	// FenceTimeout bounds setting read_only on a node that may be dead or
	// cut off (default DefaultFenceTimeout).
	FenceTimeout time.Duration
}

func (e *Executor) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

func (e *Executor) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Step is one action recovery took on one node, with its outcome.
type Step struct {
	Node   string        `json:"node,omitempty"`
	Action string        `json:"action"`
	Detail string        `json:"detail,omitempty"`
	Error  string        `json:"error,omitempty"`
	Took   time.Duration `json:"took_ns"`
}

// Step actions.
const (
	ActionWaitRelayLog = "wait-relay-log"
	ActionRemove       = "remove-channel"
	ActionReadOnly     = "read-only"
	ActionWritable     = "writable"
	ActionFence        = "fence"
	ActionConfigure    = "configure-channel"
	ActionStart        = "start-channel"
	ActionCatchUp      = "catch-up"
	ActionHold         = "hold-writes"
	ActionResume       = "resume-writes"
	ActionCompare      = "compare-gtids"
	ActionConnect      = "connect"
	ActionRollback     = "rollback"
)

// run is one operation (a failover, a switchover, a rejoin): it records its
// steps and audits each under the operation's kind and cluster.
type run struct {
	e       *Executor
	kind    string
	cluster string

	mu      sync.Mutex
	steps   []Step
	clients map[string]*node.Client
}

func (e *Executor) newRun(kind, cluster string) *run {
	return &run{e: e, kind: kind, cluster: cluster, clients: map[string]*node.Client{}}
}

// step runs fn as one audited step.
func (r *run) step(nodeName, action, detail string, fn func() error) error {
	began := time.Now()
	err := fn()
	s := Step{Node: nodeName, Action: action, Detail: detail, Took: time.Since(began)}
	if err != nil {
		s.Error = err.Error()
	}
	r.record(s)
	return err
}

func (r *run) record(s Step) {
	r.mu.Lock()
	r.steps = append(r.steps, s)
	r.mu.Unlock()
	log := r.e.logger().With("kind", r.kind, "cluster", r.cluster, "step", s.Action, "node", s.Node, "took", s.Took)
	if s.Error != "" {
		log.Warn("recovery step failed", "detail", s.Detail, "err", s.Error)
	} else {
		log.Info("recovery step", "detail", s.Detail)
	}
	r.audit(audit.Entry{Kind: r.kind, Cluster: r.cluster, Step: s.Action, Node: s.Node, Detail: s, Error: s.Error})
}

func (r *run) audit(entry audit.Entry) {
	if err := r.e.Audit.Record(entry); err != nil {
		r.e.logger().Error("audit", "err", err)
	}
}

func (r *run) stepsSoFar() []Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Step(nil), r.steps...)
}

// problems are the failed steps' errors, as text.
func (r *run) problems() []string {
	var out []string
	for _, s := range r.stepsSoFar() {
		if s.Error != "" {
			out = append(out, fmt.Sprintf("%s %s: %s", s.Action, s.Node, s.Error))
		}
	}
	return out
}

// connect opens clients to the named nodes side by side; a node that cannot
// be reached is recorded as a failed connect step and left out.
func (r *run) connect(ctx context.Context, names []string) {
	_ = each(names, func(name string) error {
		if err := r.open(ctx, name); err != nil {
			r.record(Step{Node: name, Action: ActionConnect, Error: err.Error()})
		}
		return nil
	})
}

// open opens a client to the node unless one is open.
func (r *run) open(ctx context.Context, name string) error {
	if r.client(name) != nil {
		return nil
	}
	c, err := node.Open(ctx, r.e.Endpoints.Admin(name))
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clients[name] != nil {
		c.Close()
		return nil
	}
	r.clients[name] = c
	return nil
}

// client is the open client of a node, nil when it could not be reached.
func (r *run) client(name string) *node.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clients[name]
}

func (r *run) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.clients {
		c.Close()
	}
}

// each runs fn for every name side by side and joins the errors.
func each(names []string, fn func(name string) error) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { errs[i] = fn(name) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// errUnreachable is the error of a step on a node no client reached.
func errUnreachable(name string) error { return fmt.Errorf("node %s is unreachable", name) }

// setReadOnly sets read_only on a node as one step, bounded by timeout
// (turning it on waits for running commits).
func (r *run) setReadOnly(ctx context.Context, name, action string, on bool, timeout time.Duration, why string) error {
	return r.step(name, action, why, func() error {
		c := r.client(name)
		if c == nil {
			return errUnreachable(name)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return c.SetReadOnly(ctx, on)
	})
}

// applyChannels makes name's connections match the layout: unwanted ones
// removed, stopped ones started, the others (re)written from the layout,
// gtid_slave_pos first aligned with the node's own transactions that the
// new source has (provision.Alignment).
func (r *run) applyChannels(ctx context.Context, name string, layout topology.Layout) error {
	c := r.client(name)
	if c == nil {
		return r.step(name, ActionConfigure, "", func() error { return errUnreachable(name) })
	}
	have, err := c.Replicas(ctx)
	if err != nil {
		return r.step(name, ActionConfigure, "read its replication connections", func() error { return err })
	}
	work, err := planChannels(name, layout, have, r.e.Endpoints.SourceAddr)
	if err != nil {
		return r.step(name, ActionConfigure, "", func() error { return err })
	}
	var errs []error
	for _, conn := range work.Remove {
		errs = append(errs, r.removeChannel(ctx, c, conn, "not in the layout"))
	}
	for _, conn := range work.Start {
		errs = append(errs, r.step(name, ActionStart, fmt.Sprintf("connection '%s'", conn), func() error { return c.StartReplica(ctx, conn) }))
	}
	for _, ch := range work.Configure {
		detail := fmt.Sprintf("connection '%s' from %s, MASTER_USE_GTID=slave_pos", ch.Connection, ch.Source)
		exists := slices.ContainsFunc(have, func(h node.ReplicaStatus) bool { return strings.EqualFold(h.Connection, ch.Connection) })
		errs = append(errs, r.step(name, ActionConfigure, detail, func() error { return r.configure(ctx, c, ch, exists) }))
	}
	return errors.Join(errs...)
}

// configure (re)writes one channel on c from the layout and starts it.
func (r *run) configure(ctx context.Context, c *node.Client, ch topology.Channel, exists bool) error {
	src := r.client(ch.Source)
	if src == nil {
		r.connect(ctx, []string{ch.Source})
		if src = r.client(ch.Source); src == nil {
			return fmt.Errorf("source %s is unreachable: cannot compare GTIDs before repointing", ch.Source)
		}
	}
	srcState, err := src.GTIDState(ctx)
	if err != nil {
		return err
	}
	have, err := c.GTIDState(ctx)
	if err != nil {
		return err
	}
	align, err := provision.Alignment(c.Name(), have, ch, srcState.Binlog)
	if err != nil {
		return err
	}
	if exists {
		if err := c.StopReplica(ctx, ch.Connection); err != nil {
			return err
		}
	}
	return provision.ConfigureChannel(ctx, c, r.e.Topology, r.e.Endpoints, r.e.Credentials, ch, align)
}

// removeChannel stops a connection and deletes it (RESET SLAVE ALL).
func (r *run) removeChannel(ctx context.Context, c *node.Client, conn, why string) error {
	return r.step(c.Name(), ActionRemove, fmt.Sprintf("connection '%s': %s", conn, why), func() error {
		if err := c.StopReplica(ctx, conn); err != nil {
			return err
		}
		return c.ResetReplicaAll(ctx, conn)
	})
}

// endChannels stops and deletes the node's connections the layout does not
// want (RESET SLAVE ALL): a new primary's from its old source.
func (r *run) endChannels(ctx context.Context, name string, layout topology.Layout, why string) error {
	c := r.client(name)
	have, err := c.Replicas(ctx)
	if err != nil {
		return err
	}
	work, err := planChannels(name, layout, have, r.e.Endpoints.SourceAddr)
	if err != nil {
		return err
	}
	for _, conn := range work.Remove {
		if err := r.removeChannel(ctx, c, conn, why); err != nil {
			return err
		}
	}
	return nil
}
