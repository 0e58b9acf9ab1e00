package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/failover"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/recovery"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// loop feeds every snapshot to the detector and acts on what it finds.
func (c *Controller) loop(ctx context.Context, updates <-chan snapshot.Snapshot) {
	for s := range updates {
		if ctx.Err() != nil {
			return
		}
		c.observe(ctx, s)
	}
}

// observe handles one snapshot: returning old primaries first (a fence
// must not wait behind a failover), then confirmed failures, then the
// schedule. A snapshot taken under other primaries than the current ones
// (a round that began before a failover) is stale and skipped.
func (c *Controller) observe(ctx context.Context, s snapshot.Snapshot) {
	c.act.Lock()
	defer c.act.Unlock()
	st := c.stateNow()
	if !samePrimaries(s.Primaries, st.Primaries) {
		return
	}
	findings := c.detector.Observe(s, st.Primaries)
	for _, n := range s.Nodes {
		if n.Up {
			c.seenUp[n.Name] = true
		}
	}
	if c.exec == nil {
		return
	}
	for _, name := range returning(s, st.Returning) {
		c.rejoin(ctx, name)
	}
	if !c.cfg.Failover.Manual {
		for _, f := range findings {
			// A primary this controller never reached is not known to have
			// died: at start-up, probes still connecting over a slow link
			// would otherwise look like a dead primary.
			if f.Confirmed && c.seenUp[f.Primary] {
				_, _ = c.failover(ctx, s, f, c.cfg.Failover.Policy, true)
				break // the others are judged again under the new primaries
			}
		}
	}
	c.followSchedule(ctx, s)
}

func (c *Controller) stateNow() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.clone()
}

// samePrimaries compares two Primaries; a nil and an empty map are alike.
func samePrimaries(a, b topology.Primaries) bool {
	return a.Region == b.Region && maps.Equal(a.Nodes, b.Nodes)
}

// returning are the nodes awaiting rejoin that the snapshot shows up.
func returning(s snapshot.Snapshot, waiting []string) []string {
	var up []string
	for _, name := range waiting {
		if n, ok := s.Node(name); ok && n.Up {
			up = append(up, name)
		}
	}
	return up
}

// errRefused is a failover, switchover or move refused before anything
// changed; its text is the reason.
type errRefused struct{ reason string }

func (e *errRefused) Error() string { return e.reason }

// IsRefused reports whether err is a refusal (nothing changed) rather
// than a failure.
func IsRefused(err error) bool {
	var r *errRefused
	var sr *recovery.RefusedError
	return errors.As(err, &r) || errors.As(err, &sr)
}

// failover decides about a finding and, unless refused, carries it out.
func (c *Controller) failover(ctx context.Context, s snapshot.Snapshot, f failover.Finding, policy failover.Policy, automatic bool) (recovery.Result, error) {
	d, err := c.decide(ctx, s, f, policy, automatic)
	if err != nil {
		return recovery.Result{Cluster: f.Cluster, Action: d.Action}, err
	}
	return c.carryOut(ctx, d)
}

// decide asks the Guard first (automatic failovers only), then Choose with
// the survivors' fresh replication status; a refusal is audited (once per
// reason) and counted.
func (c *Controller) decide(ctx context.Context, s snapshot.Snapshot, f failover.Finding, policy failover.Policy, automatic bool) (failover.Decision, error) {
	if ok, why := c.guard.Allow(f.Cluster, c.now(), automatic); !ok {
		return failover.Decision{Cluster: f.Cluster, Action: failover.Refuse, Reasons: []string{why}}, c.refuseFailover(f.Cluster, why, f)
	}
	d := failover.Choose(c.topo, s, f, policy, c.readRelays(ctx, s, f.Primary))
	if d.Action == failover.Refuse {
		return d, c.refuseFailover(f.Cluster, fmt.Sprintf("no failover of %s: %s", f.Cluster, strings.Join(d.Reasons, "; ")), d)
	}
	return d, nil
}

func (c *Controller) refuseFailover(cluster, reason string, detail any) error {
	if c.refuse(cluster, cluster, "failover", reason, detail) {
		c.metrics.Failover(api.ResultRefused)
	}
	return &errRefused{reason}
}

