package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/recovery"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// scheduleMove is the follow-the-sun move due at now under p: the region
// whose window is in force while the primary is elsewhere, and when that
// window began. ok is false when no move is due (or there is no schedule).
func scheduleMove(t *topology.Topology, p topology.Primaries, now time.Time) (region string, windowStart time.Time, ok bool) {
	if t.Architecture != topology.FollowTheSun {
		return "", time.Time{}, false
	}
	w, _, _ := t.WindowAt(now)
	if w.Region == "" || w.Region == t.PrimaryRegionFor(now, p) {
		return "", time.Time{}, false
	}
	now = now.UTC()
	start := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).Add(time.Duration(w.From) * time.Minute)
	if start.After(now) { // a window wrapping past midnight began yesterday
		start = start.Add(-24 * time.Hour)
	}
	return w.Region, start, true
}

// moveRefusal says why the primary must not move to region now, from the
// snapshot: its link node down, holding errant transactions, not
// replicating from the current primary, or further behind than maxLag.
func moveRefusal(t *topology.Topology, s snapshot.Snapshot, p topology.Primaries, region string, maxLag time.Duration) string {
	target := t.LinkNodeFor(region, p)
	source := t.LinkNodeFor(t.PrimaryRegionFor(s.At, p), p)
	n, ok := s.Node(target)
	switch {
	case !ok || !n.Up:
		return fmt.Sprintf("region %s is unhealthy: %s is down (%s)", region, target, n.Error)
	case len(n.Errant) > 0:
		return fmt.Sprintf("%s holds errant transactions %v", target, n.Errant)
	}
	for _, ch := range n.Replication {
		if ch.SourceNode != source {
			continue
		}
		switch {
		case !ch.Healthy():
			return fmt.Sprintf("%s's replication from %s is broken (IO %s, SQL running %v)", target, source, ch.IORunning, ch.SQLRunning)
		case ch.LagSeconds == nil:
			return fmt.Sprintf("%s's lag behind %s is unknown", target, source)
		case time.Duration(*ch.LagSeconds*float64(time.Second)) > maxLag:
			return fmt.Sprintf("%s is %.1fs behind %s (at most %s)", target, *ch.LagSeconds, source, maxLag)
		}
		return ""
	}
	return fmt.Sprintf("%s does not replicate from the primary %s", target, source)
}

// followSchedule moves the primary when a window has begun elsewhere, or
// skips that window's move, audited and alerted, when the region is not
// fit to take it.
func (c *Controller) followSchedule(ctx context.Context, s snapshot.Snapshot) {
	p := c.stateNow().Primaries
	region, start, due := scheduleMove(c.topo, p, s.At)
	c.mu.Lock()
	skipped := c.skipped.Equal(start)
	c.mu.Unlock()
	if !due || skipped {
		return
	}
	maxLag := c.cfg.Failover.MaxLag
	if maxLag <= 0 {
		maxLag = recovery.DefaultMaxLag
	}
	if reason := moveRefusal(c.topo, s, p, region, maxLag); reason != "" {
		c.postpone(region, start, reason)
		return
	}
	to := topology.Primaries{Region: region, Nodes: p.Nodes}
	if _, err := c.switchover(ctx, p, to, fmt.Sprintf("follow-the-sun: %s's window began at %s", region, start.Format("15:04"))); err != nil {
		c.skipWindow(region, start, err.Error())
	}
}

// postpone defers a move whose target is not fit now (replication still
// reconnecting after the last move, a lagging region): it is tried again
// every round while the window lasts, and audited and counted once per
// window, so an operator hears of a region that never becomes fit.
func (c *Controller) postpone(region string, start time.Time, reason string) {
	reason = fmt.Sprintf("follow-the-sun move to %s (window from %s UTC) postponed: %s", region, start.Format("15:04"), reason)
	c.mu.Lock()
	first := !c.postponed.Equal(start)
	c.postponed = start
	c.mu.Unlock()
	if first {
		c.metrics.ScheduleSkip()
	}
	c.refuse("schedule", "", "schedule", reason, map[string]any{"region": region, "window_start": start})
}

// skipWindow gives up a window's move after a failed switchover.
func (c *Controller) skipWindow(region string, start time.Time, reason string) {
	c.mu.Lock()
	c.skipped = start
	c.mu.Unlock()
	c.metrics.ScheduleSkip()
	reason = fmt.Sprintf("follow-the-sun move to %s (window from %s UTC) skipped: %s", region, start.Format("15:04"), reason)
	c.log.Warn("schedule move skipped", "region", region, "reason", reason)
	c.record(audit.Entry{Kind: audit.KindRefusal, Step: "schedule", Detail: map[string]any{"region": region, "window_start": start}, Error: reason})
}

// ScheduleStatus is the follow-the-sun schedule as the API shows it.
type ScheduleStatus struct {
	Windows []topology.Window `json:"windows"`
	// Window is the region whose window is in force; Primary the region
	// that takes writes (they differ while a move is skipped or running).
	Window  string `json:"window"`
	Primary string `json:"primary"`
	// NextRegion moves in at NextMove.
	NextRegion string    `json:"next_region"`
	NextMove   time.Time `json:"next_move"`
	// Skipped is the start of the window whose move was skipped, if any.
	Skipped time.Time `json:"skipped,omitzero"`
}

func (c *Controller) scheduleStatus(p topology.Primaries, now time.Time) *ScheduleStatus {
	if c.topo.Architecture != topology.FollowTheSun {
		return nil
	}
	w, next, start := c.topo.WindowAt(now)
	c.mu.Lock()
	skipped := c.skipped
	c.mu.Unlock()
	return &ScheduleStatus{Windows: c.topo.Schedule, Window: w.Region, Primary: c.topo.PrimaryRegionFor(now, p),
		NextRegion: next.Region, NextMove: start, Skipped: skipped}
}
