package protocol

import (
	"crypto/tls"
	"fmt"
	"net"
)

// Login says how the router logs in to a backend.
type Login struct {
	User string
	// Password proves the account's password; nil for an account without one.
	Password *Stage1
	DB       string
	// Caps are the capabilities wanted; only those the server has are kept.
	Caps uint32
	// ExtCaps are MariaDB's extended capabilities wanted, likewise.
	ExtCaps uint32
	// Compress asks for the compressed protocol when the server offers it.
	Compress  bool
	Charset   uint8
	MaxPacket uint32
	Attrs     []byte
	// TLS, when set, upgrades the connection before the credentials are sent.
	TLS *tls.Config
	// ReadBuffer is the size of the connection's read buffer.
	ReadBuffer int
	// Relay, when set, answers the server's authentication instead of
	// Password: every authentication switch and "more data" packet the
	// server sends goes to Relay as it is, and what Relay returns goes
	// back as it is (the router relays them to its client, whose password
	// the router does not know). The first response names no plugin the
	// account uses, so that the server starts its authentication afresh.
	Relay func(packet []byte) ([]byte, error)
}

// RelayedPlugin is the plugin a relayed login names first: no account
// uses it, so the server answers with a switch to the account's own.
const RelayedPlugin = "meridian_relayed"

// authMoreData is the header of an authentication "more data" packet.
const authMoreData = 0x01

// required are the capabilities the router cannot do without on a backend.
const required = ClientProtocol41 | ClientSecureConnection | ClientPluginAuth

// maxConnPhasePacket bounds the packets of the connection phase.
const maxConnPhasePacket = 1 << 16

// Connect runs the client side of the connection phase on nc and returns
// the logged-in connection, the server's greeting and the capabilities in
// force. An ERR packet from the server comes back as *ServerError.
func Connect(nc net.Conn, l Login) (*Conn, Greeting, uint32, error) {
	c := NewConn(nc, Backend, l.ReadBuffer)
	p, err := c.ReadPacket(nil, maxConnPhasePacket)
	if err != nil {
		return nil, Greeting{}, 0, err
	}
	g, err := ParseGreeting(p)
	if err != nil {
		return nil, g, 0, err
	}
	if g.Caps&required != required {
		return nil, g, 0, fmt.Errorf("server %q lacks protocol 4.1 with plugin authentication", g.Version)
	}
	caps := (l.Caps | required) & g.Caps &^ (ClientSSL | ClientCompress)
	if l.Compress {
		caps |= g.Caps & ClientCompress
	}
	caps &^= ClientConnectWithDB
	if l.DB != "" {
		caps |= ClientConnectWithDB
	}
	if len(l.Attrs) == 0 {
		caps &^= ClientConnectAttrs
	}
	resp := HandshakeResponse{Caps: caps, ExtCaps: ExtCapsOf(g, caps) & l.ExtCaps, MaxPacket: l.MaxPacket,
		Charset: l.Charset, User: l.User, DB: l.DB, Plugin: NativePassword, Attrs: l.Attrs}
	if l.TLS != nil {
		if g.Caps&ClientSSL == 0 {
			return nil, g, 0, fmt.Errorf("server %q does not offer TLS", g.Version)
		}
		resp.Caps |= ClientSSL
		if err := c.WritePacket(resp.AppendSSLRequest(p[:0])); err != nil {
			return nil, g, 0, err
		}
		if err := c.Flush(); err != nil {
			return nil, g, 0, err
		}
		tc := tls.Client(c.NetConn(), l.TLS)
		if err := tc.Handshake(); err != nil {
			return nil, g, 0, fmt.Errorf("TLS handshake: %w", err)
		}
		c.Upgrade(tc)
	}
	resp.Auth = l.token(g.Salt)
	if l.Relay != nil {
		resp.Plugin, resp.Auth = RelayedPlugin, []byte{}
	}
	if err := c.WritePacket(resp.Append(p[:0])); err != nil {
		return nil, g, 0, err
	}
	if err := c.Flush(); err != nil {
		return nil, g, 0, err
	}
	for switched := false; ; switched = true {
		p, err = c.ReadPacket(p, maxConnPhasePacket)
		if err != nil {
			return nil, g, 0, err
		}
		switch {
		case len(p) == 0:
			return nil, g, 0, fmt.Errorf("%w: empty authentication reply", ErrMalformed)
		case p[0] == headerOK:
			if resp.Caps&ClientCompress != 0 {
				c.Compress()
			}
			c.Buffer()
			return c, g, resp.Caps, nil
		case p[0] == headerERR:
			e, err := ParseERR(p)
			if err != nil {
				return nil, g, 0, err
			}
			return nil, g, 0, e
		case l.Relay != nil && (p[0] == headerEOF || p[0] == authMoreData):
			reply, err := l.Relay(p)
			if err != nil {
				return nil, g, 0, err
			}
			if err := c.WritePacket(reply); err != nil {
				return nil, g, 0, err
			}
			if err := c.Flush(); err != nil {
				return nil, g, 0, err
			}
		case p[0] == headerEOF && !switched:
			plugin, salt := parseAuthSwitch(p)
			if plugin != NativePassword {
				return nil, g, 0, fmt.Errorf("account %q uses authentication plugin %s; the router speaks only %s", l.User, plugin, NativePassword)
			}
			if err := c.WritePacket(l.token(salt)); err != nil {
				return nil, g, 0, err
			}
			if err := c.Flush(); err != nil {
				return nil, g, 0, err
			}
		default:
			return nil, g, 0, fmt.Errorf("unexpected authentication packet 0x%02x from server", p[0])
		}
	}
}

// ExtCapsOf is the extended capabilities a server offers a client that
// answers its greeting with caps: none unless both leave CLIENT_MYSQL
// (ClientLongPassword) clear.
func ExtCapsOf(g Greeting, caps uint32) uint32 {
	if (g.Caps|caps)&ClientLongPassword != 0 {
		return 0
	}
	return g.ExtCaps
}

func (l Login) token(salt []byte) []byte {
	if l.Password == nil {
		return []byte{}
	}
	return l.Password.Scramble(salt[:min(len(salt), 20)])
}