// carryOut executes a decision: leases revoked and lapsed first when the
// writer changes, the executor, then the new primaries everywhere.
func (c *Controller) carryOut(ctx context.Context, d failover.Decision) (recovery.Result, error) {
	old := c.stateNow().Primaries
	c.log.Warn("failover", "cluster", d.Cluster, "failed", d.Failed, "candidate", d.Candidate, "region", d.Region, "reasons", d.Reasons)
	if revoke := c.writersChanging(old, d.NewPrimaries); revoke != "" {
		began := time.Now()
		if err := c.leases.revoke(ctx, revoke); err != nil {
			c.metrics.Failover(api.ResultFailed)
			return recovery.Result{}, err
		}
		c.record(audit.Entry{Kind: audit.KindFailover, Cluster: d.Cluster, Step: "lease-revoked", Node: d.Failed,
			Detail: fmt.Sprintf("no router holds a write lease for %s any more (waited %s)", d.Failed, time.Since(began).Round(time.Millisecond))})
	}
	res, err := c.exec.Failover(ctx, d)
	if err != nil {
		c.leases.grant(old, c.now())
		c.metrics.Failover(api.ResultFailed)
		c.log.Error("failover failed", "cluster", d.Cluster, "err", err)
		return res, err
	}
	for _, cluster := range d.Affects {
		c.guard.Record(cluster, c.now())
	}
	c.setPrimaries(res.NewPrimaries, func(st *State) {
		if d.Action == failover.Promote && !slices.Contains(st.Returning, d.Failed) {
			st.Returning = append(st.Returning, d.Failed)
		}
	})
	c.metrics.Failover(api.ResultSuccess)
	c.log.Warn("failover done", "cluster", d.Cluster, "new_primary", res.NewPrimary, "took", res.Duration, "lost", res.Lost, "problems", res.Problems)
	return res, nil
}

// writersChanging is the region whose leases must end before moving from
// old to new primaries: the one whose lease names another node under
// new. "" when no lease changes.
func (c *Controller) writersChanging(old, new topology.Primaries) string {
	now := c.now()
	before, after := c.leases.primaries(old, now), c.leases.primaries(new, now)
	for scope, primary := range before {
		if after[scope] != primary {
			if scope == "" {
				return c.topo.NodeRegion(primary)
			}
			return scope
		}
	}
	return ""
}

// relayReadTimeout bounds reading the survivors' replication status
// before a decision.
const relayReadTimeout = time.Second

// readRelays reads, side by side, each survivor's SHOW SLAVE STATUS of
// its channel from the failed primary: what it received (Gtid_IO_Pos) may
// have grown since the snapshot. A node that cannot be read in time is
// left out: Choose then takes it to have received what it holds, and the
// snapshot's own reading stands for it.
func (c *Controller) readRelays(ctx context.Context, s snapshot.Snapshot, failed string) map[string]node.ReplicaStatus {
	ctx, cancel := context.WithTimeout(ctx, relayReadTimeout)
	defer cancel()
	var mu sync.Mutex
	out := map[string]node.ReplicaStatus{}
	var wg sync.WaitGroup
	for _, n := range s.Nodes {
		conn := ""
		for _, ch := range n.Replication {
			if ch.SourceNode == failed {
				conn = ch.Connection
			}
		}
		if !n.Up || conn == "" {
			continue
		}
		wg.Go(func() {
			cl, err := node.Open(ctx, c.cfg.Monitor.Endpoints.Admin(n.Name))
			if err != nil {
				return
			}
			defer cl.Close()
			channels, err := cl.Replicas(ctx)
			if err != nil {
				return
			}
			for _, rs := range channels {
				if rs.Connection == conn {
					mu.Lock()
					out[n.Name] = rs
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return out
}

// rejoin fences a returning old primary at once, then rejoins it under the
// current primaries, or keeps it out with its errant transactions.
func (c *Controller) rejoin(ctx context.Context, name string) {
	c.mu.Lock()
	fenced := c.fenced[name]
	c.mu.Unlock()
	if !fenced {
		if err := c.exec.Fence(ctx, name); err != nil {
			c.log.Error("returning old primary not fenced", "node", name, "err", err)
			return
		}
		c.mu.Lock()
		c.fenced[name] = true
		c.mu.Unlock()
		c.log.Warn("returning old primary fenced (read_only=ON)", "node", name)
	}
	res, err := c.exec.Rejoin(ctx, name, c.stateNow().Primaries)
	if err != nil {
		c.refuse("rejoin/"+name, c.clusterOf(name), "rejoin", err.Error(), res)
		return
	}
	c.mu.Lock()
	delete(c.fenced, name)
	c.mu.Unlock()
	c.updateState(func(st *State) {
		st.Returning = slices.DeleteFunc(st.Returning, func(n string) bool { return n == name })
		if !res.Rejoined {
			if st.KeptOut == nil {
				st.KeptOut = map[string][]string{}
			}
			st.KeptOut[name] = res.Errant
		}
	})
	if res.Rejoined {
		c.log.Info("old primary rejoined as a replica", "node", name, "reason", res.Reason)
	} else {
		c.log.Warn("old primary kept out: it holds transactions the new primary lacks", "node", name, "errant", res.Errant, "reason", res.Reason)
	}
}

// clusterOf is the name of the node's cluster.
func (c *Controller) clusterOf(name string) string {
	_, cl, _ := c.topo.Node(name)
	return cl.Name
}
