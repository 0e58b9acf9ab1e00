package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/router/classify"
	"github.com/meridian-geo/meridian/internal/router/netloop"
	"github.com/meridian-geo/meridian/internal/router/protocol"
)

const (
	// clientReadBuffer is small: every idle client connection holds one.
	clientReadBuffer = 4 << 10
	// backendReadBuffer is what a result set streams through.
	backendReadBuffer = 16 << 10
	// requestHead bounds how much of a command is read before it is routed;
	// the rest of a longer one is streamed to the backend.
	requestHead = 1 << 20
	// maxBuffered bounds commands that must be held whole: statements to
	// prepare, session commands replayed on several backends.
	maxBuffered = 64 << 20
	// keptBuffer is the largest request buffer a session keeps between
	// commands.
	keptBuffer   = 64 << 10
	loginTimeout = 10 * time.Second
)

// session is one client connection and the backend connections it opened.
// Only its own goroutine touches it.
type session struct {
	svc    *Service
	nc     net.Conn
	client *protocol.Conn
	id     uint32
	host   string
	log    *slog.Logger

	// Who the client is, and what every new backend connection logs in with.
	user      string
	password  *protocol.Stage1
	db        string
	charset   uint8
	maxPacket uint32
	attrs     []byte
	caps      uint32 // negotiated with the client
	extCaps   uint32 // MariaDB's extended capabilities, likewise
	salt      []byte
	// multiStatements is the client's current COM_SET_OPTION choice.
	multiStatements bool

	cls     *classify.Session
	primary *backend
	replica *backend
	last    *backend // the backend that answered the last command
	status  uint16   // the last server status the client saw
	// written is, per GTID domain, the session's last write, when backends
	// track it (CausalReads): what a replica read must wait for.
	written gtid.Position
	// binding picks the server a bound session's commands all go to: the
	// service's (readconnroute, diff), or the primary for a session whose
	// login the router relayed (login.go); nil otherwise.
	binding *connPolicy
	// readconnroute and diff (connroute.go, diff.go):
	// bound is the node a bound session's commands all go to (held in
	// replica); "" before login and after COM_CHANGE_USER.
	bound string
	// other is a diff session's connection to its other server, and diff
	// what the session compares; nil for other kinds.
	other *backend
	diff  *diffSession

	stmts    map[uint32]*stmt
	nextStmt uint32
	lastStmt uint32

	buf   []byte
	out   []byte
	relay protocol.Relay
	quiet protocol.Relay
	// relayMark is where the answer being relayed began in the client's
	// output, to tell whether any of it was sent.
	relayMark uint64

	// lp is the session's part in an event loop (loop.go), nil while its
	// goroutine alone serves it.
	lp *loopSide
	// commands counts the client's commands; a backend notes the count
	// when it is used (backend.usedIn), which tells whether it served the
	// client's latest command.
	commands uint64
	// resetClient closes the client connection with a TCP reset, as the
	// server reset the backend connection whose end it passes on.
	resetClient bool
	// tx is the open transaction as far as a replay needs it (replay.go),
	// and answerSum the checksum of the answer being relayed.
	tx        *txLog
	answerSum uint32
	// retrying is set while a failed read runs again (retryRead).
	retrying bool

	// mu guards netConns, the session's open backend sockets (and, on an
	// event loop, its client socket), which Service.Close cuts from
	// another goroutine: a session waiting for a long statement's answer
	// would otherwise never notice.
	mu       sync.Mutex
	netConns map[io.Closer]struct{}
	killed   bool
}

// shutdownOnKill is how kill cuts a socket on an event loop: a shutdown
// ends its reads and writes, while the descriptor stays the session's to
// close (closing it from another goroutine could close a reused one).
type shutdownOnKill struct{ sock *netloop.Socket }

func (c shutdownOnKill) Close() error {
	c.sock.Shutdown()
	return nil
}

func newSession(svc *Service, nc net.Conn) *session {
	id := svc.connIDs.Add(1)
	host, _, _ := net.SplitHostPort(nc.RemoteAddr().String())
	return &session{
		svc:     svc,
		nc:      nc,
		client:  protocol.NewConn(nc, protocol.Client, clientReadBuffer),
		id:      id,
		host:    host,
		log:     svc.log.With("conn", id, "client", nc.RemoteAddr().String()),
		binding: svc.binding,
		cls:     classify.NewSession(),
		status:  protocol.StatusAutocommit,
		stmts:   map[uint32]*stmt{},

		netConns: map[io.Closer]struct{}{},
	}
}

// track records an open backend socket (or forgets a closed one); it
// refuses a new one once the session is killed.
func (s *session) track(c io.Closer, open bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !open {
		delete(s.netConns, c)
		return true
	}
	if s.killed {
		return false
	}
	s.netConns[c] = struct{}{}
	return true
}

