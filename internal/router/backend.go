package router

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/router/classify"
	"github.com/meridian-geo/meridian/internal/router/netloop"
	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// MariaDB error codes the router answers with itself.
const (
	erAccessDenied            = 1045
	erBadDB                   = 1049
	erUnknownError            = 1105
	erUnknownStmtHandler      = 1243
	erOptionPreventsStatement = 1290
	erNoOpenCursor            = 1421
	erConnectionKilled        = 1927
)

// backend is one connection a session opened to a node.
type backend struct {
	node, addr string
	owner      *session
	raw        net.Conn
	// sock is the connection's socket on the session's event loop, once
	// the session runs on one (loop.go).
	sock  *netloop.Socket
	conn  *protocol.Conn
	caps  uint32
	stats *nodeCounters
	// stmts maps the client's statement ids to this backend's.
	stmts map[uint32]backendStmt
	// inTx is whether the server reported a transaction open last time.
	inTx bool
	// reached is what this connection's server is known to have applied
	// (causal reads waited for it), so that a read needs no wait again.
	reached gtid.Position
	// usedIn is the client command (session.commands) during which the
	// router last sent this connection something.
	usedIn uint64
	closed bool
}

// use notes that the client's current command uses the connection.
func (b *backend) use() { b.usedIn = b.owner.commands }

// backendStmt is a statement as prepared on one backend.
type backendStmt struct {
	id uint32
	// typed records that this backend has the parameter types: an execute
	// may then omit them, as clients do after the first one.
	typed bool
}

// quit says goodbye to the server and closes the connection.
func (b *backend) quit() {
	if b.closed {
		return
	}
	b.conn.ResetSeq()
	b.conn.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	if b.conn.WritePacket([]byte{protocol.ComQuit}) == nil {
		b.conn.Flush()
	}
	b.close()
}

func (b *backend) close() {
	if !b.closed {
		b.closed = true
		b.conn.Close()
		b.owner.track(b.raw, false)
		if b.sock != nil {
			b.owner.track(shutdownOnKill{b.sock}, false)
		}
		b.stats.conns.Add(-1)
	}
}

// open lists the session's open backend connections.
func (s *session) open() []*backend {
	var out []*backend
	for _, b := range []*backend{s.primary, s.replica, s.other} {
		if b != nil {
			out = append(out, b)
		}
	}
	return out
}

// drop closes one of the session's backend connections.
func (s *session) drop(b *backend) {
	b.quit()
	switch b {
	case s.primary:
		s.primary = nil
	case s.replica:
		s.replica = nil
	case s.other:
		s.other = nil
	}
}

// dropAll closes every backend connection (a new identity, a lost session).
func (s *session) dropAll() {
	for _, b := range s.open() {
		b.quit()
	}
	s.primary, s.replica, s.last = nil, nil, nil
	s.bound, s.other = "", nil
}

// errTxLost is the answer when the node a transaction ran on is gone or no
// longer the one to use.
func errTxLost(role string) error {
	return &protocol.ServerError{Code: erConnectionKilled, State: "70100",
		Message: "meridian: " + role + " lost during transaction; transaction rolled back"}
}

// backendFor is the backend a routed statement goes to. A statement that
// reads what the previous one left (LAST_INSERT_ID(), SHOW WARNINGS, the
// statements of a read-only transaction) goes where that one ran.
func (s *session) backendFor(d classify.Decision) (*backend, error) {
	v := s.svc.view.View()
	if s.binding != nil {
		return s.boundBackend(v)
	}
	if d.Class.SameBackend && s.last != nil && !s.last.closed {
		if s.last == s.primary {
			return s.primaryBackend(v)
		}
		if current(v, s.last.node, s.last.addr) {
			return s.last, nil
		}
		if s.cls.ReadOnlyTransaction() {
			s.drop(s.last)
			s.endTransaction()
			return nil, errTxLost("replica")
		}
	}
	if d.Route == classify.Replica {
		return s.readBackend(v)
	}
	return s.primaryBackend(v)
}

// inTransactionOn reports whether the session's open transaction runs on b.
func (s *session) inTransactionOn(b *backend) bool {
	return s.cls.InTransaction() && s.last == b
}

// endTransaction tells the classifier that the server ended the session's
// transaction without the client's COMMIT or ROLLBACK.
func (s *session) endTransaction() {
	s.status &^= protocol.StatusInTrans | protocol.StatusInTransReadOnly
	s.cls.ObserveServerStatus(false, s.status&protocol.StatusAutocommit != 0)
}

