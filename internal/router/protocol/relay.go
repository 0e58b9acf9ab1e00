package protocol

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Relay copies one command's response from a backend to a client, packet
// by packet: rows go from the backend's read buffer to the client's write
// buffer and are never collected. Packets are re-sequenced for the client,
// so the two connections need not agree on sequence ids.
type Relay struct {
	Backend *Conn
	// Client receives the response; nil drains it (a replayed session
	// command, a statement prepared behind the client's back).
	Client *Conn
	Layout
	// BackendTracks and ClientTracks are CLIENT_SESSION_TRACK on each side;
	// a backend may track session state for the router alone, and then OK
	// packets are rewritten without it for the client.
	BackendTracks, ClientTracks bool
	// Tally, when set, sums up each response as it passes (Results only):
	// a diff service compares two servers' answers without holding them.
	Tally *Tally
	// Checksum, when set, accumulates a CRC-32 of every payload relayed
	// (headers left out): an answer replayed on another server must match
	// the one the client got.
	Checksum *uint32

	scratch []byte
}

// Layout is how the capabilities both sides negotiated alike lay out a
// response.
type Layout struct {
	// DeprecateEOF is CLIENT_DEPRECATE_EOF.
	DeprecateEOF bool
	// CacheMetadata is MariaDB's MARIADB_CLIENT_CACHE_METADATA.
	CacheMetadata bool
	// ExtendedTypeInfo is MariaDB's MARIADB_CLIENT_EXTENDED_TYPE_INFO.
	ExtendedTypeInfo bool
}

// metadataFollows reads a column count packet: the count, and whether
// column definitions follow it.
func (l Layout) metadataFollows(p []byte) (uint64, bool, bool) {
	r := reader{b: p}
	columns := r.lenenc()
	follows := true
	if l.CacheMetadata {
		follows = r.byte() != 0
	}
	return columns, follows, !r.bad
}

// isProgress reports whether a packet starting with the ERR header is a
// progress report, which a long statement's answer may carry before its
// result.
func isProgress(head []byte) bool {
	return len(head) >= 3 && head[0] == headerERR && head[1] == 0xff && head[2] == 0xff
}

// Outcome is what the router learns from a response.
type Outcome struct {
	// Status is the server status of the last OK or EOF packet.
	Status uint16
	// Err is the ERR packet that ended the response, if one did.
	Err *ServerError
	// LastGTID is the GTID the statement was written with, when the backend
	// tracks it (last_gtid in session_track_system_variables).
	LastGTID string
}

// Results relays the response to COM_QUERY, COM_STMT_EXECUTE or any
// command answered by OK, ERR or EOF: one or more results, each an OK
// packet or a result set, until one without StatusMoreResultsExist.
func (r *Relay) Results() (Outcome, error) {
	var out Outcome
	for {
		n, first, err := r.next()
		if err != nil {
			return out, err
		}
		more := false
		switch {
		case first == headerOK:
			more, err = r.ok(n, first, &out)
		case first == headerERR && r.progress(n):
			err = r.forward(n, nil)
			more = true
		case first == headerERR:
			err = r.err(n, &out)
		case first == headerEOF && n < 9:
			more, err = r.eof(n, &out)
		case first == headerInfile:
			err = r.infile(n)
			more = true // the server's OK or ERR follows
		default:
			more, err = r.resultSet(n, &out)
		}
		if err != nil || !more {
			if err == nil && r.Tally != nil {
				r.Tally.Complete = true
			}
			return out, err
		}
	}
}

// resultSet relays a result set whose first packet (the column count) has
// its header read.
func (r *Relay) resultSet(n int, out *Outcome) (bool, error) {
	head, err := r.Backend.peek(min(n, 10))
	if err != nil {
		return false, err
	}
	columns, follows, ok := r.metadataFollows(head)
	if !ok {
		return false, r.Backend.fail(fmt.Errorf("%w: bad column count", ErrMalformed))
	}
	if err := r.forward(n, nil); err != nil {
		return false, err
	}
	if follows {
		if err := r.forwardPackets(int(columns)); err != nil {
			return false, err
		}
	}
	if !r.DeprecateEOF {
		n, first, err := r.next()
		if err != nil {
			return false, err
		}
		if first != headerEOF {
			return false, r.Backend.fail(fmt.Errorf("%w: 0x%02x where the EOF after column definitions belongs", ErrMalformed, first))
		}
		if _, err := r.eof(n, out); err != nil {
			return false, err
		}
		// A cursor opened by COM_STMT_EXECUTE: rows come with COM_STMT_FETCH.
		if out.Status&StatusCursorExists != 0 {
			return false, nil
		}
	}
	return r.rows(out)
}

