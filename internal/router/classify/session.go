package classify

import (
	"slices"
	"strings"
)

// Session is the routing state of one client connection. It does no I/O: the
// proxy asks Decide where a statement goes, runs it, then tells Commit (on
// success) and ObserveServerStatus (from every OK packet returned to the
// client).
//
// How the proxy reads a Decision:
//   - Route All: run on the primary, answer the client from it, and run on
//     every other open backend; a backend opened later first runs Replay().
//   - Route Replica with Class.SameBackend: inside a read-only transaction,
//     run on the transaction's backend (the one that ran its START
//     TRANSACTION READ ONLY); otherwise on the backend whose answer the
//     client got for the previous statement (the primary after a session
//     command); a replica if there is none.
//   - Route Replica otherwise: any replica (the primary if none is usable).
//   - Route Primary: the primary.
//
// A read-only transaction the session leaves without COMMIT or ROLLBACK on
// its backend (a read-write BEGIN, or a pin taken inside it) stays open on
// that replica; the proxy should end it when it sees the replica still
// reporting SERVER_STATUS_IN_TRANS outside a read-only transaction.
type Session struct {
	inTx          bool // an explicit transaction is open
	readOnlyTx    bool // ... and it is START TRANSACTION READ ONLY
	autocommitOff bool
	pins          pinSet
	replay        []replayCommand
}

type replayCommand struct {
	sql         string
	sets, reads []string
}

// maxReplay bounds the replay list of a session that keeps setting new
// variables; past it the session is pinned and nothing more is recorded.
const maxReplay = 128

// Decision is where a statement goes given the session state.
type Decision struct {
	Route Route
	Class Class
	// Reason is Class.Reason, or why the session state overrode the class.
	Reason string
}

// NewSession returns the state of a new connection: autocommit on, no
// transaction, no pins, nothing to replay.
func NewSession() *Session { return &Session{} }

// Decide says where a statement of class c goes, without changing the state.
func (s *Session) Decide(c Class) Decision {
	d := Decision{Route: c.Route, Class: c, Reason: c.Reason}
	switch {
	case c.Route == All:
	case s.inTx && s.readOnlyTx && !c.Pin && !(c.BeginTx && !c.ReadOnlyTx) && (s.pins == 0 || c.EndTx):
		// Everything in a read-only transaction runs on its backend.
		d.Route, d.Class.SameBackend, d.Reason = Replica, true, "read-only transaction"
	case c.Route == Primary:
	case s.pins != 0:
		d.Route, d.Reason = Primary, s.pins.reason()
	case s.inTx:
		d.Route, d.Reason = Primary, "in transaction"
	case s.autocommitOff:
		d.Route, d.Reason = Primary, "autocommit off"
	}
	return d
}

// Commit applies the effect of a statement that succeeded.
func (s *Session) Commit(sql string, c Class) {
	if c.Autocommit != nil {
		if *c.Autocommit && s.autocommitOff {
			s.inTx, s.readOnlyTx = false, false // turning autocommit on commits
		}
		s.autocommitOff = !*c.Autocommit
	} else {
		if c.EndTx {
			s.inTx, s.readOnlyTx = false, false
		}
		if c.BeginTx {
			s.inTx, s.readOnlyTx = true, c.ReadOnlyTx
		}
	}
	pins, unpins := c.pins, c.unpins
	if c.Pin && pins == 0 {
		pins = pinOpaque // a Class built outside this package
	}
	if c.Unpin && unpins == 0 {
		unpins = undoablePins
	}
	s.pins = s.pins&^(unpins&undoablePins) | pins
	if c.Route == All && c.replaySets != "" {
		s.record(sql, c)
	}
}

// record adds a session command to the replay list and drops the commands
// it makes useless.
func (s *Session) record(sql string, c Class) {
	if s.pins&pinReplayOverflow != 0 {
		return
	}
	cmd := replayCommand{sql: sql, sets: strings.Split(c.replaySets, ",")}
	if c.replayReads != "" {
		cmd.reads = strings.Split(c.replayReads, ",")
	}
	s.replay = compact(append(s.replay, cmd))
	if len(s.replay) > maxReplay {
		s.pins |= pinReplayOverflow
	}
}

// compact drops every command whose variables a later command sets again
// before any command in between (or that later one) reads them.
func compact(cmds []replayCommand) []replayCommand {
	dropped := make([]bool, len(cmds))
	// Later commands first, so that dropped ones no longer count.
	for i := len(cmds) - 2; i >= 0; i-- {
		for j := i + 1; j < len(cmds); j++ {
			if dropped[j] {
				continue
			}
			if readsAny(cmds[j].reads, cmds[i].sets) {
				break
			}
			if subset(cmds[i].sets, cmds[j].sets) {
				dropped[i] = true
				break
			}
		}
	}
	kept := cmds[:0]
	for i, cmd := range cmds {
		if !dropped[i] {
			kept = append(kept, cmd)
		}
	}
	return kept
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func readsAny(reads, vars []string) bool {
	for _, r := range reads {
		if r == "*" || slices.Contains(vars, r) {
			return true
		}
	}
	return false
}

// InTransaction reports an open transaction or autocommit off: statements
// stay on the transaction's backend.
func (s *Session) InTransaction() bool { return s.inTx || s.autocommitOff }

// ReadOnlyTransaction reports an open START TRANSACTION READ ONLY.
func (s *Session) ReadOnlyTransaction() bool { return s.inTx && s.readOnlyTx }

// Pinned reports that the session must stay on the primary.
func (s *Session) Pinned() bool { return s.pins != 0 }

// Replay returns the session commands to run, in order, on a newly opened
// backend.
func (s *Session) Replay() []string {
	out := make([]string, len(s.replay))
	for i, cmd := range s.replay {
		out[i] = cmd.sql
	}
	return out
}

// Reset forgets everything, as COM_RESET_CONNECTION and COM_CHANGE_USER do on
// the server.
func (s *Session) Reset() { *s = Session{} }

// ObserveServerStatus reconciles the state with the server's: the
// SERVER_STATUS_IN_TRANS and SERVER_STATUS_AUTOCOMMIT flags of the OK packet
// of a statement not routed All, from the backend that ran it. The server is
// right about transactions and autocommit whatever the classifier guessed
// (implicit commits, rollbacks on deadlock, statements inside stored
// programs). Session commands (All) run everywhere and change nothing the
// server reports that Commit does not already know, so their statuses are
// skipped: the primary's would not describe a read-only transaction on a
// replica.
func (s *Session) ObserveServerStatus(inTrans bool, autocommit bool) {
	s.autocommitOff = !autocommit
	if !inTrans {
		s.inTx, s.readOnlyTx = false, false
	} else if !s.inTx && autocommit {
		s.inTx = true
	}
}
