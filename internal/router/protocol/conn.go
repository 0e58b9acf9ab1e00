package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"
)

// ErrMalformed marks a packet that breaks the protocol: a wrong sequence
// id, a truncated or oversized field. The connection cannot continue.
var ErrMalformed = errors.New("malformed packet")

// Side tells which end of the router a connection faces.
type Side uint8

const (
	Client Side = iota + 1
	Backend
)

func (s Side) String() string {
	if s == Client {
		return "client"
	}
	return "backend"
}

// IOError is a failure to read or write one connection, or a packet on it
// that breaks the protocol; Side says which, so a relay that fails knows
// whether the client or the backend is gone.
type IOError struct {
	Side Side
	Err  error
}

func (e *IOError) Error() string { return e.Side.String() + ": " + e.Err.Error() }
func (e *IOError) Unwrap() error { return e.Err }

// SideOf reports which connection an error of this package came from.
func SideOf(err error) (Side, bool) {
	var e *IOError
	if errors.As(err, &e) {
		return e.Side, true
	}
	return 0, false
}

// writerSize is the size of the pooled write buffers: large enough that a
// streamed result set goes out in few system calls.
const writerSize = 16 << 10

var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writerSize) }}

// Conn is one side of a MariaDB connection. It keeps the sequence id of
// the current exchange: every packet read or written takes the next one.
//
// During the connection phase a Conn reads straight from the network, so a
// TLS upgrade never finds handshake bytes already swallowed by a buffer;
// Buffer switches to buffered reads afterwards. The write buffer is taken
// from a pool for each response and given back on Flush, so an idle
// connection holds only its read buffer.
type Conn struct {
	net net.Conn
	// sock is how bytes move over net (see socket), or over the event
	// loop's socket once Adopt is called; rd reads sock, or the buffer in
	// front of it once Buffer is called.
	sock    io.ReadWriter
	closer  io.Closer
	rd      io.Reader
	br      *bufio.Reader
	bw      *bufio.Writer
	readBuf int
	// zip is the compressed protocol's layer, once Compress is called.
	zip     *compressor
	side    Side
	seq     uint8
	written uint64
	hdr     [4]byte
}

// NewConn wraps a network connection facing side; readBuf is the size of
// the read buffer Buffer will attach.
func NewConn(nc net.Conn, side Side, readBuf int) *Conn {
	sock := newSocket(nc)
	return &Conn{net: nc, sock: sock, closer: nc, rd: sock, side: side, readBuf: readBuf}
}

func (c *Conn) fail(err error) error {
	if err == nil {
		return nil
	}
	return &IOError{Side: c.side, Err: err}
}

// NetConn is the underlying connection (a *tls.Conn after Upgrade).
func (c *Conn) NetConn() net.Conn { return c.net }

// Upgrade replaces the network connection, for TLS. Only valid before Buffer.
func (c *Conn) Upgrade(nc net.Conn) { c.net, c.sock, c.closer, c.rd = nc, nc, nc, nc }

// Adopt moves the connection's I/O onto sock, an event loop's socket for
// the same connection, keeping what is buffered. Only valid after Buffer,
// between responses.
func (c *Conn) Adopt(sock io.ReadWriteCloser) { c.sock, c.closer = sock, sock }

// Compress switches to the compressed protocol; call it once the
// connection phase is over, before anything else is read or written.
func (c *Conn) Compress() {
	c.zip = newCompressor(c.sock)
	c.sock = c.zip
}

// Compressed reports whether the connection speaks the compressed protocol.
func (c *Conn) Compressed() bool { return c.zip != nil }

// Buffer starts buffered reads; call it once the connection phase is over.
func (c *Conn) Buffer() {
	if c.br == nil {
		c.br = bufio.NewReaderSize(sockReader{c}, c.readBuf)
		c.rd = c.br
	}
}

// sockReader reads whatever socket the connection is on now.
type sockReader struct{ c *Conn }

func (r sockReader) Read(p []byte) (int, error) { return r.c.sock.Read(p) }

// Close closes the connection and gives the write buffer back.
func (c *Conn) Close() error {
	c.release()
	return c.closer.Close()
}

