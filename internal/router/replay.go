package router

import (
	"bytes"
	"errors"
	"sync/atomic"

	"github.com/meridian-geo/meridian/internal/router/classify"
	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// Transaction replay hides a switchover or a failover from a transaction
// that was open on the old primary (MaxScale's transaction_replay): while
// a transaction runs on the primary, the session keeps every statement and
// a checksum of every answer the client got. When the primary moves or its
// write lease lapses before the transaction ends, the old connection is
// closed (the old primary rolls the transaction back), the statement is
// held until the new primary holds the lease, and the transaction's
// statements run again there; only if every answer matches what the client
// already saw does the client's statement go on, on the new primary.
// Nothing is ever executed twice: the transaction on the old primary never
// committed. A COMMIT whose answer was lost is not replayed (it may have
// committed), nor a transaction over the size bound, nor one holding a
// statement streamed to the server.

// DefaultReplayLimit is the largest transaction (the bytes of its
// statements) that is kept for a replay, as MaxScale's default.
const DefaultReplayLimit = 1 << 20

// txLog is the open transaction's statements and answers.
type txLog struct {
	entries []txEntry
	size    int
	// unreplayable is why the transaction cannot be replayed, "" while it can.
	unreplayable string
	// pending: the transaction's connection was closed; the next primary
	// connection replays it.
	pending bool
}

// txEntry is one statement of the transaction and the answer it got.
type txEntry struct {
	payload []byte
	// st is the prepared statement an execution ran (its payload names
	// the client's statement id); nil for a text statement.
	st     *stmt
	sum    uint32
	failed bool
}

// replayCounters are a service's failover figures (Stats.Failover).
type replayCounters struct {
	holds, holdTimeouts                                     atomic.Uint64
	retries                                                 atomic.Uint64
	replays, replayMismatches, replayFailures, unreplayable atomic.Uint64
}

// FailoverStats are what a service hid from its clients during switchovers
// and failovers, and what it could not.
type FailoverStats struct {
	// Holds counts statements held for the write lease; HoldTimeouts
	// those refused after write_hold.
	Holds, HoldTimeouts uint64
	// Retries counts autocommit reads run again after their server failed.
	Retries uint64
	// Replays counts transactions replayed on a new primary with matching
	// answers; ReplayMismatches those whose answers differed and
	// ReplayFailures those the new primary failed; Unreplayable the lost
	// transactions that could not be replayed (too large, a streamed
	// statement, a lost COMMIT).
	Replays, ReplayMismatches, ReplayFailures, Unreplayable uint64
}

func (c *replayCounters) stats() FailoverStats {
	return FailoverStats{Holds: c.holds.Load(), HoldTimeouts: c.holdTimeouts.Load(), Retries: c.retries.Load(),
		Replays: c.replays.Load(), ReplayMismatches: c.replayMismatches.Load(), ReplayFailures: c.replayFailures.Load(),
		Unreplayable: c.unreplayable.Load()}
}

// errReplayMismatch ends a replayed transaction whose answers differ.
var errReplayMismatch = &protocol.ServerError{Code: erConnectionKilled, State: "70100",
	Message: "meridian: primary changed during the transaction and its replay gave other results; transaction rolled back"}

// checksumFor makes the relay keep the checksum of an answer from b when a
// transaction on it may need a replay.
func (s *session) checksumFor(b *backend) {
	s.relay.Checksum = nil
	if s.svc.replayLimit > 0 && b == s.primary {
		s.answerSum = 0
		s.relay.Checksum = &s.answerSum
	}
}

// noteForReplay records a statement answered by b once it is relayed.
func (s *session) noteForReplay(b *backend, req *protocol.Request, a after, out protocol.Outcome) {
	if s.svc.replayLimit <= 0 || b != s.primary || !s.cls.InTransaction() {
		s.tx = nil
		return
	}
	if s.tx == nil {
		s.tx = &txLog{}
	}
	t := s.tx
	if t.unreplayable != "" {
		return
	}
	t.size += len(req.Payload)
	switch {
	case req.Streamed():
		t.unreplayable = "a statement was streamed to the server"
	case req.Payload[0] == protocol.ComStmtBulkExecute:
		t.unreplayable = "a bulk execution"
	case out.Status&protocol.StatusCursorExists != 0:
		t.unreplayable = "a cursor"
	case t.size > s.svc.replayLimit:
		t.unreplayable = "larger than the replay limit"
	default:
		t.entries = append(t.entries, txEntry{payload: bytes.Clone(req.Payload), st: a.st, sum: s.answerSum, failed: out.Err != nil})
	}
}

// notReplayable marks the open transaction as one a replay could not
// reproduce (a command the log does not keep).
func (s *session) notReplayable(why string) {
	if s.tx != nil && s.tx.unreplayable == "" {
		s.tx.unreplayable = why
	}
}

// retryRead runs again, once, an autocommit plain read whose server
// failed before any of its answer reached the client: the read changed
// nothing, so another server (or a new connection) may answer it.
func (s *session) retryRead(req *protocol.Request, b *backend, a after, err error) (bool, error) {
	side, _ := protocol.SideOf(err)
	if s.retrying || s.looping() || side != protocol.Backend || a.st != nil || req.Payload[0] != protocol.ComQuery ||
		a.class.Route != classify.Replica || s.cls.InTransaction() || !s.client.Unsent(s.relayMark) || s.isKilled() {
		return false, nil
	}
	s.log.Info("read failed on its server: retrying it", "node", b.node, "err", err)
	s.svc.replay.retries.Add(1)
	s.drop(b)
	s.client.DropPending()
	s.retrying = true
	defer func() { s.retrying = false }()
	return true, s.query(req)
}

// replayLater marks the session's transaction, whose connection is being
// closed, for a replay on the next primary connection, and reports
// whether it can be replayed.
func (s *session) replayLater() bool {
	if s.tx == nil || s.tx.unreplayable != "" {
		if s.tx != nil {
			s.log.Info("transaction cannot be replayed", "reason", s.tx.unreplayable)
		}
		s.svc.replay.unreplayable.Add(1)
		s.tx = nil
		return false
	}
	s.tx.pending = true
	return true
}

// abandonReplay gives up a pending replay: the transaction is lost.
func (s *session) abandonReplay() {
	if s.tx != nil && s.tx.pending {
		s.tx = nil
		s.endTransaction()
		s.svc.replay.replayFailures.Add(1)
	}
}

// replayPending replays a pending transaction on b, the new primary
// connection; on a failure the transaction is lost, the connection closed
// and the error is the client's.
func (s *session) replayPending(b *backend) error {
	t := s.tx
	if t == nil || !t.pending {
		return nil
	}
	t.pending = false
	err := s.replayOn(b, t)
	switch {
	case err == nil:
		s.svc.replay.replays.Add(1)
		s.log.Info("transaction replayed on the new primary", "node", b.node, "statements", len(t.entries))
		s.last = b
		return nil
	case errors.Is(err, errReplayMismatch):
		s.svc.replay.replayMismatches.Add(1)
	default:
		s.svc.replay.replayFailures.Add(1)
		s.log.Info("transaction replay failed", "node", b.node, "err", err)
		err = errTxLost("primary")
	}
	s.drop(b)
	s.tx = nil
	s.endTransaction()
	return err
}

// replayOn runs t's statements on b, quietly, and checks every answer.
func (s *session) replayOn(b *backend, t *txLog) error {
	defer func() { s.quiet.Checksum = nil }()
	for _, e := range t.entries {
		payload := bytes.Clone(e.payload)
		if e.st != nil {
			var err error
			if payload, err = s.forBackend(&protocol.Request{Payload: payload}, e.st, b, sendsTypes(payload, e.st.params)); err != nil {
				return err
			}
		}
		var sum uint32
		s.quiet.Checksum = &sum
		out, err := s.exec(b, payload)
		if err != nil {
			return err
		}
		if sum != e.sum || (out.Err != nil) != e.failed {
			return errReplayMismatch
		}
	}
	return nil
}

// sendsTypes reports whether a COM_STMT_EXECUTE payload for a statement
// of params parameters carries their types.
func sendsTypes(p []byte, params uint16) bool {
	flag := 10 + (int(params)+7)/8
	return params > 0 && len(p) > flag && p[flag] == 1
}
