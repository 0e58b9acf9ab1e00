package router

import (
	"errors"
	"net"

	"github.com/meridian-geo/meridian/internal/router/netloop"
	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// A readwritesplit session over plain TCP runs on an event loop (package
// netloop) once logged in: the loop's thread reads each request, routes
// it, forwards it and relays the answer when all of it has arrived, with
// no goroutine to wake. Whatever would have to wait — opening or
// preparing on a backend, a session command, a held write, an answer too
// large to buffer, a request too large for the client buffer, an error —
// is handed to the session's goroutine, which serves it with the blocking
// code and hands the session back. Both run the same routing code; a
// session is on one side at a time.

// errWouldBlock is how routing code on the loop's side says that the
// command needs the goroutine: it returns it before changing anything the
// goroutine would then do differently.
var errWouldBlock = errors.New("router: needs the session's goroutine")

// loopSide is a session's part in an event loop.
type loopSide struct {
	loop   *netloop.Loop
	client *netloop.Socket
	// on is whether the loop serves the session now; only the loop's
	// thread reads or writes it.
	on bool
	// handed is how the loop gives the goroutine work (see handoff).
	handed chan handoff
	// awaiting is the answer the loop waits for; its backend is nil when
	// it waits for none.
	awaiting awaited
	req      protocol.Request
	// ended is the backend connection the server ended (ended.go), and
	// endedReset whether it reset it.
	ended      *backend
	endedReset bool
}

// awaited is a forwarded command whose answer has not arrived: where it
// went and what to do with the answer.
type awaited struct {
	b     *backend
	after after
}

// handoff is work the loop gives the session's goroutine.
type handoff struct {
	kind handoffKind
	err  error
}

type handoffKind uint8

const (
	// handRequest: serve s.lp.req, read by the loop, from the start.
	handRequest handoffKind = iota + 1
	// handAnswer: relay the awaited answer and finish its command.
	handAnswer
	// handRead: read and serve the next request (it is too large for the
	// client buffer, or the client connection ended).
	handRead
	// handEnded: the server ended lp.ended (ended.go).
	handEnded
	// handEnd: the session ends with err.
	handEnd
)

// loopEligible reports whether the session can run on an event loop: a
// readwritesplit session over plain TCP on both sides, whose every wait is
// on a socket the loop watches. A causal read that must wait for its
// replica is handed to the goroutine; one that need not (the session
// wrote nothing, or its replica already caught up) stays on the loop.
func (s *session) loopEligible() bool {
	_, tcp := s.nc.(*net.TCPConn)
	return tcp && s.client.NetConn() == s.nc && s.binding == nil && s.svc.diff == nil &&
		s.svc.backendTLS == nil && !s.client.Compressed() && len(s.svc.cfg.CompressRegions) == 0
}

// looping reports whether the session runs on the loop's side now.
func (s *session) looping() bool { return s.lp != nil && s.lp.on }

// serveOnLoop moves the session onto an event loop and serves what the
// loop hands back until the session ends. It returns false, having
// changed nothing, when no loop can take the session.
func (s *session) serveOnLoop() (bool, error) {
	l, err := netloop.Pick()
	if err != nil {
		s.log.Warn("no event loop: serving the session from its goroutine", "err", err)
		return false, nil
	}
	// The loop may see the socket ready before Adopt returns: lp must be
	// there (off) by then.
	s.lp = &loopSide{loop: l, handed: make(chan handoff, 1)}
	sock, err := s.adopt(l, s.nc)
	if err != nil {
		s.lp = nil
		s.log.Warn("no event loop: serving the session from its goroutine", "err", err)
		return false, nil
	}
	s.lp.client = sock
	s.client.Adopt(sock)
	for {
		l.Post(s.resume)
		h := <-s.lp.handed
		s.setBlocking(true)
		if err := s.serveHandoff(h); err != nil {
			return true, err
		}
	}
}

// adopt moves one of the session's TCP connections onto l, where kill
// can still reach it.
func (s *session) adopt(l *netloop.Loop, nc net.Conn) (*netloop.Socket, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, errors.New("not a TCP connection")
	}
	s.track(nc, false)
	sock, err := l.Adopt(tc, s.onReady)
	if err != nil {
		return nil, err
	}
	if !s.track(shutdownOnKill{sock}, true) {
		sock.Shutdown()
	}
	return sock, nil
}

