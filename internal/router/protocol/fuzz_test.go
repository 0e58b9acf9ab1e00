package protocol

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// byteStream is a client connection whose bytes are given in advance:
// reads run out with io.EOF, writes are dropped.
type byteStream struct {
	net.Conn
	r io.Reader
}

func (s byteStream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s byteStream) Write(p []byte) (int, error) { return len(p), nil }
func (s byteStream) Close() error                { return nil }

// fuzzHead and fuzzLimit are small, so that short inputs reach the
// streaming paths (commands longer than what is read ahead, commands over
// the limit).
const (
	fuzzHead  = 8
	fuzzLimit = 64
)

// FuzzReadRequest feeds arbitrary bytes to the router as a client's
// stream: a handshake response, then commands read as a session reads
// them, each read whole, skipped or forwarded (COM_CHANGE_USER is read
// whole and parsed). Whatever the bytes, nothing panics and the stream
// ends with the client's connection failing: a malformed packet or the
// bytes running out.
func FuzzReadRequest(f *testing.F) {
	login := HandshakeResponse{Caps: ClientProtocol41 | ClientSecureConnection | ClientPluginAuth | ClientConnectWithDB | ClientConnectAttrs,
		MaxPacket: 1 << 24, Charset: 45, User: "app", Auth: bytes.Repeat([]byte{7}, 20), DB: "shop", Plugin: NativePassword, Attrs: []byte{3, 'a', 'b', 'c'}}
	query := append([]byte{ComQuery}, "SELECT name FROM items WHERE id = 1"...)
	execute := []byte{ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 8, 0, 42, 0, 0, 0, 0, 0, 0, 0}
	changeUser := append(append([]byte{ComChangeUser}, "other\x00\x14"...), bytes.Repeat([]byte{9}, 20)...)
	changeUser = append(changeUser, "shop\x00\x2d\x00mysql_native_password\x00"...)
	// A packet of MaxPayload bytes announces a continuation; the input
	// ends long before.
	giant := []byte{0xff, 0xff, 0xff, 0, ComQuery, 'S', 'E', 'L'}
	for _, seed := range [][]byte{
		nil,
		frame(login.Append(nil)),
		append(frame(login.Append(nil)), frame(query)...),
		append(frame(login.Append(nil)), append(frame(query), frame(execute)...)...),
		append(frame(login.Append(nil)), frame(changeUser)...),
		append(frame(login.Append(nil)), frame([]byte{ComPing})...),
		append(frame(login.Append(nil)), frame(bytes.Repeat([]byte{ComQuery}, 3*fuzzLimit))...),
		append(frame(login.Append(nil)), giant...),
		append(frame(login.Append(nil)), 0, 0, 0, 0),                  // an empty command
		append(frame(login.Append(nil)), 1, 0, 0, 5, ComQuit),         // a wrong sequence id
		frame(login.AppendSSLRequest(nil)),                            // TLS asked, then nothing
		frame([]byte{0, 0, 0, 0}),                                     // protocol 4.0
		frame(append(login.Append(nil)[:36], 0xfe, 0xff, 0xff, 0xff)), // a lying length
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		client := NewConn(byteStream{r: bytes.NewReader(stream)}, Client, 16)
		p, err := client.ReadPacket(nil, fuzzLimit)
		if err != nil {
			streamEnded(t, "login", err)
			return
		}
		caps := ClientProtocol41 | ClientSecureConnection | ClientPluginAuth | ClientConnectAttrs
		if h, err := ParseHandshakeResponse(p); err == nil {
			caps = h.Caps
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("handshake response: %v, want ErrMalformed", err)
		}
		client.Buffer()
		backend := NewConn(byteStream{r: bytes.NewReader(nil)}, Backend, 16)
		var buf []byte
		for {
			req, err := client.ReadRequest(buf, fuzzHead)
			if err != nil {
				streamEnded(t, "request", err)
				return
			}
			buf = req.Payload
			if err := serveFuzzed(&req, backend, caps); err != nil {
				streamEnded(t, "command", err)
				return
			}
		}
	})
}

// serveFuzzed consumes one command as the session would: whole (and
// parsed, for COM_CHANGE_USER), skipped or forwarded, by its first byte.
func serveFuzzed(req *Request, backend *Conn, caps uint32) error {
	switch cmd := req.Payload[0]; {
	case cmd == ComChangeUser:
		if complete, err := readWhole(req); !complete {
			return err
		}
		if _, err := ParseChangeUser(req.Payload, caps); err != nil && !errors.Is(err, ErrMalformed) {
			return err
		}
		return nil
	case cmd%3 == 0:
		_, err := readWhole(req)
		return err
	case cmd%3 == 1:
		return req.Skip()
	default:
		return req.Forward(backend, req.Payload)
	}
}

// readWhole reads a command whole; one over the limit is refused and its
// rest dropped, as the session does before answering with an error.
func readWhole(req *Request) (bool, error) {
	err := req.ReadAll(fuzzLimit)
	var ioErr *IOError
	if err != nil && !errors.As(err, &ioErr) {
		return false, req.Skip()
	}
	return err == nil, err
}

// streamEnded checks that a fuzzed stream failed the way a bad client
// connection may: on the client's side, malformed or cut short.
func streamEnded(t *testing.T, stage string, err error) {
	t.Helper()
	side, _ := SideOf(err)
	if side != Client || !(errors.Is(err, ErrMalformed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		t.Fatalf("%s: %v (side %v), want the client's connection to fail with ErrMalformed or EOF", stage, err, side)
	}
}
