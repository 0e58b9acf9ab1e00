// Package lease is write permission as a lease: the controller grants the
// routers the right to send writes to one primary for a short while, and
// they renew it every interval. A router cut off from the controller (a
// partition) stops writing when its lease runs out, and the controller
// promotes elsewhere only once every lease it granted for the old primary
// has expired: at no moment may two primaries take writes through Meridian.
//
// Both clocks are the local monotonic ones. The holder counts its lease
// from the moment it sent the renewal, before the controller granted it,
// so the holder's lease always ends before the controller's record of it.
package lease

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-geo/meridian/internal/broadcast"
)

// DefaultDuration is how long a grant lasts when nothing else is set:
// three renewals at the monitor's default 1 s interval may fail before a
// router stops writing.
const DefaultDuration = 3 * time.Second

// Grant is one renewal's answer: writes may go to Primary for ValidFor.
type Grant struct {
	Primary string `json:"primary"`
	// Epoch changes with every change of primary.
	Epoch    uint64        `json:"epoch"`
	ValidFor time.Duration `json:"valid_for_ns"`
}

// Ledger is the controller's side: it grants leases for the current
// primary and remembers until when any of them may still be in use.
// Safe for concurrent use.
type Ledger struct {
	mu       sync.Mutex
	duration time.Duration
	primary  string
	epoch    uint64
	held     bool // false while revoked: no grants
	// until is the latest end of any grant issued so far.
	until time.Time
}

// NewLedger grants leases of duration d (DefaultDuration when 0) for primary.
func NewLedger(primary string, d time.Duration) *Ledger {
	if d <= 0 {
		d = DefaultDuration
	}
	return &Ledger{duration: d, primary: primary, epoch: 1, held: primary != ""}
}

// Duration is how long each grant lasts.
func (l *Ledger) Duration() time.Duration { return l.duration }

// Renew grants a lease from now; ok is false while no primary may be
// written to (revoked, or none).
func (l *Ledger) Renew(now time.Time) (Grant, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		return Grant{Epoch: l.epoch}, false
	}
	if end := now.Add(l.duration); end.After(l.until) {
		l.until = end
	}
	return Grant{Primary: l.primary, Epoch: l.epoch, ValidFor: l.duration}, true
}

// Revoke stops granting (a failover or switchover is under way) and
// returns when the last lease already granted ends.
func (l *Ledger) Revoke() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held = false
	return l.until
}

// Grant starts granting leases for a new primary (a new epoch).
func (l *Ledger) Grant(primary string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	l.primary = primary
	l.held = primary != ""
}

// State is the primary leases are granted for, whether they are, and the
// end of the last one granted.
func (l *Ledger) State() (primary string, granting bool, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.primary, l.held, l.until
}

// Holder is a router's side: the lease it holds now. Valid is lock-free,
// for the router's hot path; Changed lets a held write wait for the next
// renewal without polling.
type Holder struct {
	p       atomic.Pointer[held]
	changed broadcast.Next
}

type held struct {
	grant Grant
	until time.Time
}

// Renewed records a grant answering a renewal sent at sentAt.
func (h *Holder) Renewed(sentAt time.Time, g Grant) {
	h.p.Store(&held{grant: g, until: sentAt.Add(g.ValidFor)})
	h.changed.Fire()
}

// Lost forgets the lease (the controller refused to renew it).
func (h *Holder) Lost() {
	h.p.Store(nil)
	h.changed.Fire()
}

// Changed is closed at the next Renewed or Lost. Take it before checking
// Valid, so that a renewal between the check and the wait is not missed.
func (h *Holder) Changed() <-chan struct{} { return h.changed.Chan() }

// Valid returns the primary writes may go to now; ok is false when the
// lease has run out or none was ever granted.
func (h *Holder) Valid(now time.Time) (primary string, ok bool) {
	c := h.p.Load()
	if c == nil || c.grant.Primary == "" || !now.Before(c.until) {
		return "", false
	}
	return c.grant.Primary, true
}

// Until is when the held lease ends (zero when none is held).
func (h *Holder) Until() time.Time {
	if c := h.p.Load(); c != nil {
		return c.until
	}
	return time.Time{}
}
