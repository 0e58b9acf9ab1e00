package protocol

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// frame lays out logical packets as the wire carries them, from sequence
// id 0, splitting those of MaxPayload bytes or more.
func frame(payloads ...[]byte) []byte {
	var out []byte
	seq := byte(0)
	for _, p := range payloads {
		for {
			n := min(len(p), MaxPayload)
			out = append(out, byte(n), byte(n>>8), byte(n>>16), seq)
			out = append(out, p[:n]...)
			seq++
			p = p[n:]
			if n < MaxPayload {
				break
			}
		}
	}
	return out
}

// unframe reads logical packets back, checking that sequence ids follow
// each other from 0.
func unframe(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	var cur []byte
	seq := byte(0)
	for len(b) > 0 {
		n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
		if b[3] != seq {
			t.Fatalf("sequence id %d, want %d", b[3], seq)
		}
		seq++
		cur = append(cur, b[4:4+n]...)
		b = b[4+n:]
		if n < MaxPayload {
			out = append(out, cur)
			cur = nil
		}
	}
	return out
}

// relay runs f on a Relay whose backend sends wire and returns what the
// client received.
func relay(t *testing.T, wire []byte, configure func(*Relay), f func(*Relay) error) []byte {
	t.Helper()
	bRouter, bServer := net.Pipe()
	cRouter, cClient := net.Pipe()
	go func() {
		bServer.Write(wire)
		bServer.Close()
	}()
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(cClient)
		got <- b
	}()
	backend := NewConn(bRouter, Backend, 16<<10)
	backend.Buffer()
	client := NewConn(cRouter, Client, 4<<10)
	client.Buffer()
	r := &Relay{Backend: backend, Client: client}
	if configure != nil {
		configure(r)
	}
	if err := f(r); err != nil {
		t.Fatalf("relay: %v", err)
	}
	if err := client.Flush(); err != nil {
		t.Fatal(err)
	}
	cRouter.Close()
	bRouter.Close()
	return <-got
}

func eof(status uint16) []byte { return []byte{headerEOF, 0, 0, byte(status), byte(status >> 8)} }

func ok(status uint16, header byte) []byte { return OK{Status: status}.Append(nil, header, false) }

func TestRelayResults(t *testing.T) {
	col := []byte("\x03def\x00\x01t\x01t\x01c\x01c\x0c\x3f\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00")
	bigRow := append([]byte{0xfe}, binary.LittleEndian.AppendUint64(nil, 17<<20)...)
	bigRow = append(bigRow, bytes.Repeat([]byte("x"), 17<<20)...)
	for _, c := range []struct {
		name         string
		packets      [][]byte
		deprecateEOF bool
		status       uint16
		errCode      uint16
	}{
		{"result set", [][]byte{{2}, col, col, eof(0), []byte("\x011\x012"), []byte("\x013\xfb"), eof(StatusAutocommit)}, false, StatusAutocommit, 0},
		{"result set, deprecated EOF", [][]byte{{1}, col, []byte("\x011"), ok(StatusAutocommit|StatusInTrans, 0xfe)}, true, StatusAutocommit | StatusInTrans, 0},
		{"OK, then a result set", [][]byte{ok(StatusAutocommit|StatusMoreResultsExist, 0), {1}, col, eof(StatusMoreResultsExist), []byte("\x01a"), eof(StatusAutocommit)}, false, StatusAutocommit, 0},
		{"three results, the last an error", [][]byte{{1}, col, []byte("\x01a"), ok(StatusMoreResultsExist, 0xfe), ok(StatusMoreResultsExist, 0),
			AppendERR(nil, &ServerError{Code: 1146, State: "42S02", Message: "no table"})}, true, StatusMoreResultsExist, 1146},
		{"an error in the middle of rows", [][]byte{{1}, col, []byte("\x01a"), AppendERR(nil, &ServerError{Code: 1317, State: "70100", Message: "interrupted"})}, true, 0, 1317},
		{"a row over 16 MiB", [][]byte{{1}, col, bigRow, []byte("\x01z"), ok(StatusAutocommit, 0xfe)}, true, StatusAutocommit, 0},
		{"a cursor", [][]byte{{1}, col, eof(StatusCursorExists | StatusAutocommit)}, false, StatusCursorExists | StatusAutocommit, 0},
		{"COM_SET_OPTION's EOF", [][]byte{eof(StatusAutocommit)}, false, StatusAutocommit, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out Outcome
			got := relay(t, frame(c.packets...), func(r *Relay) { r.DeprecateEOF = c.deprecateEOF }, func(r *Relay) error {
				var err error
				out, err = r.Results()
				return err
			})
			if !bytes.Equal(got, frame(c.packets...)) {
				t.Errorf("the client received %d bytes, not the %d the server sent", len(got), len(frame(c.packets...)))
			}
			if out.Status != c.status {
				t.Errorf("status %#x, want %#x", out.Status, c.status)
			}
			if (out.Err == nil) != (c.errCode == 0) || (out.Err != nil && out.Err.Code != c.errCode) {
				t.Errorf("error %v, want code %d", out.Err, c.errCode)
			}
		})
	}
}