// primaryBackend is the session's connection to the current primary,
// opened (or reopened after the primary moved) when needed. A transaction
// that ran on a primary that moved, or whose lease lapsed, is replayed on
// the new primary when it can be (replay.go); otherwise it is lost, and
// the client is told so. While no primary can be reached (it died and the
// controller has not failed over yet) the statement is held, up to the
// write hold, for the view to name one that answers.
func (s *session) primaryBackend(v View) (*backend, error) {
	var held time.Time
	for {
		b, err := s.primaryOnce(v)
		if err == nil || !unreachable(err) || s.looping() {
			if err != nil {
				s.abandonReplay()
			}
			return b, err
		}
		if held.IsZero() {
			held = time.Now()
			s.svc.replay.holds.Add(1)
		}
		if time.Since(held) >= s.svc.writeHold {
			s.svc.replay.holdTimeouts.Add(1)
			s.abandonReplay()
			return nil, err
		}
		time.Sleep(viewRecheck)
		v = s.svc.view.View()
	}
}

// unreachable reports whether a failure to open the primary's connection
// is one a failover may cure: no primary, or one that does not answer
// (not a server's refusal of the login).
func unreachable(err error) bool {
	var se *protocol.ServerError
	return errors.Is(err, errNoPrimary) || (!errors.As(err, &se) && !errors.Is(err, errWouldBlock) && !errors.Is(err, net.ErrClosed))
}

// primaryOnce is one attempt of primaryBackend.
func (s *session) primaryOnce(v View) (*backend, error) {
	if !leaseAllows(v, time.Now()) {
		if s.looping() {
			return nil, errWouldBlock
		}
		if b := s.primary; b != nil && s.inTransactionOn(b) {
			// Its COMMIT must not reach a primary the lease no longer
			// covers: closing the connection rolls the transaction back.
			s.drop(b)
			if !s.replayLater() {
				s.endTransaction()
				return nil, errNoLease
			}
		}
		var ok bool
		if v, ok = s.awaitLease(); !ok {
			return nil, errNoLease
		}
	}
	if b := s.primary; b != nil {
		if b.node == v.Primary && current(v, b.node, b.addr) {
			return b, nil
		}
		if s.looping() {
			return nil, errWouldBlock
		}
		lost := s.inTransactionOn(b)
		s.log.Info("primary moved: reconnecting", "from", b.node, "to", v.Primary)
		s.drop(b)
		if lost && !s.replayLater() {
			s.endTransaction()
			return nil, errTxLost("primary")
		}
	}
	if !primaryUsable(v) {
		return nil, errNoPrimary
	}
	b, err := s.connect(v.Primary, v.Nodes[v.Primary])
	if err != nil {
		return nil, err
	}
	s.primary = b
	if err := s.replayPending(b); err != nil {
		return nil, err
	}
	return b, nil
}

// errNoLease refuses a statement for the primary while the router holds
// no write lease for it: ER_OPTION_PREVENTS_STATEMENT, as a read-only
// server would answer.
var errNoLease = &protocol.ServerError{Code: erOptionPreventsStatement, State: "HY000",
	Message: "meridian: no write lease for the primary (controller unreachable or failover in progress)"}

// leaseAllows reports whether the view's lease lets statements go to its
// primary at now: no lease needed, or a valid one naming that primary.
func leaseAllows(v View, now time.Time) bool {
	if v.Lease == nil {
		return true
	}
	primary, ok := v.Lease.Valid(now)
	return ok && primary == v.Primary
}

// awaitLease holds a statement for the primary, up to the service's
// write hold, until a lease naming the view's primary is held: a
// switchover moves the primary and the lease in a few hundred
// milliseconds, and a client should see a pause rather than an error.
// The view is read again at each lease change, since the primary it names
// moves too.
func (s *session) awaitLease() (View, bool) {
	s.svc.replay.holds.Add(1)
	v, ok := s.holdForLease()
	if !ok {
		s.svc.replay.holdTimeouts.Add(1)
	}
	return v, ok
}

