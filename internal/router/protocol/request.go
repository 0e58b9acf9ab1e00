package protocol

import "fmt"

// Request is one client command. Its first bytes are read into Payload;
// a command longer than the bound it was read with stays in the
// connection's buffer and is streamed when forwarded, so a 100 MiB INSERT
// never sits in the router's memory.
type Request struct {
	Payload []byte
	conn    *Conn
	left    int  // unread bytes of the current packet
	more    bool // the current packet is MaxPayload long: another follows
	// streamed: Payload held only the head of the command when it was
	// forwarded.
	streamed bool
}

// Streamed reports whether the command was forwarded with more than its
// Payload (the rest streamed from the client's connection).
func (r *Request) Streamed() bool { return r.streamed }

// ReadRequest starts a command exchange and reads a request, at most head
// bytes of it into buf.
func (c *Conn) ReadRequest(buf []byte, head int) (Request, error) {
	c.ResetSeq()
	n, err := c.readHeader()
	if err != nil {
		return Request{}, err
	}
	if n == 0 {
		return Request{}, c.fail(fmt.Errorf("%w: empty command packet", ErrMalformed))
	}
	take := min(n, head)
	buf = grow(buf[:0], take)
	if err := c.read(buf); err != nil {
		return Request{}, err
	}
	return Request{Payload: buf, conn: c, left: n - take, more: n == MaxPayload}, nil
}

// Complete reports whether Payload holds the whole command.
func (r *Request) Complete() bool { return r.left == 0 && !r.more }

// ReadAll reads the rest of the command into Payload; a command over limit
// bytes is refused.
func (r *Request) ReadAll(limit int) error {
	for !r.Complete() {
		if r.left == 0 {
			n, err := r.conn.readHeader()
			if err != nil {
				return err
			}
			r.left, r.more = n, n == MaxPayload
		}
		if len(r.Payload)+r.left > limit {
			return fmt.Errorf("command of more than %d bytes", limit)
		}
		start := len(r.Payload)
		r.Payload = grow(r.Payload, r.left)
		if err := r.conn.read(r.Payload[start:]); err != nil {
			return err
		}
		r.left = 0
	}
	return nil
}

// Forward sends the command to dst with payload in place of Payload
// (the same bytes, or a rewritten copy). Only a complete request may change
// length; an incomplete one is read whole first.
func (r *Request) Forward(dst *Conn, payload []byte) error {
	if !r.Complete() && len(payload) != len(r.Payload) {
		return fmt.Errorf("rewriting a streamed command changes its length")
	}
	dst.ResetSeq()
	if r.Complete() {
		if err := dst.WritePacket(payload); err != nil {
			return err
		}
		return dst.Flush()
	}
	r.streamed = true
	n := len(payload) + r.left
	for {
		if err := dst.writeHeader(n); err != nil {
			return err
		}
		if payload != nil {
			if err := dst.write(payload); err != nil {
				return err
			}
			payload = nil
		}
		if err := r.conn.copyTo(dst, r.left, nil, nil); err != nil {
			return err
		}
		r.left = 0
		if !r.more {
			return dst.Flush()
		}
		var err error
		if n, err = r.conn.readHeader(); err != nil {
			return err
		}
		r.left, r.more = n, n == MaxPayload
	}
}

// Skip drops the unread rest of the command, keeping the connection in step.
func (r *Request) Skip() error {
	for !r.Complete() {
		if r.left == 0 {
			n, err := r.conn.readHeader()
			if err != nil {
				return err
			}
			r.left, r.more = n, n == MaxPayload
			continue
		}
		if err := r.conn.copyTo(nil, r.left, nil, nil); err != nil {
			return err
		}
		r.left = 0
	}
	return nil
}