// Rows relays packets until the EOF (or, under CLIENT_DEPRECATE_EOF, the OK
// packet with an EOF header) that ends them: the answer to COM_STMT_FETCH
// and COM_FIELD_LIST.
func (r *Relay) Rows() (Outcome, error) {
	var out Outcome
	_, err := r.rows(&out)
	return out, err
}

func (r *Relay) rows(out *Outcome) (bool, error) {
	for {
		if r.Tally == nil {
			if _, err := r.Backend.forwardBuffered(r.Client, math.MaxInt, true, r.Checksum); err != nil {
				return false, err
			}
		}
		n, first, err := r.next()
		if err != nil {
			return false, err
		}
		switch {
		case first == headerERR:
			return false, r.err(n, out)
		case first == headerEOF && n < MaxPayload:
			if r.DeprecateEOF {
				return r.ok(n, first, out)
			}
			return r.eof(n, out)
		}
		if err := r.forwardRow(n); err != nil {
			return false, err
		}
	}
}

// Single relays a one-packet response (COM_STATISTICS).
func (r *Relay) Single() (Outcome, error) {
	var out Outcome
	n, first, err := r.next()
	if err != nil {
		return out, err
	}
	if first == headerERR {
		return out, r.err(n, &out)
	}
	return out, r.forward(n, nil)
}

// Prepared describes a statement a backend prepared.
type Prepared struct {
	ID      uint32
	Columns uint16
	Params  uint16
}

// Prepare relays the response to COM_STMT_PREPARE, giving the client
// clientID in place of the backend's statement id.
func (r *Relay) Prepare(clientID uint32) (Prepared, Outcome, error) {
	var out Outcome
	var st Prepared
	n, first, err := r.next()
	if err != nil {
		return st, out, err
	}
	if first == headerERR {
		return st, out, r.err(n, &out)
	}
	if first != headerOK || n < 12 || n >= MaxPayload {
		return st, out, r.Backend.fail(fmt.Errorf("%w: bad COM_STMT_PREPARE answer", ErrMalformed))
	}
	p, err := r.payload(n)
	if err != nil {
		return st, out, err
	}
	st = Prepared{ID: binary.LittleEndian.Uint32(p[1:]), Columns: binary.LittleEndian.Uint16(p[5:]), Params: binary.LittleEndian.Uint16(p[7:])}
	binary.LittleEndian.PutUint32(p[1:], clientID)
	if err := r.emit(p); err != nil {
		return st, out, err
	}
	for _, defs := range []uint16{st.Params, st.Columns} {
		if defs == 0 {
			continue
		}
		if err := r.forwardPackets(int(defs)); err != nil {
			return st, out, err
		}
		if !r.DeprecateEOF {
			if err := r.forwardPackets(1); err != nil {
				return st, out, err
			}
		}
	}
	return st, out, nil
}

// progress reports whether the packet of n bytes whose header was just
// read is a progress report.
func (r *Relay) progress(n int) bool {
	if n < 3 {
		return false
	}
	head, err := r.Backend.peek(3)
	return err == nil && isProgress(head)
}

// next reads the header of the next logical packet and peeks its first byte.
func (r *Relay) next() (int, byte, error) {
	n, err := r.Backend.readHeader()
	if err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, r.Backend.fail(fmt.Errorf("%w: empty packet in a response", ErrMalformed))
	}
	b, err := r.Backend.peek(1)
	if err != nil {
		return 0, 0, err
	}
	return n, b[0], nil
}

// forwardRow relays a row whose header is read, adding it to the tally.
func (r *Relay) forwardRow(n int) error {
	if r.Tally == nil {
		return r.forward(n, nil)
	}
	r.Tally.row = fnvOffset
	if err := r.forward(n, r.Tally); err != nil {
		return err
	}
	r.Tally.Rows++
	r.Tally.Checksum += r.Tally.row
	return nil
}

// sum adds payload bytes to the checksum, when one is kept.
func (r *Relay) sum(p []byte) {
	if r.Checksum != nil {
		*r.Checksum = crc32.Update(*r.Checksum, crc32.IEEETable, p)
	}
}

