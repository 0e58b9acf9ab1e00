package protocol

import (
	"encoding/binary"
	"fmt"
)

// Greeting is the initial handshake packet (protocol version 10) a server
// sends when a client connects.
type Greeting struct {
	Version string
	ConnID  uint32
	Salt    []byte // 20 bytes
	Caps    uint32
	// ExtCaps are MariaDB's extended capabilities, present when Caps lacks
	// ClientLongPassword (CLIENT_MYSQL).
	ExtCaps uint32
	Charset uint8
	Status  uint16
	Plugin  string
}

// Append appends the greeting's payload.
func (g Greeting) Append(buf []byte) []byte {
	buf = append(buf, 10)
	buf = appendNul(buf, g.Version)
	buf = binary.LittleEndian.AppendUint32(buf, g.ConnID)
	buf = append(buf, g.Salt[:8]...)
	buf = append(buf, 0)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(g.Caps))
	buf = append(buf, g.Charset)
	buf = binary.LittleEndian.AppendUint16(buf, g.Status)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(g.Caps>>16))
	buf = append(buf, byte(len(g.Salt)+1))
	buf = append(buf, 0, 0, 0, 0, 0, 0)
	buf = binary.LittleEndian.AppendUint32(buf, g.ExtCaps)
	buf = append(buf, g.Salt[8:]...)
	buf = append(buf, 0)
	return appendNul(buf, g.Plugin)
}

// ParseGreeting reads a server's initial handshake.
func ParseGreeting(p []byte) (Greeting, error) {
	var g Greeting
	if len(p) > 0 && p[0] == headerERR {
		e, err := ParseERR(p)
		if err != nil {
			return g, err
		}
		return g, e
	}
	r := reader{b: p}
	if v := r.byte(); v != 10 {
		return g, fmt.Errorf("%w: handshake protocol version %d, want 10", ErrMalformed, v)
	}
	g.Version = string(r.nulString())
	g.ConnID = r.uint32()
	salt := append([]byte(nil), r.take(8)...)
	r.byte()
	g.Caps = uint32(r.uint16())
	g.Charset = r.byte()
	g.Status = r.uint16()
	g.Caps |= uint32(r.uint16()) << 16
	saltLen := int(r.byte())
	r.take(6)
	ext := r.uint32()
	if g.Caps&ClientLongPassword == 0 {
		g.ExtCaps = ext
	}
	if r.bad {
		return g, fmt.Errorf("%w: truncated handshake", ErrMalformed)
	}
	if g.Caps&ClientSecureConnection != 0 {
		n := max(13, saltLen-8)
		part := r.take(n)
		if r.bad {
			return g, fmt.Errorf("%w: truncated handshake salt", ErrMalformed)
		}
		if n > 0 && part[n-1] == 0 {
			part = part[:n-1]
		}
		salt = append(salt, part...)
	}
	g.Salt = salt
	if g.Caps&ClientPluginAuth != 0 {
		g.Plugin = string(r.nulString())
	}
	return g, nil
}

// HandshakeResponse is what a client answers the greeting with.
type HandshakeResponse struct {
	Caps      uint32
	ExtCaps   uint32
	MaxPacket uint32
	Charset   uint8
	User      string
	Auth      []byte
	DB        string
	Plugin    string
	// Attrs are the connection attributes as sent, without their length.
	Attrs []byte
}

// sslRequestLen is the length of an SSL request: the fixed part of a
// handshake response, after which the client starts TLS.
const sslRequestLen = 32

// IsSSLRequest reports whether a handshake response payload is an SSL
// request.
func IsSSLRequest(p []byte) bool {
	return len(p) == sslRequestLen && binary.LittleEndian.Uint32(p)&ClientSSL != 0
}

