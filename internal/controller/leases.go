package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/lease"
	"github.com/meridian-geo/meridian/internal/topology"
)

// leases are the write leases the controller grants the routers.
//
// A lease names the one node a router may send writes to. Outside
// active-active every region's routers write to the same primary (through
// the WAN from the other regions), so one ledger serves the whole estate
// and a failover or switchover revokes it everywhere at once. In
// active-active each region writes to its own primary and fails over on
// its own: each region has its own ledger, and revoking one leaves the
// others writing.
type leases struct {
	topo     *topology.Topology
	duration time.Duration

	mu      sync.Mutex
	ledgers map[string]*lease.Ledger // by scope: a region in active-active, "" otherwise
	holders map[holderKey]*holder
}

type holderKey struct{ scope, region, service string }

// holder is what the controller knows of one router's lease.
type holder struct {
	// until is when the last lease granted to it ends at the latest.
	until time.Time
	// refusals counts renewals refused since the last revocation. After
	// two, the router has processed the first (it renews one request at a
	// time): it holds no lease any more.
	refusals int
}

func newLeases(t *topology.Topology, d time.Duration, p topology.Primaries, now time.Time) *leases {
	l := &leases{topo: t, duration: d, ledgers: map[string]*lease.Ledger{}, holders: map[holderKey]*holder{}}
	for scope, primary := range l.primaries(p, now) {
		l.ledgers[scope] = lease.NewLedger(primary, d)
	}
	return l
}

// scope is the ledger a region's routers renew with.
func (l *leases) scope(region string) string {
	if l.topo.Architecture == topology.ActiveActive {
		return region
	}
	return ""
}

// primaries is, per scope, the node leases name under p.
func (l *leases) primaries(p topology.Primaries, now time.Time) map[string]string {
	out := map[string]string{}
	for _, region := range l.topo.WritableRegionsFor(now, p) {
		out[l.scope(region)] = l.topo.LinkNodeFor(region, p)
	}
	if _, ok := out[""]; !ok && l.topo.Architecture != topology.ActiveActive {
		out[""] = ""
	}
	return out
}

// renew answers one router's renewal; the error says why no lease is
// granted.
func (l *leases) renew(region, service string, now time.Time) (lease.Grant, error) {
	if _, ok := l.topo.Region(region); !ok {
		return lease.Grant{}, fmt.Errorf("%q is not a region of %s", region, l.topo.Name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	scope := l.scope(region)
	ledger := l.ledgers[scope]
	key := holderKey{scope, region, service}
	h := l.holders[key]
	if h == nil {
		h = &holder{}
		l.holders[key] = h
	}
	if ledger == nil {
		h.refusals++
		return lease.Grant{}, fmt.Errorf("region %s takes no writes now", region)
	}
	g, ok := ledger.Renew(now)
	if !ok {
		h.refusals++
		return g, fmt.Errorf("no write lease: a failover or switchover is under way (epoch %d)", g.Epoch)
	}
	h.until, h.refusals = now.Add(g.ValidFor), 0
	return g, nil
}

// revoke stops granting the scope of region's leases and waits until no
// router can still write under one: every router that may hold a lease has
// been refused twice, or its lease has ended, whichever comes first. A
// router cut off from the controller is never told; its lease runs out.
func (l *leases) revoke(ctx context.Context, region string) error {
	scope := l.scope(region)
	l.mu.Lock()
	ledger := l.ledgers[scope]
	if ledger != nil {
		ledger.Revoke()
	}
	for k, h := range l.holders {
		if k.scope == scope {
			h.refusals = 0
		}
	}
	l.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !l.released(scope, time.Now()) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the write leases to end: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// released reports whether no router of the scope may still hold a lease.
func (l *leases) released(scope string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ledger := l.ledgers[scope]; ledger != nil {
		if _, _, until := ledger.State(); !now.Before(until) {
			return true
		}
	}
	for k, h := range l.holders {
		if k.scope == scope && now.Before(h.until) && h.refusals < 2 {
			return false
		}
	}
	return true
}

// grant makes every scope grant leases for its primary under p (a new
// epoch where the primary changed, or where the scope was revoked).
func (l *leases) grant(p topology.Primaries, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for scope, primary := range l.primaries(p, now) {
		ledger := l.ledgers[scope]
		if ledger == nil {
			l.ledgers[scope] = lease.NewLedger(primary, l.duration)
			continue
		}
		if current, granting, _ := ledger.State(); current != primary || !granting {
			ledger.Grant(primary)
		}
	}
}

// LeaseState is one ledger as the API shows it.
type LeaseState struct {
	// Region is the primary's region (the ledger's region in active-active).
	Region   string `json:"region"`
	Primary  string `json:"primary"`
	Granting bool   `json:"granting"`
	// ExpiresIn is how long the last lease granted may still be used.
	ExpiresIn time.Duration `json:"expires_in_ns"`
}

// states lists the ledgers in region order.
func (l *leases) states(now time.Time) []LeaseState {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LeaseState
	for _, scope := range slices.Sorted(maps.Keys(l.ledgers)) {
		primary, granting, until := l.ledgers[scope].State()
		region := scope
		if region == "" {
			region = l.topo.NodeRegion(primary)
		}
		out = append(out, LeaseState{Region: region, Primary: primary, Granting: granting, ExpiresIn: max(0, until.Sub(now))})
	}
	return out
}
