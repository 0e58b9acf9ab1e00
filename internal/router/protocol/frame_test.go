package protocol

import (
	"bytes"
	"errors"
	"testing"
)

// TestResultsBuffered checks that an answer counts as buffered exactly
// when all of it is: never at any shorter prefix, always in full, and
// never for the answers that must be streamed.
func TestResultsBuffered(t *testing.T) {
	col := []byte("\x03def\x00\x01t\x01t\x01c\x01c\x0c\x3f\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00")
	errPacket := AppendERR(nil, &ServerError{Code: 1146, State: "42S02", Message: "no table"})
	progress := []byte("\xff\xff\xff\x01\x01\x01\x10\x27\x00\x05stage")
	deprecated, cached := Layout{DeprecateEOF: true}, Layout{DeprecateEOF: true, CacheMetadata: true}
	for _, c := range []struct {
		name     string
		packets  [][]byte
		layout   Layout
		buffered Buffering
	}{
		{"OK", [][]byte{ok(StatusAutocommit, 0)}, deprecated, Whole},
		{"ERR", [][]byte{errPacket}, Layout{}, Whole},
		{"result set", [][]byte{{2}, col, col, eof(0), []byte("\x011\x012"), []byte("\x013\xfb"), eof(StatusAutocommit)}, Layout{}, Whole},
		{"result set, deprecated EOF", [][]byte{{1}, col, []byte("\x011"), ok(StatusAutocommit, 0xfe)}, deprecated, Whole},
		{"result set, metadata sent", [][]byte{{1, 1}, col, []byte("\x011"), ok(StatusAutocommit, 0xfe)}, cached, Whole},
		{"result set, metadata cached", [][]byte{{2, 0}, []byte("\x011\x012"), ok(StatusAutocommit, 0xfe)}, cached, Whole},
		{"progress reports, then OK", [][]byte{progress, progress, ok(StatusAutocommit, 0)}, deprecated, Whole},
		{"OK, then a result set", [][]byte{ok(StatusMoreResultsExist, 0), {1}, col, eof(StatusMoreResultsExist), []byte("\x01a"), eof(StatusAutocommit)}, Layout{}, Whole},
		{"three results, the last an error", [][]byte{{1}, col, []byte("\x01a"), ok(StatusMoreResultsExist, 0xfe), ok(StatusMoreResultsExist, 0), errPacket}, deprecated, Whole},
		{"an error in the middle of rows", [][]byte{{1}, col, []byte("\x01a"), errPacket}, deprecated, Whole},
		{"a cursor", [][]byte{{1}, col, eof(StatusCursorExists)}, Layout{}, Whole},
		{"LOCAL INFILE", [][]byte{[]byte("\xfbdata.csv")}, deprecated, Streamed},
	} {
		t.Run(c.name, func(t *testing.T) {
			wire := frame(c.packets...)
			if got := ResultsBuffered(wire, c.layout); got != c.buffered {
				t.Errorf("whole answer: %v, want %v", got, c.buffered)
			}
			if got := ResultsBuffered(append(bytes.Clone(wire), frame(ok(0, 0))...), c.layout); got != c.buffered {
				t.Errorf("answer followed by more bytes: %v, want %v", got, c.buffered)
			}
			for cut := range len(wire) {
				if got := ResultsBuffered(wire[:cut], c.layout); got == Whole {
					t.Fatalf("whole after %d of %d bytes", cut, len(wire))
				}
			}
		})
	}
	if got := ResultsBuffered(frame([]byte{1}, col, bytes.Repeat([]byte("x"), MaxPayload), ok(0, 0xfe))[:1000], Layout{DeprecateEOF: true}); got != Streamed {
		t.Errorf("an answer with a 16 MiB packet: %v, want Streamed", got)
	}
}

// FuzzResultsBuffered checks the promise the event loop relies on: an
// answer ResultsBuffered calls whole is relayed by Results without reading
// past it (a malformed one fails as malformed, never for want of bytes).
func FuzzResultsBuffered(f *testing.F) {
	col := []byte("\x03def\x00\x01t\x01t\x01c\x01c\x0c\x3f\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00")
	f.Add(frame(ok(StatusAutocommit, 0)), true, false)
	f.Add(frame([]byte{2}, col, col, eof(0), []byte("\x011\x012"), eof(StatusAutocommit)), false, false)
	f.Add(frame([]byte{1}, col, []byte("\x01a"), ok(StatusMoreResultsExist, 0xfe), ok(0, 0)), true, false)
	f.Add(frame([]byte{1}, col, eof(StatusCursorExists)), false, false)
	f.Add(frame([]byte{2, 0}, []byte("\x011\x012"), ok(0, 0xfe)), true, true)
	f.Add(frame([]byte("\xff\xff\xff\x01\x01\x01\x10\x27\x00\x05stage"), ok(0, 0)), true, false)
	f.Add([]byte{0, 0, 0, 1}, true, false)
	f.Fuzz(func(t *testing.T, answer []byte, deprecateEOF, cacheMetadata bool) {
		if ResultsBuffered(answer, Layout{DeprecateEOF: deprecateEOF, CacheMetadata: cacheMetadata}) != Whole {
			return
		}
		backend := NewConn(byteStream{r: bytes.NewReader(answer)}, Backend, len(answer)+16)
		backend.Buffer()
		backend.seq = 0
		client := NewConn(byteStream{r: bytes.NewReader(nil)}, Client, 16)
		client.Buffer()
		r := &Relay{Backend: backend, Client: client, Layout: Layout{DeprecateEOF: deprecateEOF, CacheMetadata: cacheMetadata}}
		if _, err := r.Results(); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("a whole answer failed with %v", err)
		}
	})
}
