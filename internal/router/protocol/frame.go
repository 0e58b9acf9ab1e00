package protocol

// ResultsBuffered reports whether buf, which starts at a response's first
// packet header, holds the whole answer Relay.Results would relay, so that
// relaying it cannot wait on the network. It is false while packets are
// missing, and for answers that must be streamed instead: a packet of
// MaxPayload bytes or more, a LOCAL INFILE request. A malformed answer
// counts as whole: Results reports it.
func ResultsBuffered(buf []byte, deprecateEOF bool) bool {
	f := framer{buf: buf}
	for {
		p, ok := f.next()
		if !ok {
			return false
		}
		var more bool
		switch first := p[0]; {
		case first == headerOK:
			more = okMore(p)
		case first == headerERR:
			return true
		case first == headerEOF && len(p) < 9:
			more = eofMore(p)
		case first == headerInfile:
			return false
		default:
			if more, ok = f.resultSet(p, deprecateEOF); !ok {
				return false
			}
		}
		if !more || f.bad {
			return true
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

// next returns the next packet's payload, or false when it is not wholly
// in the buffer or is too large to hold. An empty packet is malformed.
func (f *framer) next() ([]byte, bool) {
	h := f.buf[f.off:]
	if len(h) < 4 {
		return nil, false
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n >= MaxPayload || len(h) < 4+n {
		return nil, false
	}
	f.off += 4 + n
	if n == 0 {
		f.bad = true
		return []byte{headerERR}, true
	}
	return h[4 : 4+n], true
}

// resultSet walks a result set from its column count packet p and reports
// whether another result follows it; false when it is not all buffered.
func (f *framer) resultSet(p []byte, deprecateEOF bool) (more, whole bool) {
	r := reader{b: p}
	columns := r.lenenc()
	if r.bad || columns > uint64(len(f.buf)) {
		f.bad = true
		return false, true
	}
	for range columns {
		if _, ok := f.next(); !ok {
			return false, false
		}
	}
	if !deprecateEOF {
		p, ok := f.next()
		if !ok {
			return false, false
		}
		if p[0] != headerEOF {
			f.bad = true
			return false, true
		}
		if eofStatusOf(p)&StatusCursorExists != 0 {
			return false, true
		}
	}
	for {
		p, ok := f.next()
		if !ok {
			return false, false
		}
		switch {
		case p[0] == headerERR:
			return false, true
		case p[0] == headerEOF && deprecateEOF:
			return okMore(p), true
		case p[0] == headerEOF:
			return eofMore(p), true
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
