package relay

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
)

// maxPayload is the largest payload of one packet; a longer logical packet
// continues in the next.
const maxPayload = 1<<24 - 1

// minCompress is the size below which MariaDB sends a compressed-protocol
// frame uncompressed.
const minCompress = 50

// wire reads and writes the physical packets of one side of a relayed
// connection: plain, or inside compressed-protocol frames once the client
// negotiated compression. Packets keep the sequence id they are given.
//
// One goroutine reads and another writes; the compressed frames' own
// sequence is shared between them (a response's frames follow the
// request's), hence the atomic.
type wire struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer

	compressed bool
	// inflated holds decompressed bytes not yet read as packets.
	inflated []byte
	// frameSeq is the sequence id of the next compressed frame written.
	frameSeq atomic.Uint32
	// pending holds the packets of the next compressed frame.
	pending bytes.Buffer
	zw      *zlib.Writer
	zbuf    bytes.Buffer
}

func newWire(c net.Conn) *wire {
	return &wire{conn: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
}

// upgrade replaces the connection (TLS); nothing may be buffered.
func (w *wire) upgrade(c net.Conn) {
	w.conn = c
	w.r.Reset(c)
	w.w.Reset(c)
}

// compress switches both directions to the compressed protocol.
func (w *wire) compress() { w.compressed = true }

// idle reports whether a read would wait for the network: time to flush
// what was written on the other side.
func (w *wire) idle() bool {
	if w.compressed && len(w.inflated) >= 4 {
		return false
	}
	return w.r.Buffered() == 0
}

// readPacket returns the next physical packet: its sequence id and payload
// (valid until the next read).
func (w *wire) readPacket() (byte, []byte, error) {
	if !w.compressed {
		var h [4]byte
		if _, err := io.ReadFull(w.r, h[:]); err != nil {
			return 0, nil, err
		}
		p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
		if _, err := io.ReadFull(w.r, p); err != nil {
			return 0, nil, err
		}
		return h[3], p, nil
	}
	for {
		if len(w.inflated) >= 4 {
			n := int(w.inflated[0]) | int(w.inflated[1])<<8 | int(w.inflated[2])<<16
			if len(w.inflated) >= 4+n {
				seq, p := w.inflated[3], bytes.Clone(w.inflated[4:4+n])
				w.inflated = w.inflated[4+n:]
				return seq, p, nil
			}
		}
		if err := w.readFrame(); err != nil {
			return 0, nil, err
		}
	}
}

// readFrame reads one compressed-protocol frame into inflated.
func (w *wire) readFrame() error {
	var h [7]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return err
	}
	size := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	raw := int(h[4]) | int(h[5])<<8 | int(h[6])<<16
	body := make([]byte, size)
	if _, err := io.ReadFull(w.r, body); err != nil {
		return err
	}
	w.frameSeq.Store(uint32(h[3]) + 1)
	if raw == 0 {
		w.inflated = append(w.inflated, body...)
		return nil
	}
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("compressed frame: %w", err)
	}
	start := len(w.inflated)
	w.inflated = append(w.inflated, make([]byte, raw)...)
	if _, err := io.ReadFull(zr, w.inflated[start:]); err != nil {
		return fmt.Errorf("compressed frame: %w", err)
	}
	return nil
}

// writePacket buffers one physical packet (at most maxPayload bytes).
func (w *wire) writePacket(seq byte, p []byte) error {
	if len(p) > maxPayload {
		return errors.New("packet longer than the protocol's maximum")
	}
	h := [4]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}
	if w.compressed {
		w.pending.Write(h[:])
		w.pending.Write(p)
		return nil
	}
	if _, err := w.w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.w.Write(p)
	return err
}

// writeLogical writes a payload of any length as packets of the protocol's
// maximum size, numbered from *seq on.
func (w *wire) writeLogical(seq *byte, p []byte) error {
	for {
		n := min(len(p), maxPayload)
		if err := w.writePacket(*seq, p[:n]); err != nil {
			return err
		}
		*seq++
		p = p[n:]
		if n < maxPayload {
			return nil
		}
	}
}

// flush sends what is buffered.
func (w *wire) flush() error {
	if w.compressed {
		for w.pending.Len() > 0 {
			if err := w.writeFrame(w.pending.Next(maxPayload)); err != nil {
				return err
			}
		}
	}
	return w.w.Flush()
}

// writeFrame writes data as one compressed-protocol frame, compressed when
// that pays.
func (w *wire) writeFrame(data []byte) error {
	body, raw := data, 0
	if len(data) >= minCompress {
		w.zbuf.Reset()
		if w.zw == nil {
			w.zw = zlib.NewWriter(&w.zbuf)
		} else {
			w.zw.Reset(&w.zbuf)
		}
		if _, err := w.zw.Write(data); err != nil {
			return err
		}
		if err := w.zw.Close(); err != nil {
			return err
		}
		if w.zbuf.Len() < len(data) {
			body, raw = w.zbuf.Bytes(), len(data)
		}
	}
	seq := byte(w.frameSeq.Add(1) - 1)
	h := [7]byte{byte(len(body)), byte(len(body) >> 8), byte(len(body) >> 16), seq, byte(raw), byte(raw >> 8), byte(raw >> 16)}
	if _, err := w.w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.w.Write(body)
	return err
}