// serveHandoff does on the goroutine's side what the loop could not.
func (s *session) serveHandoff(h handoff) error {
	switch h.kind {
	case handRequest:
		return s.dispatch(&s.lp.req)
	case handAnswer:
		a := s.lp.awaiting
		s.lp.awaiting = awaited{}
		out, err := s.relayAnswer(a.b, (*protocol.Relay).Results)
		return s.finish(a.b, &s.lp.req, a.after, out, err)
	case handRead:
		return s.serveNext()
	case handEnded:
		b := s.lp.ended
		s.lp.ended = nil
		return s.serverEnded(b, s.lp.endedReset)
	}
	return h.err
}

// resume takes the session back on the loop's side.
func (s *session) resume() {
	s.setBlocking(false)
	s.lp.on = true
	s.step()
}

// hand gives the session to its goroutine.
func (s *session) hand(kind handoffKind, err error) {
	s.lp.on = false
	s.lp.handed <- handoff{kind: kind, err: err}
}

// setBlocking puts every socket of the session on one side.
func (s *session) setBlocking(on bool) {
	s.lp.client.SetBlocking(on)
	for _, b := range s.open() {
		if b.sock != nil {
			b.sock.SetBlocking(on)
		}
	}
}

// onReady runs on the loop's thread when one of the session's sockets
// becomes ready.
func (s *session) onReady() {
	if s.lp.on {
		s.step()
	}
}

// step serves the session on the loop's side for as long as it can
// without waiting: it sends what the client has not taken, finishes the
// awaited answer once it is all there, and serves the requests the client
// sent.
func (s *session) step() {
	for {
		if more, err := s.lp.client.Flush(); err != nil || more {
			switch {
			case err != nil && s.lp.awaiting.b != nil:
				s.hand(handAnswer, nil) // relaying it meets the error
			case err != nil:
				s.hand(handEnd, &protocol.IOError{Side: protocol.Client, Err: err})
			}
			return
		}
		if a := s.lp.awaiting; a.b != nil {
			if more, err := a.b.sock.Flush(); more || err != nil {
				if err != nil {
					s.hand(handAnswer, nil) // the relay meets the error
				}
				return
			}
			buf, err := fill(a.b.conn, a.b.sock)
			switch protocol.ResultsBuffered(buf, s.relay.Layout) {
			case protocol.Partial:
				if !a.b.conn.BufferFull() && (err == nil || errors.Is(err, netloop.ErrWouldBlock)) {
					return
				}
				// Too large to buffer, or the backend failed: the
				// goroutine relays or recovers.
				s.hand(handAnswer, nil)
				return
			case protocol.Streamed:
				s.hand(handAnswer, nil)
				return
			}
			if r := s.replica; r != nil && r.inTx {
				// Finishing may end the replica's transaction, a wait.
				s.hand(handAnswer, nil)
				return
			}
			s.lp.awaiting = awaited{}
			out, err := s.relayAnswer(a.b, (*protocol.Relay).Results)
			if err := s.finish(a.b, &s.lp.req, a.after, out, err); err != nil {
				s.hand(handEnd, err)
				return
			}
			continue
		}
		if b, reset := s.endedBackend(); b != nil {
			s.lp.ended, s.lp.endedReset = b, reset
			s.hand(handEnded, nil)
			return
		}
		if _, err := fill(s.client, s.lp.client); !s.client.PacketBuffered() {
			if s.client.BufferFull() || (err != nil && !errors.Is(err, netloop.ErrWouldBlock)) {
				s.hand(handRead, nil)
			}
			return
		}
		req, err := s.client.ReadRequest(s.buf, requestHead)
		if err != nil {
			s.hand(handEnd, err)
			return
		}
		s.buf = req.Payload
		s.commands++
		s.lp.req = req
		switch err := s.dispatchOnLoop(&s.lp.req); {
		case errors.Is(err, errWouldBlock):
			s.hand(handRequest, nil)
			return
		case err != nil:
			s.hand(handEnd, err)
			return
		}
		if cap(s.buf) > keptBuffer {
			s.buf = nil
		}
	}
}

// dispatchOnLoop serves the commands that can go through without waiting
// (routed statements, text or prepared, and pings) and leaves the others
// to the goroutine.
func (s *session) dispatchOnLoop(req *protocol.Request) error {
	switch req.Payload[0] {
	case protocol.ComQuery, protocol.ComStmtExecute, protocol.ComPing:
		return s.dispatch(req)
	}
	return errWouldBlock
}

// fill reads what sock may have into c's buffer and returns what is
// buffered; when sock cannot have anything new it reads nothing.
func fill(c *protocol.Conn, sock *netloop.Socket) ([]byte, error) {
	if !sock.MayRead() {
		return c.Unread(), netloop.ErrWouldBlock
	}
	return c.Fill()
}
