package protocol

import (
	"bytes"
	"net"
	"testing"
)

// TestCompressedRoundTrip sends packets of every size class (stored,
// compressed, spanning several compressed packets, 16 MiB continuation)
// through the compressed protocol and reads them back unchanged.
func TestCompressedRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w, r := NewConn(a, Client, 0), NewConn(b, Backend, 4096)
	w.Compress()
	w.Buffer()
	r.Compress()
	r.Buffer()
	payloads := [][]byte{[]byte("\x03SELECT 1"), bytes.Repeat([]byte("compressible "), 1000), make([]byte, MaxPayload+10)}
	for i := range payloads[2] {
		payloads[2][i] = byte(i * 7)
	}
	go func() {
		for _, p := range payloads {
			w.ResetSeq()
			w.WritePacket(p)
			w.Flush()
		}
	}()
	for i, want := range payloads {
		r.ResetSeq()
		got, err := r.ReadPacket(nil, 1<<25)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("packet %d: %d bytes back, want %d", i, len(got), len(want))
		}
	}
}