func (s *session) isKilled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killed
}

// kill cuts the session's client and backend sockets, from any goroutine;
// the session's own goroutine then fails its I/O and ends.
func (s *session) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killed = true
	s.nc.Close()
	for c := range s.netConns {
		c.Close()
	}
}

func (s *session) run(ctx context.Context) {
	defer s.close()
	if err := s.login(ctx); err != nil {
		s.ended("login failed", err)
		return
	}
	if s.loopEligible() {
		if served, err := s.serveOnLoop(); served {
			s.ended("client connection closed", err)
			return
		}
	}
	for {
		if err := s.serveNext(); err != nil {
			s.ended("client connection closed", err)
			return
		}
	}
}

// serveNext reads the client's next command and serves it.
func (s *session) serveNext() error {
	req, err := s.client.ReadRequest(s.buf, requestHead)
	if err != nil {
		return err
	}
	s.buf = req.Payload
	if s.lp == nil {
		if err := s.checkBackends(); err != nil {
			return err
		}
	}
	s.commands++
	if err := s.dispatch(&req); err != nil {
		return err
	}
	if cap(s.buf) > keptBuffer {
		s.buf = nil
	}
	return nil
}

// errQuit ends a session at the client's request.
var errQuit = errors.New("COM_QUIT")

// ended logs why a session ends: a client that broke the protocol is
// worth a warning, one that hung up or quit is not.
func (s *session) ended(msg string, err error) {
	switch {
	case errors.Is(err, errQuit), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		s.log.Debug(msg, "reason", err)
	case errors.Is(err, protocol.ErrMalformed):
		s.log.Warn(msg, "reason", err)
	default:
		s.log.Info(msg, "reason", err)
	}
}

func (s *session) close() {
	for _, b := range s.open() {
		b.quit()
	}
	if s.resetClient {
		s.resetOnClose()
	}
	s.client.Close()
	if s.lp != nil {
		s.track(shutdownOnKill{s.lp.client}, false)
	}
}

// dispatch serves one command. An error ends the session; what the client
// can recover from is answered with an ERR packet instead.
func (s *session) dispatch(req *protocol.Request) error {
	switch cmd := req.Payload[0]; cmd {
	case protocol.ComQuit:
		return errQuit
	case protocol.ComPing:
		if err := req.Skip(); err != nil {
			return err
		}
		return s.replyOK()
	case protocol.ComQuery:
		if s.diff != nil {
			return s.diffQuery(req)
		}
		return s.query(req)
	case protocol.ComStmtPrepare:
		return s.prepare(req)
	case protocol.ComStmtExecute:
		return s.execute(req)
	case protocol.ComStmtBulkExecute:
		return s.bulkExecute(req)
	case protocol.ComStmtSendLongData:
		return s.sendLongData(req)
	case protocol.ComStmtClose:
		return s.closeStmt(req)
	case protocol.ComStmtReset:
		return s.resetStmt(req)
	case protocol.ComStmtFetch:
		return s.fetch(req)
	case protocol.ComInitDB, protocol.ComSetOption:
		return s.sessionCommand(req, "", classify.Class{Route: classify.All})
	case protocol.ComChangeUser:
		return s.changeUser(req)
	case protocol.ComResetConnection:
		if err := req.Skip(); err != nil {
			return err
		}
		return s.resetConnection()
	case protocol.ComFieldList:
		return s.onPrimary(req, (*protocol.Relay).Rows)
	case protocol.ComStatistics:
		return s.onPrimary(req, (*protocol.Relay).Single)
	default:
		// COM_PROCESS_KILL and anything the router does not know: the
		// primary decides, and answers with OK, ERR or results.
		return s.onPrimary(req, (*protocol.Relay).Results)
	}
}

// query routes a COM_QUERY by what the statement is and where the session
// stands (in a transaction, pinned, ...).
func (s *session) query(req *protocol.Request) error {
	sql := string(req.Payload[1:])
	if mayDescribeConnection(sql) {
		if r, ok := s.connectionAnswer(sql); ok {
			return s.answerConnection(req, r)
		}
	}
	if isKill(sql) {
		if s.looping() {
			return errWouldBlock
		}
		if handled, err := s.serveKill(req, sql); handled {
			return err
		}
	}
	class := classify.Classify(sql)
	d := s.cls.Decide(class)
	if d.Route == classify.All {
		return s.sessionCommand(req, sql, class)
	}
	b, err := s.backendFor(d)
	if err != nil {
		return s.refuseUnlessWaiting(req, err)
	}
	return s.await(b, req, req.Payload, after{sql: sql, class: class})
}

// after is what a routed statement leaves to do once its answer is
// relayed: tell the classifier, and for a prepared one note its cursor.
type after struct {
	sql   string
	class classify.Class
	st    *stmt
}

