package protocol

// Buffering is how much of an answer a buffer holds.
type Buffering uint8

const (
	// Partial: packets of the answer are still to come.
	Partial Buffering = iota
	// Whole: relaying the answer will not wait on the network.
	Whole
	// Streamed: the answer cannot be held (a packet of MaxPayload bytes
	// or more) or needs the client before it ends (LOCAL INFILE).
	Streamed
)

// ResultsBuffered tells whether buf, which starts at a response's first
// packet header, holds the whole answer Relay.Results would relay. A
// malformed answer counts as whole: Results reports it.
func ResultsBuffered(buf []byte, l Layout) Buffering {
	f := framer{buf: buf}
	for {
		p, state := f.next()
		if state != Whole {
			return state
		}
		var more bool
		switch first := p[0]; {
		case first == headerOK:
			more = okMore(p)
		case first == headerERR && isProgress(p):
			more = true
		case first == headerERR:
			return Whole
		case first == headerEOF && len(p) < 9:
			more = eofMore(p)
		case first == headerInfile:
			return Streamed
		default:
			if more, state = f.resultSet(p, l); state != Whole {
				return state
			}
		}
		if !more || f.bad {
			return Whole
		}
	}
}

// framer walks the packets of a buffered answer.
type framer struct {
	buf []byte
	off int
	// bad is set on a packet Results will refuse.
	bad bool
}

// next returns the next packet's payload if it is wholly in the buffer.
// An empty packet is malformed.
func (f *framer) next() ([]byte, Buffering) {
	h := f.buf[f.off:]
	if len(h) < 4 {
		return nil, Partial
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n >= MaxPayload {
		return nil, Streamed
	}
	if len(h) < 4+n {
		return nil, Partial
	}
	f.off += 4 + n
	if n == 0 {
		f.bad = true
		return []byte{headerERR}, Whole
	}
	return h[4 : 4+n], Whole
}

// resultSet walks a result set from its column count packet p and reports
// whether another result follows it, once it is Whole.
func (f *framer) resultSet(p []byte, l Layout) (bool, Buffering) {
	deprecateEOF := l.DeprecateEOF
	columns, follows, ok := l.metadataFollows(p)
	if !ok {
		f.bad = true
		return false, Whole
	}
	if !follows {
		columns = 0
	}
	// Each column is a packet of four bytes or more: a count the buffer
	// cannot hold ends the walk at Partial, with a full buffer.
	for range columns {
		if _, state := f.next(); state != Whole {
			return false, state
		}
	}
	if !deprecateEOF {
		p, state := f.next()
		if state != Whole {
			return false, state
		}
		if p[0] != headerEOF {
			f.bad = true
			return false, Whole
		}
		if eofStatusOf(p)&StatusCursorExists != 0 {
			return false, Whole
		}
	}
	for {
		p, state := f.next()
		if state != Whole {
			return false, state
		}
		switch {
		case p[0] == headerERR:
			return false, Whole
		case p[0] == headerEOF && deprecateEOF:
			return okMore(p), Whole
		case p[0] == headerEOF:
			return eofMore(p), Whole
		}
	}
}

// okMore reads the status of an OK packet (header 0x00, or 0xfe ending a
// result set) and reports whether more results follow.
func okMore(p []byte) bool {
	r := reader{b: p[1:]}
	r.lenenc()
	r.lenenc()
	return r.uint16()&StatusMoreResultsExist != 0 && !r.bad
}

func eofMore(p []byte) bool { return eofStatusOf(p)&StatusMoreResultsExist != 0 }

// eofStatusOf is an EOF packet's status, 0 when it is too short to have one.
func eofStatusOf(p []byte) uint16 {
	s, _ := eofStatus(p)
	return s
}
