package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/failover"
	"github.com/meridian-geo/meridian/internal/recovery"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// ErrNotActing: the controller has no credentials to act with.
var ErrNotActing = errors.New("this controller only watches: it was started without credentials to act with")

// ErrUnknown is a request naming no node, region or cluster of the
// topology.
var ErrUnknown = errors.New("unknown")

// Switchover moves the primary to target, a node or a region (that
// region's primary), without losing an acknowledged write: see
// recovery.Executor.Switchover. While it runs the write lease is revoked:
// routers hold new writes (up to their write_hold, then MariaDB error
// 1290) until they are granted the new primary's lease.
func (c *Controller) Switchover(ctx context.Context, target string) (recovery.SwitchoverResult, error) {
	if c.exec == nil {
		return recovery.SwitchoverResult{}, ErrNotActing
	}
	c.act.Lock()
	defer c.act.Unlock()
	from := c.stateNow().Primaries
	to, err := switchoverTarget(c.topo, from, target, c.now())
	if err != nil && !errors.Is(err, ErrUnknown) {
		err = &errRefused{err.Error()}
	}
	if err != nil {
		c.record(audit.Entry{Kind: audit.KindRefusal, Step: "switchover", Node: target, Error: err.Error()})
		c.metrics.Switchover(api.ResultRefused)
		return recovery.SwitchoverResult{}, err
	}
	return c.switchover(ctx, from, to, "operator: switchover to "+target)
}

// switchover runs one switchover from → to. Hold revokes the lease and
// waits until every router holding it has been told (or its lease ran
// out); Resume makes to the primaries everywhere and grants its lease. A
// switchover rolled back after Hold gives the lease back to from.
func (c *Controller) switchover(ctx context.Context, from, to topology.Primaries, why string) (recovery.SwitchoverResult, error) {
	region := c.writersChanging(from, to)
	held := false
	opts := recovery.SwitchoverOptions{
		MaxLag: c.cfg.Failover.MaxLag,
		Hold: func() {
			held = true
			if region == "" {
				return
			}
			if err := c.leases.revoke(ctx, region); err != nil {
				c.log.Warn("switchover: routers not all told to hold", "err", err)
			}
		},
		Resume: func() { c.setPrimaries(to, nil) },
	}
	c.log.Info("switchover", "from", from, "to", to, "why", why)
	res, err := c.exec.Switchover(ctx, from, to, opts)
	switch {
	case err == nil:
		c.metrics.Switchover(api.ResultSuccess)
		c.log.Info("switchover done", "new_primary", res.NewPrimary, "write_pause", res.WritePause, "took", res.Duration)
	case IsRefused(err):
		if held {
			c.setPrimaries(from, nil)
		}
		c.metrics.Switchover(api.ResultRefused)
	default:
		c.metrics.Switchover(api.ResultFailed)
	}
	return res, err
}

// switchoverTarget is the primaries after a switchover to target: a node
// becomes its cluster's primary (and its region the primary region when
// it is elsewhere); a region's current primary node makes it the primary
// region.
func switchoverTarget(t *topology.Topology, from topology.Primaries, target string, now time.Time) (topology.Primaries, error) {
	to := topology.Primaries{Region: from.Region, Nodes: maps.Clone(from.Nodes)}
	if to.Nodes == nil {
		to.Nodes = map[string]string{}
	}
	region := target
	if _, cl, ok := t.Node(target); ok {
		region = t.NodeRegion(target)
		if home, _ := t.HomeCluster(region); home.Name != cl.Name {
			return from, fmt.Errorf("switchover to %s: cluster %s is not region %s's home cluster", target, cl.Name, region)
		}
		to.Nodes[cl.Name] = target
	} else if _, ok := t.Region(target); !ok {
		return from, fmt.Errorf("switchover to %q: %w node or region", target, ErrUnknown)
	} else if _, ok := t.HomeCluster(target); !ok {
		return from, fmt.Errorf("switchover to %s: the region has no home cluster to take writes", target)
	}
	if t.Architecture != topology.ActiveActive && region != t.PrimaryRegionFor(now, from) {
		to.Region = region
	} else if t.Architecture == topology.ActiveActive && target == region {
		return from, fmt.Errorf("switchover to %s: in active-active every region writes already; name a node", target)
	}
	if writersUnder(t, from, now) == writersUnder(t, to, now) {
		return from, fmt.Errorf("switchover to %s: it is already the primary", target)
	}
	return to, nil
}