// await sends a routed statement to b. Its goroutine relays the answer at
// once; on the loop's side the answer is awaited (loop.go). Either way
// finish completes the command.
func (s *session) await(b *backend, req *protocol.Request, payload []byte, a after) error {
	s.last = b
	if !s.looping() {
		out, err := s.relayTo(b, req, payload, (*protocol.Relay).Results)
		return s.finish(b, req, a, out, err)
	}
	if err := s.forward(b, req, payload); err != nil {
		return s.finish(b, req, a, protocol.Outcome{}, err)
	}
	s.lp.awaiting = awaited{b: b, after: a}
	return nil
}

// finish completes a routed statement once its answer is relayed (or the
// relay failed with err).
func (s *session) finish(b *backend, req *protocol.Request, a after, out protocol.Outcome, err error) error {
	if err != nil {
		if retried, err := s.retryRead(req, b, a, err); retried {
			return err
		}
		return s.recover(req, b, err)
	}
	if a.st != nil && out.Status&protocol.StatusCursorExists != 0 {
		a.st.cursor = b
	}
	if out.Err == nil {
		s.cls.Commit(a.sql, a.class)
	}
	s.observe(b, out)
	s.noteForReplay(b, req, a, out)
	return nil
}

// refuseUnlessWaiting refuses a statement the router cannot route, unless
// routing it needs the session's goroutine (errWouldBlock, loop.go).
func (s *session) refuseUnlessWaiting(req *protocol.Request, err error) error {
	if errors.Is(err, errWouldBlock) {
		return err
	}
	return s.refuse(req, err)
}

// sessionCommand runs a command that changes session state (SET, USE,
// COM_INIT_DB, COM_SET_OPTION) on one backend, answers the client with
// its result, then repeats it on the session's other open backend.
// Backends opened later replay it from the classifier's history (SQL
// statements) or from the session's own fields (database, options).
func (s *session) sessionCommand(req *protocol.Request, sql string, class classify.Class) error {
	if s.looping() {
		return errWouldBlock
	}
	if err := req.ReadAll(maxBuffered); err != nil {
		return s.refuse(req, err)
	}
	v := s.svc.view.View()
	b, err := s.answering(v)
	if err != nil {
		return s.refuse(req, err)
	}
	out, err := s.sendCommand(b, req, req.Payload)
	if err != nil {
		return s.recover(req, b, err)
	}
	if out.Err != nil {
		return nil
	}
	switch p := req.Payload; p[0] {
	case protocol.ComQuery:
		s.cls.Commit(sql, class)
	case protocol.ComInitDB:
		// The database is replayed like a USE, so that it and earlier USE
		// statements stay in order; new logins start in it too.
		s.db = string(p[1:])
		use := "USE " + quoteName(s.db)
		s.cls.Commit(use, classify.Classify(use))
	case protocol.ComSetOption:
		s.multiStatements = len(p) >= 3 && p[1] == 0 && p[2] == 0
	}
	s.repeat(v, b, req.Payload)
	return nil
}

// repeat runs a session command that succeeded on done on the session's
// other backends. A backend that fails it is closed: a new connection
// replays the session's state from scratch.
func (s *session) repeat(v View, done *backend, payload []byte) {
	for _, b := range s.open() {
		if b == done {
			continue
		}
		if !current(v, b.node, b.addr) {
			s.drop(b)
			continue
		}
		out, err := s.exec(b, payload)
		if err == nil && out.Err != nil {
			err = out.Err
		}
		if err != nil {
			s.log.Info("closing a backend that refused a session command", "node", b.node, "err", err)
			s.drop(b)
		}
	}
}

// onPrimary sends a command to the primary (a bound session's server) and
// relays its answer.
func (s *session) onPrimary(req *protocol.Request, answer func(*protocol.Relay) (protocol.Outcome, error)) error {
	b, err := s.backendFor(classify.Decision{Route: classify.Primary})
	if err != nil {
		return s.refuse(req, err)
	}
	out, err := s.send(b, req, req.Payload, answer)
	if err != nil {
		return s.recover(req, b, err)
	}
	s.notReplayable("a command other than a statement")
	s.observe(b, out)
	return nil
}

// send forwards a statement (with payload in place of its own) to b and
// relays the answer to the client; b becomes the backend that ran the
// session's last statement.
func (s *session) send(b *backend, req *protocol.Request, payload []byte, answer func(*protocol.Relay) (protocol.Outcome, error)) (protocol.Outcome, error) {
	s.last = b
	return s.relayTo(b, req, payload, answer)
}