func (s *session) holdForLease() (View, bool) {
	deadline := time.Now().Add(s.svc.writeHold)
	for {
		v := s.svc.view.View()
		if v.Lease == nil {
			return v, true
		}
		changed := v.Lease.Changed()
		if leaseAllows(v, time.Now()) {
			return v, true
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return v, false
		}
		timer := time.NewTimer(min(wait, viewRecheck))
		select {
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// viewRecheck bounds how long a held statement goes without reading the
// view: a new primary may arrive in the view after the lease naming it.
const viewRecheck = 50 * time.Millisecond

// readBackend is where a read goes: the session's replica while it stays
// eligible, another one otherwise, the primary when none is.
func (s *session) readBackend(v View) (*backend, error) {
	cur := ""
	if s.replica != nil {
		cur = s.replica.node
	}
	name, err := s.svc.policy.readNode(v, cur, s.svc.load)
	if err != nil {
		return nil, err
	}
	if name == v.Primary {
		return s.primaryBackend(v)
	}
	if b := s.replica; b != nil {
		if b.node == name && b.addr == v.Nodes[name].Addr {
			return s.causalRead(v, b)
		}
		lost := s.inTransactionOn(b)
		s.drop(b)
		if lost {
			s.endTransaction()
			return nil, errTxLost("replica")
		}
	}
	b, err := s.connect(name, v.Nodes[name])
	if err != nil {
		if errors.Is(err, errWouldBlock) || !s.svc.policy.masterAcceptReads {
			return nil, err
		}
		s.log.Warn("replica unreachable: reading from the primary", "node", name, "err", err)
		return s.primaryBackend(v)
	}
	s.replica = b
	return s.causalRead(v, b)
}

// answering is the backend a session command runs on first: one already
// open (the primary preferred), else the primary.
func (s *session) answering(v View) (*backend, error) {
	if s.binding != nil {
		return s.boundBackend(v)
	}
	if b := s.primary; b != nil && b.node == v.Primary && current(v, b.node, b.addr) {
		return b, nil
	}
	if b := s.replica; b != nil && s.primary == nil && current(v, b.node, b.addr) {
		return b, nil
	}
	return s.primaryBackend(v)
}

// quoteName quotes an identifier for MariaDB.
func quoteName(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// connect opens a backend connection to node as the client's account, and
// brings it to the session's state: options, then the session commands
// the classifier recorded.
func (s *session) connect(name string, n NodeView) (*backend, error) {
	return s.dial(name, n, nil)
}

// dial is connect; relay, when set, answers the server's authentication
// (a relayed login, login.go).
func (s *session) dial(name string, n NodeView, relay func([]byte) ([]byte, error)) (*backend, error) {
	if n.Fenced {
		return nil, fmt.Errorf("node %s is fenced", name)
	}
	if s.looping() {
		return nil, errWouldBlock
	}
	timeout := s.svc.cfg.ConnectTimeout
	nc, err := net.DialTimeout("tcp", n.Addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("cannot reach node %s: %w", name, err)
	}
	if !s.track(nc, true) {
		nc.Close()
		return nil, net.ErrClosed
	}
	nc.SetDeadline(time.Now().Add(timeout))
	login := protocol.Login{User: s.user, Password: s.password, DB: s.db, Caps: s.backendCaps(), ExtCaps: s.extCaps,
		Charset: s.charset, MaxPacket: s.maxPacket, Attrs: s.attrs, ReadBuffer: backendReadBuffer, Relay: relay,
		Compress: slices.Contains(s.svc.cfg.CompressRegions, n.Region)}
	if t := s.svc.backendTLS; t != nil {
		login.TLS = t.Clone()
		login.TLS.ServerName, _, _ = net.SplitHostPort(n.Addr)
	}
	conn, g, caps, err := protocol.Connect(nc, login)
	if err != nil {
		nc.Close()
		s.track(nc, false)
		var se *protocol.ServerError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, fmt.Errorf("log in to node %s: %w", name, err)
	}
	nc.SetDeadline(time.Time{})
	b := &backend{node: name, addr: n.Addr, owner: s, raw: nc, conn: conn, caps: caps, stats: s.svc.counters(name), stmts: map[uint32]backendStmt{}}
	b.stats.conns.Add(1)
	if caps&protocol.ClientDeprecateEOF != s.caps&protocol.ClientDeprecateEOF {
		b.quit()
		return nil, fmt.Errorf("node %s does not support CLIENT_DEPRECATE_EOF", name)
	}
	if ext := protocol.ExtCapsOf(g, caps) & s.extCaps; ext != s.extCaps {
		b.quit()
		return nil, fmt.Errorf("node %s lacks MariaDB capabilities %#x the client uses", name, s.extCaps&^ext)
	}
	if err := s.restore(b); err != nil {
		b.quit()
		var se *protocol.ServerError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	if s.lp != nil {
		sock, err := s.adopt(s.lp.loop, nc)
		if err != nil {
			b.quit()
			return nil, fmt.Errorf("node %s: %w", name, err)
		}
		b.sock = sock
		conn.Adopt(sock)
	}
	return b, nil
}

// backendCaps are the capabilities a backend connection asks for: the
// client's own, so that packets pass unchanged, plus session tracking when
// the router needs the GTIDs of writes.
func (s *session) backendCaps() uint32 {
	caps := s.caps & proxied
	if s.svc.cfg.CausalReads != CausalOff {
		caps |= protocol.ClientSessionTrack
	}
	return caps
}

// restore replays the session's state on a new backend connection.
func (s *session) restore(b *backend) error {
	var cmds [][]byte
	if s.multiStatements != (s.caps&protocol.ClientMultiStatements != 0) {
		option := byte(1)
		if s.multiStatements {
			option = 0
		}
		cmds = append(cmds, []byte{protocol.ComSetOption, option, 0})
	}
	if s.svc.cfg.CausalReads != CausalOff {
		cmds = append(cmds, append([]byte{protocol.ComQuery},
			"SET SESSION session_track_system_variables = CONCAT(@@session.session_track_system_variables, ',last_gtid')"...))
	}
	for _, sql := range s.cls.Replay() {
		cmds = append(cmds, append([]byte{protocol.ComQuery}, sql...))
	}
	for _, cmd := range cmds {
		out, err := s.exec(b, cmd)
		if err != nil {
			return err
		}
		if out.Err != nil {
			return out.Err
		}
	}
	return nil
}