// Fill reads what the socket has now, until a read brings less than there
// is room for or the buffer is full, and returns all that is buffered.
// On an event loop's socket, which does not wait, err is that socket's
// not-ready error when it had nothing; io.EOF or a failure otherwise.
func (c *Conn) Fill() ([]byte, error) {
	for c.br.Buffered() < c.br.Size() {
		before := c.br.Buffered()
		if _, err := c.br.Peek(before + 1); err != nil {
			return c.Unread(), err
		}
		if c.br.Buffered()-before < c.br.Size()-before {
			break
		}
	}
	return c.Unread(), nil
}

// Unread is what is buffered and not yet read.
func (c *Conn) Unread() []byte {
	b, _ := c.br.Peek(c.br.Buffered())
	return b
}

// BufferFull reports whether the read buffer has no room left.
func (c *Conn) BufferFull() bool { return c.br.Buffered() == c.br.Size() }

// PacketBuffered reports whether a whole packet, with no continuation, is
// buffered: reading it will not touch the socket.
func (c *Conn) PacketBuffered() bool {
	h := c.Unread()
	if len(h) < 4 {
		return false
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	return n < MaxPayload && len(h) >= 4+n
}

// ResetSeq starts a new command exchange.
func (c *Conn) ResetSeq() {
	c.seq = 0
	if c.zip != nil {
		c.zip.seq = 0
	}
}

func (c *Conn) writer() *bufio.Writer {
	if c.bw == nil {
		c.bw = writers.Get().(*bufio.Writer)
		c.bw.Reset(c.sock)
	}
	return c.bw
}

func (c *Conn) release() {
	if c.bw != nil {
		c.bw.Reset(nil)
		writers.Put(c.bw)
		c.bw = nil
	}
}

// Flush sends what is buffered and gives the write buffer back to the pool.
func (c *Conn) Flush() error {
	if c.bw == nil {
		return nil
	}
	err := c.bw.Flush()
	c.release()
	return c.fail(err)
}

// Buffered is the number of bytes written but not yet sent.
func (c *Conn) Buffered() int {
	if c.bw == nil {
		return 0
	}
	return c.bw.Buffered()
}

// Mark is the position reached in the bytes written to c.
func (c *Conn) Mark() uint64 { return c.written }

// Unsent reports whether everything written since mark is still buffered,
// so DropPending can take it back.
func (c *Conn) Unsent(mark uint64) bool { return c.written-mark <= uint64(c.Buffered()) }

// DropPending forgets what is buffered and not yet sent, so that an error
// packet can replace a response that failed half-way.
func (c *Conn) DropPending() { c.release() }

// readHeader reads a packet header and checks its sequence id.
func (c *Conn) readHeader() (int, error) {
	if _, err := io.ReadFull(c.rd, c.hdr[:]); err != nil {
		return 0, c.fail(err)
	}
	n := int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
	if c.hdr[3] != c.seq {
		return 0, c.fail(fmt.Errorf("%w: sequence id %d, expected %d", ErrMalformed, c.hdr[3], c.seq))
	}
	c.seq++
	return n, nil
}

// writeHeader buffers a packet header with the next sequence id.
func (c *Conn) writeHeader(n int) error {
	c.hdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), c.seq}
	c.seq++
	return c.write(c.hdr[:])
}

func (c *Conn) write(p []byte) error {
	c.written += uint64(len(p))
	_, err := c.writer().Write(p)
	return c.fail(err)
}

// PeerSpoke reports, without waiting, whether the peer sent something
// not yet read or closed the connection between two exchanges, and
// whether it reset it. It can tell only on a plain TCP connection not
// adopted by an event loop (the loop sees it by itself); anywhere else it
// reports false.
func (c *Conn) PeerSpoke() (spoke, reset bool) {
	if c.br != nil && c.br.Buffered() > 0 {
		return true, false
	}
	sock := c.sock
	if c.zip != nil {
		if len(c.zip.in) > 0 {
			return true, false
		}
		sock = c.zip.rw
	}
	if s, ok := sock.(*socket); ok {
		return s.spoke()
	}
	return false, false
}

// WriteRaw buffers bytes that are already framed as packets (passed on
// verbatim, sequence ids included).
func (c *Conn) WriteRaw(p []byte) error { return c.write(p) }

