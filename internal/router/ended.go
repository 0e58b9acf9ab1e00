package router

import (
	"errors"
	"net"
	"syscall"

	"github.com/meridian-geo/meridian/internal/router/netloop"
)

// A server ends a backend connection between two of the client's commands
// when the connection idled past wait_timeout, was killed (KILL), or the
// server shut down. A direct client would find its connection closed,
// and its driver would open a new one; the router makes the client see
// the same, unless the connection carried nothing the client could miss:
//
//   - a connection the client's latest command used (so it idled as long
//     as the client did), or one holding the session's open transaction
//     or its primary-only state (temporary tables, named locks, SQL
//     prepared statements, user variables that cannot be replayed), ends
//     the client connection, after passing on whatever the server said;
//   - any other (a replica the session has not read from lately, a
//     primary it only pinged) is dropped, and the next statement that
//     needs it opens a new one with the session's replayed state, which
//     is all the state it had.
//
// A session on an event loop notices at once (a read edge on a backend
// with nothing awaited); a session served by its goroutine alone notices
// at its next command.

// errServerEnded ends a client session whose backend connection the
// server ended.
var errServerEnded = errors.New("the server ended the session's backend connection")

// endedBackend finds, on the loop's side, a backend connection the server
// closed or sent something unasked (the session awaits no answer), and
// whether the server reset it.
func (s *session) endedBackend() (*backend, bool) {
	for _, b := range []*backend{s.primary, s.replica} {
		if b == nil || b.sock == nil || !b.sock.MayRead() {
			continue
		}
		buf, err := fill(b.conn, b.sock)
		if len(buf) > 0 || (err != nil && !errors.Is(err, netloop.ErrWouldBlock)) {
			return b, errors.Is(err, syscall.ECONNRESET)
		}
	}
	return nil, false
}

// resetOnClose makes the client connection end with a TCP reset.
func (s *session) resetOnClose() {
	if s.lp != nil {
		s.lp.client.ResetOnClose()
		return
	}
	if tc, ok := s.nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}

// checkBackends is endedBackend for a session its goroutine alone
// serves: before the client's next command runs, it finds the backend
// connections the server ended since the last one.
func (s *session) checkBackends() error {
	for _, b := range []*backend{s.primary, s.replica} {
		if b == nil {
			continue
		}
		if spoke, reset := b.conn.PeerSpoke(); spoke {
			if err := s.serverEnded(b, reset); err != nil {
				return err
			}
		}
	}
	return nil
}

// serverEnded handles a backend connection the server ended (with a TCP
// reset or not): the client's connection ends too, the same way, when it
// carried what the client would miss.
func (s *session) serverEnded(b *backend, reset bool) error {
	said := append([]byte(nil), b.conn.Unread()...)
	carried := b.usedIn == s.commands || s.inTransactionOn(b) || (b == s.primary && s.cls.Pinned())
	s.drop(b)
	if !carried {
		s.log.Info("the server ended an idle backend connection: the next statement reconnects", "node", b.node)
		return nil
	}
	s.log.Info("the server ended the session's backend connection: closing the client connection", "node", b.node, "reset", reset)
	s.resetClient = reset
	if len(said) > 0 {
		if err := s.client.WriteRaw(said); err != nil {
			return err
		}
		if err := s.client.Flush(); err != nil {
			return err
		}
	}
	return errServerEnded
}
