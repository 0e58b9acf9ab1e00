package router

import (
	"encoding/binary"
	"fmt"

	"github.com/meridian-geo/meridian/internal/router/classify"
	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// stmt is a prepared statement as the client knows it. The router gives
// out its own ids and prepares the statement on each backend the first
// time an execution goes there.
type stmt struct {
	id      uint32
	sql     string
	class   classify.Class
	params  uint16
	columns uint16
	// types are the parameter types of the last execution that sent them,
	// for a backend that has not seen them yet.
	types []byte
	// longData is the backend holding parameter data sent ahead of the
	// next execution, which must therefore run there.
	longData *backend
	// cursor is the backend holding the statement's open cursor.
	cursor *backend
}

// errMalformedExecute is MariaDB's answer to a COM_STMT_EXECUTE that
// lacks the parameters its statement has (ER_MALFORMED_PACKET).
var errMalformedExecute = &protocol.ServerError{Code: 1835, State: "HY000", Message: "Malformed communication packet"}

// stmtIDOffset is where a statement id sits in COM_STMT_* payloads.
const stmtIDOffset = 1

// prepare serves COM_STMT_PREPARE on the backend an execution of the
// statement would go to now.
func (s *session) prepare(req *protocol.Request) error {
	if err := req.ReadAll(maxBuffered); err != nil {
		return s.refuse(req, err)
	}
	sql := string(req.Payload[1:])
	class := classify.Classify(sql)
	b, err := s.routeStmt(class)
	if err != nil {
		return s.refuse(req, err)
	}
	id := s.nextStmt + 1
	var prepared protocol.Prepared
	out, err := s.send(b, req, req.Payload, func(r *protocol.Relay) (protocol.Outcome, error) {
		var out protocol.Outcome
		var err error
		prepared, out, err = r.Prepare(id)
		return out, err
	})
	if err != nil {
		return s.recover(req, b, err)
	}
	if out.Err != nil {
		return nil
	}
	s.nextStmt, s.lastStmt = id, id
	s.stmts[id] = &stmt{id: id, sql: sql, class: class, params: prepared.Params, columns: prepared.Columns}
	b.stmts[id] = backendStmt{id: prepared.ID}
	return nil
}

// routeStmt is the backend a statement of this class runs on now; a
// session command runs where session commands are answered.
func (s *session) routeStmt(class classify.Class) (*backend, error) {
	d := s.cls.Decide(class)
	if d.Route == classify.All {
		return s.answering(s.svc.view.View())
	}
	return s.backendFor(d)
}

// lookup finds the statement a COM_STMT_* payload names; -1 is the last
// one prepared (MariaDB's direct execution).
func (s *session) lookup(p []byte, min int, command string) (*stmt, error) {
	if len(p) < min {
		return nil, fmt.Errorf("%w: %s of %d bytes", protocol.ErrMalformed, command, len(p))
	}
	id := binary.LittleEndian.Uint32(p[stmtIDOffset:])
	if id == ^uint32(0) {
		id = s.lastStmt
	}
	if st, ok := s.stmts[id]; ok {
		return st, nil
	}
	return nil, &protocol.ServerError{Code: erUnknownStmtHandler, State: "HY000",
		Message: fmt.Sprintf("Unknown prepared statement handler (%d) given to %s", id, command)}
}

// stmtFailed answers a COM_STMT_* command that could not be served: a
// malformed packet ends the session, anything else is an error reply.
func (s *session) stmtFailed(req *protocol.Request, err error) error {
	if _, ok := err.(*protocol.ServerError); ok {
		return s.refuse(req, err)
	}
	return err
}

// execute serves COM_STMT_EXECUTE: routed by the statement's class and
// the session's state, prepared on that backend first if need be, with
// the backend's statement id (and, when the backend has not seen them yet,
// the parameter types the client sent to another one).
func (s *session) execute(req *protocol.Request) error {
	st, err := s.lookup(req.Payload, 10, "mysqld_stmt_execute")
	if err != nil {
		return s.stmtFailed(req, err)
	}
	d := s.cls.Decide(st.class)
	if s.looping() && (d.Route == classify.All || st.longData != nil) {
		return errWouldBlock
	}
	bound, err := st.noteTypes(req.Payload)
	if err != nil {
		return s.stmtFailed(req, err)
	}
	b := st.longData
	if b == nil || b.closed {
		if d.Route == classify.All {
			b, err = s.answering(s.svc.view.View())
		} else {
			b, err = s.backendFor(d)
		}
		if err != nil {
			return s.refuseUnlessWaiting(req, err)
		}
	}
	st.longData = nil
	if d.Route == classify.All {
		if err := req.ReadAll(maxBuffered); err != nil {
			return s.refuse(req, err)
		}
	}
	payload, err := s.forBackend(req, st, b, bound)
	if err != nil {
		return s.refuseUnlessWaiting(req, err)
	}
	if d.Route != classify.All {
		return s.await(b, req, payload, after{sql: st.sql, class: st.class, st: st})
	}
	out, err := s.sendCommand(b, req, payload)
	if err != nil {
		return s.recover(req, b, err)
	}
	if out.Status&protocol.StatusCursorExists != 0 {
		st.cursor = b
	}
	if out.Err != nil {
		return nil
	}
	// A prepared session command (SET @v = ?) reaches the other open
	// backend too; backends opened later cannot replay it, so the session
	// stays on the primary from now on.
	s.cls.Commit(st.sql, classify.Class{Route: classify.Primary, Pin: true, Reason: "prepared session command"})
	for _, other := range s.open() {
		if other == b {
			continue
		}
		if payload, err = s.forBackend(req, st, other, bound); err == nil {
			var o protocol.Outcome
			if o, err = s.exec(other, payload); err == nil && o.Err != nil {
				err = o.Err
			}
		}
		if err != nil {
			s.log.Info("closing a backend that refused a prepared session command", "node", other.node, "err", err)
			s.drop(other)
		}
	}
	return nil
}

// bulkExecute serves COM_STMT_BULK_EXECUTE (MariaDB's array binding: one
// command carries every row's parameters, with their types, and may run
// to many packets): routed as an execution of its statement, streamed to
// the backend with that backend's statement id.
func (s *session) bulkExecute(req *protocol.Request) error {
	st, err := s.lookup(req.Payload, 7, "mysqld_stmt_bulk_execute")
	if err != nil {
		return s.stmtFailed(req, err)
	}
	b, err := s.routeStmt(st.class)
	if err != nil {
		return s.refuse(req, err)
	}
	bs, err := s.prepareOn(b, st)
	if err != nil {
		return s.refuse(req, err)
	}
	binary.LittleEndian.PutUint32(req.Payload[stmtIDOffset:], bs.id)
	out, err := s.send(b, req, req.Payload, (*protocol.Relay).Results)
	return s.finish(b, req, after{sql: st.sql, class: st.class, st: st}, out, err)
}

// noteTypes remembers the parameter types an execution sends and reports
// whether it sends them.
func (st *stmt) noteTypes(p []byte) (bool, error) {
	if st.params == 0 {
		return false, nil
	}
	flag := 10 + (int(st.params)+7)/8
	if len(p) <= flag {
		// MariaDB answers an execution without its parameters with an
		// error, and the session goes on.
		return false, errMalformedExecute
	}
	if p[flag] != 1 {
		return false, nil
	}
	end := flag + 1 + 2*int(st.params)
	if len(p) < end {
		return false, fmt.Errorf("%w: COM_STMT_EXECUTE too short for %d parameter types", protocol.ErrMalformed, st.params)
	}
	st.types = append(st.types[:0], p[flag+1:end]...)
	return true, nil
}

// forBackend prepares st on b if it is not yet and returns the execute
// payload for b: its statement id, and the parameter types when the client
// omitted them but b has never received them.
func (s *session) forBackend(req *protocol.Request, st *stmt, b *backend, bound bool) ([]byte, error) {
	bs, err := s.prepareOn(b, st)
	if err != nil {
		return nil, err
	}
	p := req.Payload
	binary.LittleEndian.PutUint32(p[stmtIDOffset:], bs.id)
	if bound || bs.typed || st.params == 0 || st.types == nil {
		if bound && !bs.typed {
			b.stmts[st.id] = backendStmt{id: bs.id, typed: true}
		}
		return p, nil
	}
	if !req.Complete() {
		if err := req.ReadAll(maxBuffered); err != nil {
			return nil, err
		}
		p = req.Payload
	}
	flag := 10 + (int(st.params)+7)/8
	out := make([]byte, 0, len(p)+len(st.types))
	out = append(out, p[:flag]...)
	out = append(out, 1)
	out = append(out, st.types...)
	out = append(out, p[flag+1:]...)
	b.stmts[st.id] = backendStmt{id: bs.id, typed: true}
	return out, nil
}

// prepareOn prepares st on b unless it is already, without the client
// seeing it.
func (s *session) prepareOn(b *backend, st *stmt) (backendStmt, error) {
	if bs, ok := b.stmts[st.id]; ok {
		return bs, nil
	}
	if s.looping() {
		return backendStmt{}, errWouldBlock
	}
	b.conn.ResetSeq()
	b.use()
	payload := append([]byte{protocol.ComStmtPrepare}, st.sql...)
	if err := b.conn.WritePacket(payload); err != nil {
		s.drop(b)
		return backendStmt{}, err
	}
	if err := b.conn.Flush(); err != nil {
		s.drop(b)
		return backendStmt{}, err
	}
	s.quiet.Backend = b.conn
	s.quiet.BackendTracks = b.caps&protocol.ClientSessionTrack != 0
	prepared, out, err := s.quiet.Prepare(0)
	if err != nil {
		s.drop(b)
		return backendStmt{}, err
	}
	if out.Err != nil {
		return backendStmt{}, out.Err
	}
	bs := backendStmt{id: prepared.ID}
	b.stmts[st.id] = bs
	return bs, nil
}

// sendLongData serves COM_STMT_SEND_LONG_DATA: the data goes to the
// backend the next execution will run on, which it then pins.
func (s *session) sendLongData(req *protocol.Request) error {
	st, err := s.lookup(req.Payload, 7, "mysqld_stmt_send_long_data")
	if err != nil {
		if _, ok := err.(*protocol.ServerError); ok {
			// No answer is expected: MariaDB reports it at the execution.
			return req.Skip()
		}
		return err
	}
	b := st.longData
	if b == nil || b.closed {
		if b, err = s.routeStmt(st.class); err != nil {
			s.log.Info("dropping long data: no backend", "err", err)
			return req.Skip()
		}
	}
	bs, err := s.prepareOn(b, st)
	if err != nil {
		s.log.Info("dropping long data: cannot prepare", "node", b.node, "err", err)
		return req.Skip()
	}
	binary.LittleEndian.PutUint32(req.Payload[stmtIDOffset:], bs.id)
	b.stats.queries.Add(1)
	b.use()
	if err := req.Forward(b.conn, req.Payload); err != nil {
		if side, _ := protocol.SideOf(err); side == protocol.Client {
			return err
		}
		s.drop(b)
		return req.Skip()
	}
	st.longData = b
	return nil
}

// closeStmt serves COM_STMT_CLOSE, which has no answer.
func (s *session) closeStmt(req *protocol.Request) error {
	st, err := s.lookup(req.Payload, 5, "mysqld_stmt_close")
	if err != nil {
		if _, ok := err.(*protocol.ServerError); ok {
			return req.Skip()
		}
		return err
	}
	for _, b := range s.open() {
		bs, ok := b.stmts[st.id]
		if !ok {
			continue
		}
		delete(b.stmts, st.id)
		b.conn.ResetSeq()
		b.use()
		cmd := binary.LittleEndian.AppendUint32([]byte{protocol.ComStmtClose}, bs.id)
		if err := b.conn.WritePacket(cmd); err == nil {
			err = b.conn.Flush()
		}
		if err != nil {
			s.drop(b)
		}
	}
	delete(s.stmts, st.id)
	return nil
}

// resetStmt serves COM_STMT_RESET on every backend holding the statement.
func (s *session) resetStmt(req *protocol.Request) error {
	st, err := s.lookup(req.Payload, 5, "mysqld_stmt_reset")
	if err != nil {
		return s.stmtFailed(req, err)
	}
	st.longData, st.cursor = nil, nil
	var failed error
	for _, b := range s.open() {
		bs, ok := b.stmts[st.id]
		if !ok {
			continue
		}
		out, err := s.exec(b, binary.LittleEndian.AppendUint32([]byte{protocol.ComStmtReset}, bs.id))
		switch {
		case err != nil:
			s.drop(b)
		case out.Err != nil && failed == nil:
			failed = out.Err
		}
	}
	if failed != nil {
		return s.replyError(failed)
	}
	return s.replyOK()
}

// fetch serves COM_STMT_FETCH from the backend holding the cursor.
func (s *session) fetch(req *protocol.Request) error {
	st, err := s.lookup(req.Payload, 9, "mysqld_stmt_fetch")
	if err != nil {
		return s.stmtFailed(req, err)
	}
	b := st.cursor
	bs, ok := backendStmt{}, false
	if b != nil && !b.closed {
		bs, ok = b.stmts[st.id]
	}
	if !ok {
		return s.refuse(req, &protocol.ServerError{Code: erNoOpenCursor, State: "HY000",
			Message: fmt.Sprintf("The statement (%d) has no open cursor.", st.id)})
	}
	binary.LittleEndian.PutUint32(req.Payload[stmtIDOffset:], bs.id)
	out, err := s.send(b, req, req.Payload, (*protocol.Relay).Rows)
	if err != nil {
		return s.recover(req, b, err)
	}
	s.observe(b, out)
	return nil
}