// ReadPacket reads one logical packet (all its continuation packets) into
// buf[:0]; a payload over limit bytes is refused as malformed.
func (c *Conn) ReadPacket(buf []byte, limit int) ([]byte, error) {
	buf = buf[:0]
	for {
		n, err := c.readHeader()
		if err != nil {
			return buf, err
		}
		if len(buf)+n > limit {
			return buf, c.fail(fmt.Errorf("%w: packet of more than %d bytes", ErrMalformed, limit))
		}
		start := len(buf)
		buf = grow(buf, n)
		if _, err := io.ReadFull(c.rd, buf[start:]); err != nil {
			return buf, c.fail(err)
		}
		if n < MaxPayload {
			return buf, nil
		}
	}
}

// WritePacket buffers payload as one logical packet, split into packets of
// MaxPayload bytes as the protocol requires.
func (c *Conn) WritePacket(payload []byte) error {
	for {
		n := min(len(payload), MaxPayload)
		if err := c.writeHeader(n); err != nil {
			return err
		}
		if err := c.write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
		if n < MaxPayload {
			return nil
		}
	}
}

// peek returns the next n bytes of the current packet without consuming
// them; n must not exceed the read buffer.
func (c *Conn) peek(n int) ([]byte, error) {
	b, err := c.br.Peek(n)
	return b, c.fail(err)
}

// read fills p from the current packet.
func (c *Conn) read(p []byte) error {
	_, err := io.ReadFull(c.rd, p)
	return c.fail(err)
}

// copyTo moves n bytes from c's read buffer to dst's write buffer (or drops
// them when dst is nil) without allocating, adding them to the row being
// tallied when t is not nil and to the checksum sum when it is not nil.
func (c *Conn) copyTo(dst *Conn, n int, t *Tally, sum *uint32) error {
	for n > 0 {
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return c.fail(err)
			}
		}
		k := min(n, c.br.Buffered())
		if dst != nil || t != nil || sum != nil {
			b, _ := c.br.Peek(k)
			if t != nil {
				t.hashRow(b)
			}
			if sum != nil {
				*sum = crc32.Update(*sum, crc32.IEEETable, b)
			}
			if dst != nil {
				if err := dst.write(b); err != nil {
					return err
				}
			}
		}
		c.br.Discard(k)
		n -= k
	}
	return nil
}

// forwardBuffered relays, in one write, the whole packets already in c's
// read buffer: at most limit of them, none with continuations, and for
// rows none that ends them (an ERR, or an EOF or OK with the EOF header).
// It stops at the first packet it cannot take so and returns how many it
// relayed; the caller goes on packet by packet, which also reports any
// broken sequence id. A 100-row answer thus costs one copy instead of a
// header read, a peek and two writes per row.
func (c *Conn) forwardBuffered(dst *Conn, limit int, rows bool, sum *uint32) (int, error) {
	if c.br == nil {
		return 0, nil
	}
	buf, _ := c.br.Peek(c.br.Buffered())
	off, count := 0, 0
	for count < limit && len(buf)-off > 4 {
		h := buf[off:]
		n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		if n == 0 || n >= MaxPayload || len(h) < 4+n || h[3] != c.seq+uint8(count) {
			break
		}
		if rows && (h[4] == headerERR || h[4] == headerEOF) {
			break
		}
		if dst != nil {
			// The buffer is c's own and the bytes are discarded below.
			h[3] = dst.seq + uint8(count)
		}
		if sum != nil {
			*sum = crc32.Update(*sum, crc32.IEEETable, h[4:4+n])
		}
		off += 4 + n
		count++
	}
	if count == 0 {
		return 0, nil
	}
	c.seq += uint8(count)
	if dst != nil {
		dst.seq += uint8(count)
		if err := dst.write(buf[:off]); err != nil {
			return 0, err
		}
	}
	c.br.Discard(off)
	return count, nil
}

// grow extends buf by n bytes, reallocating only when needed.
func grow(buf []byte, n int) []byte {
	if cap(buf)-len(buf) >= n {
		return buf[:len(buf)+n]
	}
	out := make([]byte, len(buf)+n, 2*cap(buf)+n)
	copy(out, buf)
	return out
}
