package protocol

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
)

// The compressed protocol (CLIENT_COMPRESS) wraps the packet stream in
// compressed packets: a 7-byte header (compressed length, a sequence id
// of its own, uncompressed length, 0 when the payload is stored as is)
// and a zlib payload. Ordinary packets may span compressed ones, so the
// compression sits between the connection's buffers and its socket: the
// relay above it sees plain packets.

// compressHeader is the size of a compressed packet's header.
const compressHeader = 7

// minCompress is the payload below which MariaDB stores rather than
// compresses (MIN_COMPRESS_LENGTH).
const minCompress = 50

// compressor reads and writes the compressed protocol over a stream.
type compressor struct {
	rw  io.ReadWriter
	seq uint8
	// in is what was decompressed and not read yet.
	in   []byte
	zr   io.ReadCloser
	zw   *zlib.Writer
	zbuf bytes.Buffer
	hdr  [compressHeader]byte
	// payload is the read buffer for one compressed packet.
	payload []byte
}

func newCompressor(rw io.ReadWriter) *compressor { return &compressor{rw: rw} }

// Read returns decompressed bytes, reading one compressed packet when
// none are left.
func (c *compressor) Read(p []byte) (int, error) {
	for len(c.in) == 0 {
		if err := c.readPacket(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *compressor) readPacket() error {
	if _, err := io.ReadFull(c.rw, c.hdr[:]); err != nil {
		return err
	}
	n := int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
	c.seq = c.hdr[3] + 1
	plain := int(c.hdr[4]) | int(c.hdr[5])<<8 | int(c.hdr[6])<<16
	c.payload = grow(c.payload[:0], n)
	if _, err := io.ReadFull(c.rw, c.payload); err != nil {
		return err
	}
	if plain == 0 {
		c.in = c.payload
		return nil
	}
	var err error
	if c.zr == nil {
		c.zr, err = zlib.NewReader(bytes.NewReader(c.payload))
	} else {
		err = c.zr.(zlib.Resetter).Reset(bytes.NewReader(c.payload), nil)
	}
	if err != nil {
		return fmt.Errorf("%w: compressed packet: %v", ErrMalformed, err)
	}
	out := make([]byte, plain)
	if _, err := io.ReadFull(c.zr, out); err != nil {
		return fmt.Errorf("%w: compressed packet: %v", ErrMalformed, err)
	}
	c.in = out
	return nil
}

// Write sends p as compressed packets (stored when short).
func (c *compressor) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxPayload)]
		if err := c.writePacket(chunk); err != nil {
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

func (c *compressor) writePacket(p []byte) error {
	payload, plain := p, 0
	if len(p) >= minCompress {
		c.zbuf.Reset()
		if c.zw == nil {
			c.zw = zlib.NewWriter(&c.zbuf)
		} else {
			c.zw.Reset(&c.zbuf)
		}
		c.zw.Write(p)
		if err := c.zw.Close(); err != nil {
			return err
		}
		if c.zbuf.Len() < len(p) {
			payload, plain = c.zbuf.Bytes(), len(p)
		}
	}
	n := len(payload)
	c.hdr = [compressHeader]byte{byte(n), byte(n >> 8), byte(n >> 16), c.seq, byte(plain), byte(plain >> 8), byte(plain >> 16)}
	c.seq++
	if _, err := c.rw.Write(c.hdr[:]); err != nil {
		return err
	}
	_, err := c.rw.Write(payload)
	return err
}