func TestRelayStripsSessionTracking(t *testing.T) {
	state := append(append([]byte{trackSystemVariables, 18, 9}, "last_gtid\x071-101-9"...), append([]byte{1, 5, 4}, "shop"...)...)
	tracked := OK{AffectedRows: 1, Status: StatusAutocommit | StatusSessionStateChange, Info: []byte("Rows matched: 1"), SessionState: state}
	var out Outcome
	got := relay(t, frame(tracked.Append(nil, 0, true)), func(r *Relay) { r.BackendTracks = true }, func(r *Relay) error {
		var err error
		out, err = r.Results()
		return err
	})
	want := OK{AffectedRows: 1, Status: StatusAutocommit, Info: []byte("Rows matched: 1")}.Append(nil, 0, false)
	if p := unframe(t, got); len(p) != 1 || !bytes.Equal(p[0], want) {
		t.Errorf("client got %q, want %q", p, want)
	}
	if out.LastGTID != "1-101-9" {
		t.Errorf("last GTID %q", out.LastGTID)
	}
}

func TestRelayPrepare(t *testing.T) {
	prep := binary.LittleEndian.AppendUint32([]byte{0}, 77)
	prep = append(prep, 1, 0, 2, 0, 0, 0, 0) // 1 column, 2 parameters
	def := []byte("\x03def\x00\x00\x00\x01?\x00\x0c\x3f\x00\x00\x00\x00\x00\xfd\x80\x00\x00\x00\x00")
	packets := [][]byte{prep, def, def, eof(0), def, eof(0)}
	var st Prepared
	got := relay(t, frame(packets...), nil, func(r *Relay) error {
		var err error
		st, _, err = r.Prepare(5)
		return err
	})
	if st.ID != 77 || st.Columns != 1 || st.Params != 2 {
		t.Errorf("prepared %+v", st)
	}
	p := unframe(t, got)
	if len(p) != len(packets) || binary.LittleEndian.Uint32(p[0][1:]) != 5 {
		t.Errorf("client got %d packets, statement id %d; want %d packets and id 5", len(p), binary.LittleEndian.Uint32(p[0][1:]), len(packets))
	}
}

func TestRelayMalformed(t *testing.T) {
	bRouter, bServer := net.Pipe()
	go func() {
		bServer.Write([]byte{1, 0, 0, 5, 0}) // sequence id 5 where 0 belongs
		bServer.Close()
	}()
	backend := NewConn(bRouter, Backend, 4096)
	backend.Buffer()
	_, err := (&Relay{Backend: backend}).Results()
	if side, ok := SideOf(err); !ok || side != Backend {
		t.Errorf("error %v: side %v", err, side)
	}
	bRouter.Close()
}

func TestRequestStreaming(t *testing.T) {
	query := append([]byte{ComQuery}, "INSERT INTO t VALUES ('"...)
	query = append(query, bytes.Repeat([]byte("y"), 17<<20)...)
	query = append(query, "')"...)
	cRouter, cClient := net.Pipe()
	bRouter, bServer := net.Pipe()
	go func() {
		cClient.Write(frame(query))
	}()
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(bServer)
		got <- b
	}()
	client := NewConn(cRouter, Client, 4096)
	client.Buffer()
	backend := NewConn(bRouter, Backend, 4096)
	req, err := client.ReadRequest(nil, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if req.Complete() || len(req.Payload) != 1024 || !bytes.Equal(req.Payload, query[:1024]) {
		t.Fatalf("head of %d bytes, complete %v", len(req.Payload), req.Complete())
	}
	if err := req.Forward(backend, req.Payload); err != nil {
		t.Fatal(err)
	}
	bRouter.Close()
	if p := unframe(t, <-got); len(p) != 1 || !bytes.Equal(p[0], query) {
		t.Errorf("the backend received %d packets", len(p))
	}
	if err := req.Forward(backend, append(req.Payload, 'x')); err == nil {
		t.Error("changing the length of a streamed command is accepted")
	}
	cRouter.Close()
}

func TestReadPacketLimit(t *testing.T) {
	a, b := net.Pipe()
	go func() {
		b.Write(frame(bytes.Repeat([]byte("z"), 100)))
	}()
	_, err := NewConn(a, Client, 4096).ReadPacket(nil, 50)
	if side, _ := SideOf(err); side != Client || err == nil {
		t.Errorf("an oversized packet: %v", err)
	}
	a.Close()
	b.Close()
}

// TestRelayRowsInBulk relays rows that span many reads of the backend's
// buffer to a client whose sequence ids are ahead of the backend's: every
// row arrives whole and renumbered, whether it went out with others from
// the buffer or on its own.
func TestRelayRowsInBulk(t *testing.T) {
	col := []byte("\x03def\x00\x01t\x01t\x01c\x01c\x0c\x3f\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00")
	packets := [][]byte{{1}, col}
	for i := range 700 {
		packets = append(packets, append([]byte{byte(i % 200)}, bytes.Repeat([]byte{'r'}, i%200)...))
	}
	packets = append(packets, ok(StatusAutocommit, 0xfe))
	const ahead = 3
	got := relay(t, frame(packets...), func(r *Relay) {
		r.DeprecateEOF = true
		r.Client.seq = ahead
	}, func(r *Relay) error {
		_, err := r.Results()
		return err
	})
	for i, p := range packets {
		n := int(got[0]) | int(got[1])<<8 | int(got[2])<<16
		if got[3] != byte(i+ahead) || !bytes.Equal(got[4:4+n], p) {
			t.Fatalf("packet %d: sequence id %d (want %d), %d bytes (want %d)", i, got[3], byte(i+ahead), n, len(p))
		}
		got = got[4+n:]
	}
	if len(got) != 0 {
		t.Errorf("%d bytes after the last packet", len(got))
	}
}