// ParseHandshakeResponse reads a protocol 4.1 handshake response.
func ParseHandshakeResponse(p []byte) (HandshakeResponse, error) {
	var h HandshakeResponse
	r := reader{b: p}
	h.Caps = r.uint32()
	h.MaxPacket = r.uint32()
	h.Charset = r.byte()
	r.take(19)
	ext := r.uint32()
	if r.bad {
		return h, fmt.Errorf("%w: handshake response shorter than %d bytes", ErrMalformed, sslRequestLen)
	}
	if h.Caps&ClientProtocol41 == 0 {
		return h, fmt.Errorf("%w: client does not speak protocol 4.1", ErrMalformed)
	}
	if h.Caps&ClientLongPassword == 0 {
		h.ExtCaps = ext
	}
	h.User = string(r.nulString())
	switch {
	case h.Caps&ClientPluginAuthLenencClientData != 0:
		h.Auth = r.lenencBytes()
	case h.Caps&ClientSecureConnection != 0:
		h.Auth = r.take(int(r.byte()))
	default:
		h.Auth = r.nulString()
	}
	if h.Caps&ClientConnectWithDB != 0 && len(r.b) > 0 {
		h.DB = string(r.nulString())
	}
	if h.Caps&ClientPluginAuth != 0 && len(r.b) > 0 {
		h.Plugin = string(r.nulString())
	}
	if h.Caps&ClientConnectAttrs != 0 && len(r.b) > 0 {
		h.Attrs = r.lenencBytes()
	}
	if r.bad {
		return h, fmt.Errorf("%w: truncated handshake response", ErrMalformed)
	}
	return h, nil
}

// Append appends the response's payload, laid out for its Caps.
func (h HandshakeResponse) Append(buf []byte) []byte {
	buf = h.appendFixed(buf)
	buf = appendNul(buf, h.User)
	switch {
	case h.Caps&ClientPluginAuthLenencClientData != 0:
		buf = appendLenencBytes(buf, h.Auth)
	case h.Caps&ClientSecureConnection != 0:
		buf = append(append(buf, byte(len(h.Auth))), h.Auth...)
	default:
		buf = append(append(buf, h.Auth...), 0)
	}
	if h.Caps&ClientConnectWithDB != 0 {
		buf = appendNul(buf, h.DB)
	}
	if h.Caps&ClientPluginAuth != 0 {
		buf = appendNul(buf, h.Plugin)
	}
	if h.Caps&ClientConnectAttrs != 0 {
		buf = appendLenencBytes(buf, h.Attrs)
	}
	return buf
}

// AppendSSLRequest appends the SSL request that precedes a TLS handshake.
func (h HandshakeResponse) AppendSSLRequest(buf []byte) []byte {
	h.Caps |= ClientSSL
	return h.appendFixed(buf)
}

func (h HandshakeResponse) appendFixed(buf []byte) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, h.Caps)
	buf = binary.LittleEndian.AppendUint32(buf, h.MaxPacket)
	buf = append(buf, h.Charset)
	buf = append(buf, make([]byte, 19)...)
	return binary.LittleEndian.AppendUint32(buf, h.ExtCaps)
}

// ChangeUser is a COM_CHANGE_USER request.
type ChangeUser struct {
	User    string
	Auth    []byte
	DB      string
	Charset uint16
	Plugin  string
	Attrs   []byte
}

// ParseChangeUser reads a COM_CHANGE_USER payload (command byte included)
// sent by a client that negotiated caps.
func ParseChangeUser(p []byte, caps uint32) (ChangeUser, error) {
	var c ChangeUser
	r := reader{b: p[1:]}
	c.User = string(r.nulString())
	if caps&ClientSecureConnection != 0 {
		c.Auth = r.take(int(r.byte()))
	} else {
		c.Auth = r.nulString()
	}
	c.DB = string(r.nulString())
	if len(r.b) > 0 {
		c.Charset = r.uint16()
	}
	if caps&ClientPluginAuth != 0 && len(r.b) > 0 {
		c.Plugin = string(r.nulString())
	}
	if caps&ClientConnectAttrs != 0 && len(r.b) > 0 {
		c.Attrs = r.lenencBytes()
	}
	if r.bad {
		return c, fmt.Errorf("%w: truncated COM_CHANGE_USER", ErrMalformed)
	}
	return c, nil
}

// AppendAuthSwitch appends an authentication switch request.
func AppendAuthSwitch(buf []byte, plugin string, salt []byte) []byte {
	buf = append(buf, headerEOF)
	buf = appendNul(buf, plugin)
	return append(append(buf, salt...), 0)
}

// parseAuthSwitch reads an authentication switch request.
func parseAuthSwitch(p []byte) (plugin string, salt []byte) {
	r := reader{b: p[1:]}
	plugin = string(r.nulString())
	salt = r.rest()
	if n := len(salt); n > 0 && salt[n-1] == 0 {
		salt = salt[:n-1]
	}
	return plugin, salt
}