// forward relays the rest of a logical packet whose header is read, adding
// its bytes to t's current row when t is not nil.
func (r *Relay) forward(n int, t *Tally) error {
	for {
		if r.Client != nil {
			if err := r.Client.writeHeader(n); err != nil {
				return err
			}
		}
		if err := r.Backend.copyTo(r.Client, n, t, r.Checksum); err != nil {
			return err
		}
		if n < MaxPayload {
			return nil
		}
		var err error
		if n, err = r.Backend.readHeader(); err != nil {
			return err
		}
	}
}

// forwardPackets relays count whole logical packets.
func (r *Relay) forwardPackets(count int) error {
	for count > 0 {
		k, err := r.Backend.forwardBuffered(r.Client, count, false, r.Checksum)
		if err != nil {
			return err
		}
		if count -= k; count == 0 {
			return nil
		}
		count--
		n, err := r.Backend.readHeader()
		if err != nil {
			return err
		}
		if err := r.forward(n, nil); err != nil {
			return err
		}
	}
	return nil
}

// payload reads a short packet whose header is read into the scratch buffer.
func (r *Relay) payload(n int) ([]byte, error) {
	if n >= MaxPayload {
		return nil, r.Backend.fail(fmt.Errorf("%w: %d-byte status packet", ErrMalformed, n))
	}
	r.scratch = grow(r.scratch[:0], n)
	return r.scratch, r.Backend.read(r.scratch)
}

// emit writes one packet to the client.
func (r *Relay) emit(p []byte) error {
	if r.Client == nil {
		return nil
	}
	if err := r.Client.writeHeader(len(p)); err != nil {
		return err
	}
	return r.Client.write(p)
}

// ok relays an OK packet (header 0x00, or 0xfe ending a result set under
// CLIENT_DEPRECATE_EOF) and reports whether more results follow.
func (r *Relay) ok(n int, header byte, out *Outcome) (bool, error) {
	p, err := r.payload(n)
	if err != nil {
		return false, err
	}
	ok, err := ParseOK(p, r.BackendTracks)
	if err != nil {
		return false, r.Backend.fail(err)
	}
	out.Status = ok.Status
	if r.Tally != nil {
		r.Tally.AffectedRows += ok.AffectedRows
	}
	if len(ok.SessionState) > 0 {
		if gtid := LastGTID(ok.SessionState); gtid != "" {
			out.LastGTID = gtid
		}
	}
	if r.Checksum != nil {
		// Without session state, which only the client may track.
		r.sum(OK{AffectedRows: ok.AffectedRows, InsertID: ok.InsertID, Status: ok.Status &^ StatusSessionStateChange,
			Warnings: ok.Warnings}.Append(r.scratch[len(r.scratch):len(r.scratch)], header, false))
	}
	if r.BackendTracks && !r.ClientTracks {
		// Re-encode after p: ok's slices alias p.
		p = ok.Append(p[len(p):], header, false)
	}
	return ok.Status&StatusMoreResultsExist != 0, r.emit(p)
}

func (r *Relay) eof(n int, out *Outcome) (bool, error) {
	p, err := r.payload(n)
	if err != nil {
		return false, err
	}
	if out.Status, err = eofStatus(p); err != nil {
		return false, r.Backend.fail(err)
	}
	r.sum(p)
	return out.Status&StatusMoreResultsExist != 0, r.emit(p)
}

func (r *Relay) err(n int, out *Outcome) error {
	p, err := r.payload(n)
	if err != nil {
		return err
	}
	if out.Err, err = ParseERR(p); err != nil {
		return r.Backend.fail(err)
	}
	r.sum(p)
	if r.Tally != nil {
		r.Tally.ErrorCode = out.Err.Code
	}
	return r.emit(p)
}

// infile relays a LOCAL INFILE request to the client and the file's
// contents back, up to the empty packet that ends them.
func (r *Relay) infile(n int) error {
	if r.Client == nil {
		return r.Backend.fail(fmt.Errorf("%w: LOCAL INFILE request with no client to answer it", ErrMalformed))
	}
	if err := r.forward(n, nil); err != nil {
		return err
	}
	if err := r.Client.Flush(); err != nil {
		return err
	}
	for {
		n, err := r.Client.readHeader()
		if err != nil {
			return err
		}
		if err := r.Backend.writeHeader(n); err != nil {
			return err
		}
		if err := r.Client.copyTo(r.Backend, n, nil, nil); err != nil {
			return err
		}
		if n == 0 {
			return r.Backend.Flush()
		}
	}
}
