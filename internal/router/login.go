package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// login runs the server side of the connection phase: greeting, optional
// TLS, mysql_native_password checked against the backends' own account,
// and remembers what backend connections must log in with.
func (s *session) login(ctx context.Context) error {
	s.nc.SetDeadline(time.Now().Add(loginTimeout))
	info := s.svc.serverInfo()
	// The compressed protocol is the router's own on each side.
	caps := info.caps | protocol.ClientCompress
	if s.svc.clientTLS != nil {
		caps |= protocol.ClientSSL
	}
	s.salt = protocol.NewSalt()
	g := protocol.Greeting{Version: info.version, ConnID: s.id, Salt: s.salt, Caps: caps, ExtCaps: info.extCaps,
		Charset: info.charset, Status: protocol.StatusAutocommit, Plugin: protocol.NativePassword}
	if err := s.client.WritePacket(g.Append(nil)); err != nil {
		return err
	}
	if err := s.client.Flush(); err != nil {
		return err
	}
	p, err := s.client.ReadPacket(nil, maxLoginPacket)
	if err != nil {
		return err
	}
	if protocol.IsSSLRequest(p) {
		if s.svc.clientTLS == nil {
			return fmt.Errorf("%w: SSL request, but TLS is off", protocol.ErrMalformed)
		}
		tc := tls.Server(s.client.NetConn(), s.svc.clientTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		s.client.Upgrade(tc)
		if p, err = s.client.ReadPacket(p, maxLoginPacket); err != nil {
			return err
		}
	}
	h, err := protocol.ParseHandshakeResponse(p)
	if err != nil {
		return err
	}
	s.caps = h.Caps & caps
	s.extCaps = h.ExtCaps & info.extCaps
	s.user, s.db, s.charset, s.attrs = h.User, h.DB, h.Charset, h.Attrs
	s.maxPacket = h.MaxPacket
	s.multiStatements = s.caps&protocol.ClientMultiStatements != 0
	if s.relayed(ctx, h.User) {
		if err := s.relayLogin(); err != nil {
			return err
		}
	} else {
		token := h.Auth
		if h.Plugin != "" && h.Plugin != protocol.NativePassword {
			if token, err = s.switchAuth(); err != nil {
				return err
			}
		}
		if s.password, err = s.authenticate(ctx, h.User, token, h.DB); err != nil {
			return err
		}
	}
	layout := protocol.Layout{DeprecateEOF: s.caps&protocol.ClientDeprecateEOF != 0,
		CacheMetadata:    s.extCaps&protocol.MariaDBCacheMetadata != 0,
		ExtendedTypeInfo: s.extCaps&protocol.MariaDBExtendedTypeInfo != 0}
	s.relay = protocol.Relay{Client: s.client, Layout: layout, ClientTracks: s.caps&protocol.ClientSessionTrack != 0}
	s.quiet = protocol.Relay{Layout: layout}
	if err := s.bindAtLogin(); err != nil {
		return err
	}
	if err := s.replyOK(); err != nil {
		return err
	}
	s.nc.SetDeadline(time.Time{})
	if s.caps&protocol.ClientCompress != 0 {
		s.client.Compress()
	}
	s.client.Buffer()
	s.log.Debug("client logged in", "user", h.User, "db", h.DB, "tls", s.client.NetConn() != s.nc)
	return nil
}

// relayed reports whether the router relays user's login to the primary
// (Account.Relayed); a failed look-up leaves it to the ordinary login,
// which reports it.
func (s *session) relayed(ctx context.Context, user string) bool {
	acct, err := s.svc.accounts.Account(ctx, user, s.host, false)
	return err == nil && acct.Relayed
}

// relayLogin logs the client in by relaying the primary's authentication
// to it: every switch and challenge the server sends goes to the client
// and every answer back, so any plugin works (ed25519, several methods,
// an expired password). The router never learns what would log it in
// again, so the session is bound to that one connection, as a
// readconnroute session is to its server: it reads from the primary, and
// it ends when that connection ends (the primary restarts or moves), as
// a direct connection would. The router answers the client with its own
// OK once the session is ready; a refusal is the server's own error.
func (s *session) relayLogin() error {
	s.binding = &connPolicy{connect: ConnectPrimary}
	v := s.svc.view.View()
	if !primaryUsable(v) {
		return s.refuseLogin(errNoPrimary)
	}
	relay := func(p []byte) ([]byte, error) {
		if err := s.client.WritePacket(p); err != nil {
			return nil, err
		}
		if err := s.client.Flush(); err != nil {
			return nil, err
		}
		return s.client.ReadPacket(nil, maxLoginPacket)
	}
	b, err := s.dial(v.Primary, v.Nodes[v.Primary], relay)
	if err != nil {
		if side, _ := protocol.SideOf(err); side == protocol.Client {
			return err
		}
		return s.refuseLogin(err)
	}
	s.replica, s.bound = b, v.Primary
	return nil
}

// refuseLogin answers a login the router cannot complete with err and
// ends it.
func (s *session) refuseLogin(err error) error {
	if replyErr := s.replyError(err); replyErr != nil {
		return replyErr
	}
	return err
}

// maxLoginPacket bounds the packets of the connection phase.
const maxLoginPacket = 1 << 16

// switchAuth asks a client that started with another plugin for a
// mysql_native_password token on the session's salt.
func (s *session) switchAuth() ([]byte, error) {
	if err := s.client.WritePacket(protocol.AppendAuthSwitch(nil, protocol.NativePassword, s.salt)); err != nil {
		return nil, err
	}
	if err := s.client.Flush(); err != nil {
		return nil, err
	}
	return s.client.ReadPacket(nil, maxLoginPacket)
}

// authenticate checks a client's token for user against the account the
// backends hold and, when it is right, returns the SHA1(password) that
// logs in to them (nil for an account without password). A wrong one is
// answered exactly as MariaDB would, and so is an unknown database.
func (s *session) authenticate(ctx context.Context, user string, token []byte, db string) (*protocol.Stage1, error) {
	password, err := s.verify(ctx, user, token)
	if err == nil && db != "" {
		var ok bool
		if ok, err = s.svc.accounts.DatabaseExists(ctx, db); err == nil && !ok {
			err = &protocol.ServerError{Code: erBadDB, State: "42000", Message: fmt.Sprintf("Unknown database '%s'", db)}
		}
	}
	if err != nil {
		var se *protocol.ServerError
		if !errors.As(err, &se) {
			s.log.Warn("cannot authenticate client", "user", user, "err", err)
			err = s.accessDenied(user, token)
		}
		if replyErr := s.replyError(err); replyErr != nil {
			return nil, replyErr
		}
		return nil, err
	}
	return password, nil
}

// verify checks the token against the account, reloading the account once
// when it fails (its password may have just changed).
func (s *session) verify(ctx context.Context, user string, token []byte) (*protocol.Stage1, error) {
	for _, fresh := range []bool{false, true} {
		acct, err := s.svc.accounts.Account(ctx, user, s.host, fresh)
		if errors.Is(err, ErrNoAccount) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if acct.Plugin != protocol.NativePassword {
			s.log.Warn("account uses an authentication plugin the router cannot proxy", "user", user, "host", acct.Host, "plugin", acct.Plugin)
			return nil, s.accessDenied(user, token)
		}
		stage1, ok := protocol.VerifyNative(token, s.salt, acct.Stage2)
		if !ok {
			continue
		}
		if acct.Stage2 == nil {
			return nil, nil
		}
		return &stage1, nil
	}
	return nil, s.accessDenied(user, token)
}

func (s *session) accessDenied(user string, token []byte) error {
	using := "NO"
	if len(token) > 0 {
		using = "YES"
	}
	return &protocol.ServerError{Code: erAccessDenied, State: "28000",
		Message: fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", user, s.host, using)}
}

// changeUser serves COM_CHANGE_USER: a new identity, checked like a
// login, and a fresh session — backend connections reopen lazily as the
// new user. A failed change keeps the old identity, as MariaDB does.
func (s *session) changeUser(req *protocol.Request) error {
	if err := req.ReadAll(maxLoginPacket); err != nil {
		return err
	}
	cu, err := protocol.ParseChangeUser(req.Payload, s.caps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
	defer cancel()
	if s.relayed(ctx, cu.User) {
		return s.changeUserRelayed(cu)
	}
	token := cu.Auth
	if cu.Plugin != "" && cu.Plugin != protocol.NativePassword {
		if token, err = s.switchAuth(); err != nil {
			return err
		}
	}
	password, err := s.authenticate(ctx, cu.User, token, cu.DB)
	if err != nil {
		var se *protocol.ServerError
		if errors.As(err, &se) {
			return nil
		}
		return err
	}
	s.newIdentity(cu)
	s.password = password
	return s.replyOK()
}

// newIdentity starts a fresh session as cu's user.
func (s *session) newIdentity(cu protocol.ChangeUser) {
	s.resetState()
	s.dropAll()
	s.binding = s.svc.binding
	s.user, s.password, s.db = cu.User, nil, cu.DB
	if cu.Charset != 0 && cu.Charset < 256 {
		s.charset = uint8(cu.Charset)
	}
	if cu.Attrs != nil {
		s.attrs = cu.Attrs
	}
}

// changeUserRelayed serves COM_CHANGE_USER to an account whose login the
// router relays: a new backend connection authenticates the client
// (relayLogin). The old session is gone by then, so a refused change ends
// the connection after the server's error (MariaDB would keep the old
// identity).
func (s *session) changeUserRelayed(cu protocol.ChangeUser) error {
	s.newIdentity(cu)
	if err := s.relayLogin(); err != nil {
		return err
	}
	return s.replyOK()
}

// resetConnection serves COM_RESET_CONNECTION: every open backend resets
// its session, and so does the router's view of it.
func (s *session) resetConnection() error {
	v := s.svc.view.View()
	for _, b := range s.open() {
		if !current(v, b.node, b.addr) {
			s.drop(b)
			continue
		}
		out, err := s.exec(b, []byte{protocol.ComResetConnection})
		if err == nil && out.Err != nil {
			err = out.Err
		}
		if err != nil {
			s.log.Info("closing a backend that failed to reset", "node", b.node, "err", err)
			s.drop(b)
			continue
		}
		clear(b.stmts)
	}
	s.resetState()
	return s.replyOK()
}

// resetState forgets the session's state: transaction, session commands,
// prepared statements, options.
func (s *session) resetState() {
	s.tx = nil
	s.cls.Reset()
	clear(s.stmts)
	s.lastStmt = 0
	s.written = nil
	s.status = protocol.StatusAutocommit
	s.multiStatements = s.caps&protocol.ClientMultiStatements != 0
}

// replyOK answers the client with an OK packet carrying the session's
// status (COM_PING, a reset, a login).
func (s *session) replyOK() error {
	ok := protocol.OK{Status: s.status &^ protocol.StatusSessionStateChange}
	s.out = ok.Append(s.out[:0], 0, s.caps&protocol.ClientSessionTrack != 0)
	if err := s.client.WritePacket(s.out); err != nil {
		return err
	}
	return s.client.Flush()
}

// replyError answers the client with err as an ERR packet: a server's own
// error unchanged, anything else as error 1105 naming the router.
func (s *session) replyError(err error) error {
	var se *protocol.ServerError
	if !errors.As(err, &se) {
		se = &protocol.ServerError{Code: erUnknownError, State: "HY000", Message: "meridian: " + err.Error()}
	}
	s.out = protocol.AppendERR(s.out[:0], se)
	if werr := s.client.WritePacket(s.out); werr != nil {
		return werr
	}
	return s.client.Flush()
}