// sendCommand is send for a session command, which leaves the last
// statement's backend as it was.
func (s *session) sendCommand(b *backend, req *protocol.Request, payload []byte) (protocol.Outcome, error) {
	out, err := s.relayTo(b, req, payload, (*protocol.Relay).Results)
	if err == nil && out.Err == nil {
		s.status = out.Status
		b.inTx = out.Status&protocol.StatusInTrans != 0
	}
	return out, err
}

func (s *session) relayTo(b *backend, req *protocol.Request, payload []byte, answer func(*protocol.Relay) (protocol.Outcome, error)) (protocol.Outcome, error) {
	if err := s.forward(b, req, payload); err != nil {
		return protocol.Outcome{}, err
	}
	return s.relayAnswer(b, answer)
}

// forward sends a command to b; relayAnswer then relays b's answer.
func (s *session) forward(b *backend, req *protocol.Request, payload []byte) error {
	b.stats.queries.Add(1)
	b.stats.outstanding.Add(1)
	b.use()
	s.relayMark = s.client.Mark()
	if err := req.Forward(b.conn, payload); err != nil {
		b.stats.outstanding.Add(-1)
		return err
	}
	return nil
}

func (s *session) relayAnswer(b *backend, answer func(*protocol.Relay) (protocol.Outcome, error)) (protocol.Outcome, error) {
	defer b.stats.outstanding.Add(-1)
	s.relay.Backend = b.conn
	s.relay.BackendTracks = b.caps&protocol.ClientSessionTrack != 0
	s.checksumFor(b)
	out, err := answer(&s.relay)
	if err != nil {
		return out, err
	}
	if out.LastGTID != "" {
		// Before the client hears of the write: it may read at once
		// through another session (causal_reads global).
		s.noteWrite(out.LastGTID)
	}
	return out, s.client.Flush()
}

// exec runs a command on b for the router's own sake, draining the answer.
func (s *session) exec(b *backend, payload []byte) (protocol.Outcome, error) {
	if s.looping() {
		return protocol.Outcome{}, errWouldBlock
	}
	b.conn.ResetSeq()
	b.use()
	if err := b.conn.WritePacket(payload); err != nil {
		return protocol.Outcome{}, err
	}
	if err := b.conn.Flush(); err != nil {
		return protocol.Outcome{}, err
	}
	s.quiet.Backend = b.conn
	s.quiet.BackendTracks = b.caps&protocol.ClientSessionTrack != 0
	return s.quiet.Results()
}

// observe feeds the server status of a statement's answer from b to the
// classifier, and ends a read-only transaction the session left behind on
// its replica (by a read-write BEGIN, say).
func (s *session) observe(b *backend, out protocol.Outcome) {
	if out.Err != nil {
		return
	}
	s.status = out.Status
	b.inTx = out.Status&protocol.StatusInTrans != 0
	s.cls.ObserveServerStatus(b.inTx, out.Status&protocol.StatusAutocommit != 0)
	if r := s.replica; r != nil && r != b && r.inTx && !s.cls.ReadOnlyTransaction() {
		out, err := s.exec(r, append([]byte{protocol.ComQuery}, "ROLLBACK"...))
		if err == nil && out.Err != nil {
			err = out.Err
		}
		if err != nil {
			s.log.Info("closing a replica connection whose read-only transaction would not end", "node", r.node, "err", err)
			s.drop(r)
			return
		}
		r.inTx = false
	}
}

// refuse answers a command the router cannot route with an error, after
// reading what is left of it. A bound session whose server is gone ends
// there.
func (s *session) refuse(req *protocol.Request, err error) error {
	if skipErr := req.Skip(); skipErr != nil {
		return skipErr
	}
	if replyErr := s.replyError(err); replyErr != nil || !s.boundLost() {
		return replyErr
	}
	return err
}

// recover handles a failed exchange. A failing client ends the session.
// A failing backend is closed; if nothing of the answer reached the client
// yet it gets an error and the session goes on (its next statement opens
// a new backend connection), otherwise the client cannot be resynchronised
// and the session ends.
func (s *session) recover(req *protocol.Request, b *backend, err error) error {
	side, _ := protocol.SideOf(err)
	if side == protocol.Client {
		return err
	}
	inTx := s.cls.InTransaction()
	s.drop(b)
	if s.isKilled() {
		return err
	}
	if side != protocol.Backend {
		return s.refuse(req, err)
	}
	s.log.Warn("backend connection failed", "node", b.node, "err", err)
	if !s.client.Unsent(s.relayMark) {
		return fmt.Errorf("backend %s failed in the middle of a response: %w", b.node, err)
	}
	s.client.DropPending()
	msg := "meridian: lost connection to " + b.node + " during the statement"
	if inTx {
		msg += "; transaction rolled back"
		s.endTransaction()
	}
	return s.refuse(req, &protocol.ServerError{Code: erConnectionKilled, State: "70100", Message: msg})
}