// Failover replaces the primary that writes for region (active-active:
// the region's own; otherwise the estate's) by the most advanced node of
// region, on an operator's word. Without force it refuses when that is
// unsafe: the primary is not confirmed dead (a switchover loses nothing),
// or transactions would be lost. Choose's own refusals (no candidate)
// hold even with force.
func (c *Controller) Failover(ctx context.Context, region string, force bool) (recovery.Result, error) {
	if c.exec == nil {
		return recovery.Result{}, ErrNotActing
	}
	if _, ok := c.topo.Region(region); !ok {
		return recovery.Result{}, fmt.Errorf("failover to %q: %w region", region, ErrUnknown)
	}
	c.act.Lock()
	defer c.act.Unlock()
	s := c.monitor.Snapshot()
	p := c.stateNow().Primaries
	f, ok := c.primaryFinding(s, p, region)
	if !ok {
		return recovery.Result{}, &errRefused{fmt.Sprintf("failover to %s: no primary to replace", region)}
	}
	refuse := func(reason string, detail any) (recovery.Result, error) {
		c.record(audit.Entry{Kind: audit.KindRefusal, Cluster: f.Cluster, Step: "manual-failover", Node: f.Primary, Detail: detail, Error: reason})
		c.metrics.Failover(api.ResultRefused)
		return recovery.Result{Cluster: f.Cluster}, &errRefused{reason}
	}
	if reason := unconfirmed(f); reason != "" {
		if !force {
			return refuse(reason+"; --force to fail over anyway", f)
		}
		f.Kind, f.Confirmed = failover.PrimaryDead, true
		f.Reasons = append(f.Reasons, "forced by an operator: "+reason)
	}
	policy := c.cfg.Failover.Policy
	policy.RegionOrder = []string{region}
	d, err := c.decide(ctx, s, f, policy, false)
	if err != nil {
		return recovery.Result{Cluster: f.Cluster, Action: d.Action}, err
	}
	if len(d.AtRisk) > 0 && !force {
		return refuse(fmt.Sprintf("promoting %s would lose %s that %s logged; --force to accept the loss", d.Candidate, strings.Join(d.AtRisk, ", "), d.Failed), d)
	}
	c.record(audit.Entry{Kind: audit.KindFailover, Cluster: f.Cluster, Step: "manual", Node: d.Candidate, Detail: d})
	return c.carryOut(ctx, d)
}

// writersUnder names the nodes the layout under p makes writable, as one
// comparable string.
func writersUnder(t *topology.Topology, p topology.Primaries, now time.Time) string {
	l := t.LayoutFor(now, p)
	var names []string
	for _, n := range t.Nodes() {
		if l.Writable[n.Name] {
			names = append(names, n.Name)
		}
	}
	return strings.Join(names, ",")
}

// primaryFinding is this round's finding for the cluster whose primary
// writes for region: the region's own in active-active, the estate's
// otherwise.
func (c *Controller) primaryFinding(s snapshot.Snapshot, p topology.Primaries, region string) (failover.Finding, bool) {
	writer := region
	if c.topo.Architecture != topology.ActiveActive {
		writer = c.topo.PrimaryRegionFor(c.now(), p)
	}
	primary := c.topo.LinkNodeFor(writer, p)
	for _, f := range c.detector.Observe(s, p) {
		if f.Primary == primary {
			return f, true
		}
	}
	return failover.Finding{}, false
}

// unconfirmed says why a finding does not justify a failover by itself.
func unconfirmed(f failover.Finding) string {
	switch {
	case f.Kind == failover.Healthy:
		return fmt.Sprintf("%s is up and reachable: a failover would lose what it has not sent yet; a switchover (meridian switchover) loses nothing", f.Primary)
	case f.Kind == failover.PrimaryUnreachable:
		return fmt.Sprintf("%s is unreachable from the controller but alive by its witnesses: %s", f.Primary, strings.Join(f.Reasons, "; "))
	case !f.Confirmed:
		return fmt.Sprintf("%s is %s but not confirmed yet (%d failed intervals)", f.Primary, f.Kind, f.FailedIntervals)
	}
	return ""
}

// Ack is an operator's acknowledgement of a cluster's failover: the next
// automatic failover of it may run at once.
func (c *Controller) Ack(cluster string) error {
	found := false
	for _, cl := range c.topo.Clusters {
		found = found || cl.Name == cluster
	}
	if !found {
		return fmt.Errorf("ack %q: %w cluster", cluster, ErrUnknown)
	}
	c.guard.Ack(cluster)
	c.mu.Lock()
	delete(c.refused, cluster)
	c.mu.Unlock()
	c.record(audit.Entry{Kind: audit.KindAck, Cluster: cluster, Detail: "an operator acknowledged: automatic failovers may run again"})
	c.log.Info("acknowledged", "cluster", cluster)
	return nil
}
