package protocol

import (
	"encoding/binary"
	"fmt"
)

// ServerError is an ERR packet: the server's (or the router's own) error.
type ServerError struct {
	Code    uint16
	State   string // SQLSTATE, five characters
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("Error %d (%s): %s", e.Code, e.State, e.Message)
}

// AppendERR appends e as an ERR packet payload.
func AppendERR(buf []byte, e *ServerError) []byte {
	state := e.State
	if len(state) != 5 {
		state = "HY000"
	}
	buf = append(buf, headerERR, byte(e.Code), byte(e.Code>>8), '#')
	buf = append(buf, state...)
	return append(buf, e.Message...)
}

// ParseERR reads an ERR packet payload (protocol 4.1 form).
func ParseERR(p []byte) (*ServerError, error) {
	if len(p) < 3 || p[0] != headerERR {
		return nil, fmt.Errorf("%w: not an ERR packet", ErrMalformed)
	}
	e := &ServerError{Code: binary.LittleEndian.Uint16(p[1:]), State: "HY000"}
	rest := p[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		e.State, rest = string(rest[1:6]), rest[6:]
	}
	e.Message = string(rest)
	return e, nil
}

// OK is an OK packet. Info and SessionState alias the packet they were
// parsed from.
type OK struct {
	AffectedRows uint64
	InsertID     uint64
	Status       uint16
	Warnings     uint16
	Info         []byte
	// SessionState is the session state information (CLIENT_SESSION_TRACK,
	// present when Status has StatusSessionStateChange).
	SessionState []byte
}

// ParseOK reads an OK packet payload (header 0x00, or 0xfe when it ends a
// result set under CLIENT_DEPRECATE_EOF); tracks says whether the
// connection negotiated CLIENT_SESSION_TRACK, which changes its layout.
func ParseOK(p []byte, tracks bool) (OK, error) {
	var ok OK
	if len(p) < 1 {
		return ok, fmt.Errorf("%w: empty OK packet", ErrMalformed)
	}
	r := reader{b: p[1:]}
	ok.AffectedRows = r.lenenc()
	ok.InsertID = r.lenenc()
	ok.Status = r.uint16()
	ok.Warnings = r.uint16()
	if r.bad {
		return ok, fmt.Errorf("%w: truncated OK packet", ErrMalformed)
	}
	if !tracks {
		ok.Info = r.rest()
		return ok, nil
	}
	if len(r.b) > 0 {
		ok.Info = r.lenencBytes()
	}
	if ok.Status&StatusSessionStateChange != 0 && len(r.b) > 0 {
		ok.SessionState = r.lenencBytes()
	}
	if r.bad {
		return ok, fmt.Errorf("%w: truncated OK packet", ErrMalformed)
	}
	return ok, nil
}

// Append appends the OK packet with the given header byte, laid out for a
// connection that negotiated CLIENT_SESSION_TRACK or not. Without it the
// session state is left out and its status flag cleared.
func (ok OK) Append(buf []byte, header byte, tracks bool) []byte {
	buf = append(buf, header)
	buf = appendLenenc(buf, ok.AffectedRows)
	buf = appendLenenc(buf, ok.InsertID)
	status := ok.Status
	if !tracks {
		status &^= StatusSessionStateChange
	}
	buf = binary.LittleEndian.AppendUint16(buf, status)
	buf = binary.LittleEndian.AppendUint16(buf, ok.Warnings)
	if !tracks {
		return append(buf, ok.Info...)
	}
	if len(ok.Info) == 0 && status&StatusSessionStateChange == 0 {
		return buf
	}
	buf = appendLenencBytes(buf, ok.Info)
	if status&StatusSessionStateChange != 0 {
		buf = appendLenencBytes(buf, ok.SessionState)
	}
	return buf
}

// LastGTID finds the GTID a transaction was written with in a session
// state: MariaDB reports it as a change of the last_gtid system variable
// when session_track_system_variables includes it. "" when absent.
func LastGTID(state []byte) string {
	r := reader{b: state}
	for len(r.b) > 0 && !r.bad {
		kind := r.byte()
		data := reader{b: r.lenencBytes()}
		if kind != trackSystemVariables {
			continue
		}
		name, value := data.lenencBytes(), data.lenencBytes()
		if !data.bad && string(name) == "last_gtid" && len(value) > 0 {
			return string(value)
		}
	}
	return ""
}

// eofStatus is the status flags of an EOF packet payload.
func eofStatus(p []byte) (uint16, error) {
	if len(p) < 5 {
		return 0, fmt.Errorf("%w: truncated EOF packet", ErrMalformed)
	}
	return binary.LittleEndian.Uint16(p[3:]), nil
}

// reader decodes protocol fields; a read past the end sets bad instead of
// panicking, so callers check once at the end.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad = true
		r.b = nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) uint16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) uint32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) lenenc() uint64 {
	switch first := r.byte(); {
	case first < 0xfb:
		return uint64(first)
	case first == 0xfc:
		return uint64(r.uint16())
	case first == 0xfd:
		if b := r.take(3); b != nil {
			return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
		}
	case first == 0xfe:
		if b := r.take(8); b != nil {
			return binary.LittleEndian.Uint64(b)
		}
	default:
		r.bad = true
	}
	return 0
}

func (r *reader) lenencBytes() []byte {
	n := r.lenenc()
	if n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	return r.take(int(n))
}

// nulString reads a NUL-terminated string; at the end of the packet the
// terminator may be missing, as some clients do.
func (r *reader) nulString() []byte {
	for i, c := range r.b {
		if c == 0 {
			s := r.b[:i]
			r.b = r.b[i+1:]
			return s
		}
	}
	return r.rest()
}

func (r *reader) rest() []byte {
	out := r.b
	r.b = nil
	return out
}

func appendLenenc(buf []byte, n uint64) []byte {
	switch {
	case n < 0xfb:
		return append(buf, byte(n))
	case n <= 0xffff:
		return append(buf, 0xfc, byte(n), byte(n>>8))
	case n <= 0xffffff:
		return append(buf, 0xfd, byte(n), byte(n>>8), byte(n>>16))
	}
	return binary.LittleEndian.AppendUint64(append(buf, 0xfe), n)
}

func appendLenencBytes(buf, b []byte) []byte {
	return append(appendLenenc(buf, uint64(len(b))), b...)
}

func appendNul(buf []byte, s string) []byte { return append(append(buf, s...), 0) }
