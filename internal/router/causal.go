package router

// Causal reads: a read sent to a replica first makes the replica catch up
// with the writes it must see, or goes to the primary.
//
// Backends of a service with causal reads track last_gtid (see restore),
// so every write's OK packet names the GTID it committed with; sessions
// collect those GTIDs (and, in global mode, the service merges every
// session's). Before a read on a replica, the session runs
// MASTER_GTID_WAIT for that position on the replica's own connection,
// quietly, unless that connection already waited for as much. The wait
// follows gtid_slave_pos, what the replica has applied, which is what a
// read there sees. On a timeout or an error the read goes to the primary,
// which has every write it committed.

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// CausalMode is whose writes a read must see (the causal_reads option).
type CausalMode string

const (
	// CausalDefault is the mode a service gets when none is chosen:
	// CausalLocal, so that a session reads its own writes.
	CausalDefault CausalMode = ""
	// CausalOff reads whatever the replica has.
	CausalOff CausalMode = "none"
	// CausalLocal makes a read see the session's own writes. It costs
	// nothing to a session that wrote nothing.
	CausalLocal CausalMode = "local"
	// CausalGlobal makes a read see every write any session of the service
	// committed before it, per GTID domain.
	CausalGlobal CausalMode = "global"
)

// defaultCausalTimeout bounds a replica's wait when causal_reads_timeout
// is not set. A healthy replica applies a write about when its OK reaches
// the router, so a real wait is short even over a WAN; a replica still
// behind after half a second is lagging, and the read is better served by
// the primary, whose round trip it has already exceeded on any link
// Meridian spans.
const defaultCausalTimeout = 500 * time.Millisecond

// causalOption reads the causal_reads option: none (or false), local (or
// true), global.
func causalOption(v any) (CausalMode, error) {
	switch v := v.(type) {
	case string:
		if m := CausalMode(v); m == CausalLocal || m == CausalGlobal || m == CausalOff {
			return m, nil
		}
	}
	on, err := boolOption(v)
	if err != nil {
		return CausalOff, fmt.Errorf("%v is not none (false), local (true) or global", v)
	}
	if on {
		return CausalLocal, nil
	}
	return CausalOff, nil
}

// causalTimeout is how long a replica may wait for a read's position.
func (c ServiceConfig) causalTimeout() time.Duration {
	if c.CausalReadsTimeout > 0 {
		return c.CausalReadsTimeout
	}
	return defaultCausalTimeout
}

// committedGTIDs is the newest GTID per domain that a service's sessions
// saw committed: what a read of a global causal service waits for. Writers
// replace the position copy-on-write, so readers never wait; GTIDs only
// move forward within a domain, so a writer that lost a race retries only
// while its GTID is still news.
type committedGTIDs struct{ p atomic.Pointer[gtid.Position] }

// add merges g into the position unless it already holds as much.
func (c *committedGTIDs) add(g gtid.GTID) {
	for {
		old := c.p.Load()
		var cur gtid.Position
		if old != nil {
			cur = *old
		}
		if cur.Seq(g.Domain) >= g.Seq {
			return
		}
		next := gtid.Furthest(cur, gtid.Position{g.Domain: g})
		if c.p.CompareAndSwap(old, &next) {
			return
		}
	}
}

// position is the position now; it must not be changed.
func (c *committedGTIDs) position() gtid.Position {
	if p := c.p.Load(); p != nil {
		return *p
	}
	return nil
}

// noteWrite records the GTID a write of the session committed with.
func (s *session) noteWrite(text string) {
	g, err := gtid.ParseGTID(text)
	if err != nil {
		s.log.Warn("ignoring a last_gtid the router cannot read", "err", err)
		return
	}
	if s.written.Seq(g.Domain) < g.Seq {
		s.written = gtid.Furthest(s.written, gtid.Position{g.Domain: g})
	}
	if s.svc.cfg.CausalReads == CausalGlobal {
		s.svc.committed.add(g)
	}
}

// mustSee is the position a read of the session must see.
func (s *session) mustSee() gtid.Position {
	switch s.svc.cfg.CausalReads {
	case CausalLocal:
		return s.written
	case CausalGlobal:
		return s.svc.committed.position()
	}
	return nil
}

// causalRead is the backend a read chosen for replica b goes to: b once
// it has applied what the read must see, else the primary. A transaction
// open on b reads its own snapshot, which no wait would change.
func (s *session) causalRead(v View, b *backend) (*backend, error) {
	want := s.mustSee()
	if b.reached.Contains(want) || b.inTx {
		return b, nil
	}
	if s.looping() {
		return nil, errWouldBlock
	}
	reached, err := s.waitFor(b, want)
	switch {
	case err != nil:
		s.log.Info("causal read: replica wait failed, reading from the primary", "node", b.node, "gtid", want.String(), "err", err)
		var refused *protocol.ServerError
		if !errors.As(err, &refused) {
			s.drop(b) // the connection is broken
		}
		return s.primaryBackend(v)
	case !reached:
		s.log.Debug("causal read: replica behind, reading from the primary", "node", b.node, "gtid", want.String())
		return s.primaryBackend(v)
	}
	b.reached = gtid.Furthest(b.reached, want)
	return b, nil
}

// waitFor makes b's server wait until it has applied want, up to the
// service's timeout, and reports whether it got there. The statement
// returns a row only when MASTER_GTID_WAIT returns 0 (reached; -1 is a
// timeout), so the quiet relay need only count rows.
func (s *session) waitFor(b *backend, want gtid.Position) (bool, error) {
	var tally protocol.Tally
	s.quiet.Tally = &tally
	out, err := s.exec(b, append([]byte{protocol.ComQuery}, waitStatement(want, s.svc.cfg.causalTimeout())...))
	s.quiet.Tally = nil
	if err != nil {
		return false, err
	}
	if out.Err != nil {
		return false, out.Err
	}
	return tally.Rows == 1, nil
}

// waitStatement is the query that waits for pos, as a whole position so
// that every domain is waited on at once. A position prints digits,
// dashes and commas only: it needs no escaping.
func waitStatement(pos gtid.Position, timeout time.Duration) string {
	return "SELECT 1 FROM DUAL WHERE MASTER_GTID_WAIT('" + pos.String() + "', " +
		strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64) + ") = 0"
}
