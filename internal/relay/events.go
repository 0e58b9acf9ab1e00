package relay

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Binlog event types the filter reads (MariaDB 10.11's log_event.h).
const (
	queryEvent             = 2
	loadAppendBlockEvent   = 9
	formatDescriptionEvent = 15
	beginLoadQueryEvent    = 17
	executeLoadQueryEvent  = 18
	tableMapEvent          = 19
	userVarEvent           = 14
	intvarEvent            = 5
	randEvent              = 13
	writeRowsV1            = 23
	deleteRowsV1           = 25
	writeRowsV2            = 30
	deleteRowsV2           = 32
	annotateRowsEvent      = 160
	gtidEvent              = 162
	startEncryptionEvent   = 164
	queryCompressedEvent   = 165
	writeRowsCompressedV1  = 166
	deleteRowsCompressedV2 = 171
	// lastKnownEvent is the highest type MariaDB 10.11 writes. A newer
	// server's new kind of event might carry row data the filter cannot
	// see: it is refused rather than passed on.
	lastKnownEvent = deleteRowsCompressedV2
)

const (
	headerLen   = 19
	checksumLen = 4
	// stmtEndFlag marks the last rows event of a statement: the applier
	// closes the statement's tables after it.
	stmtEndFlag = 0x0001
	// checksumCRC32 is binlog_checksum=CRC32 in a format description.
	checksumCRC32 = 1
)

// Personal reports whether a table holds personal data whose rows must
// not leave the region.
type Personal func(schema, table string) bool

// ErrUnfilterable is a binlog the filter cannot read well enough to know
// that no personal row crosses: the stream stops instead.
var ErrUnfilterable = errors.New("binlog cannot be filtered")

// Filter removes personal data from a binlog event stream, event by event.
// It drops the table maps and row events of personal tables and every
// annotate-rows event (the statement's text, which may quote personal
// values), and keeps each transaction's GTID and commit, so a transaction
// that only touched personal tables arrives empty and the replica's GTID
// position stays the source's. When the dropped event ended a statement,
// the last row event kept from that statement is marked as its end, so
// the replica's applier closes the statement's tables as it would have.
//
// Statement-based changes (Query events that insert, update, delete or
// load) of a personal table are replaced with a statement that does
// nothing, together with the user variables they use. Encrypted binlogs,
// statement-based LOAD DATA and unknown event types stop the stream.
type Filter struct {
	personal Personal

	checksum   bool
	tableIDLen int
	// dropped maps the table ids of the current transaction to whether
	// the table is personal.
	dropped map[uint64]bool
	// maps are the current statement's table maps of non-personal tables,
	// held until one of its row events is kept: a statement whose rows
	// were all dropped leaves no orphan table map behind.
	maps [][]byte
	// held is the last kept row event, not yet sent, in case a later
	// dropped event of its statement carried the statement's end.
	held []byte
	// context are user-variable, intvar and rand events held until the
	// statement they belong to is known to be kept.
	context [][]byte

	// Dropped counts the events removed, RowEvents among them.
	Dropped, RowEvents uint64
}

// NewFilter returns a filter for a stream that starts with a format
// description event (as a binlog dump does).
func NewFilter(personal Personal) *Filter {
	return &Filter{personal: personal, tableIDLen: 6, dropped: map[uint64]bool{}}
}

// Push takes the next event of the stream and returns the events to send
// in its place, in order: none, the event itself, or held events first.
func (f *Filter) Push(ev []byte) ([][]byte, error) {
	if len(ev) < headerLen {
		return nil, fmt.Errorf("%w: event of %d bytes", ErrUnfilterable, len(ev))
	}
	typ := ev[4]
	switch {
	case typ == formatDescriptionEvent:
		if err := f.formatDescription(ev); err != nil {
			return nil, err
		}
	case typ == gtidEvent:
		clear(f.dropped)
		f.maps, f.context = nil, nil
	case typ == tableMapEvent:
		return f.tableMap(ev)
	case isRowsEvent(typ):
		return f.rows(ev)
	case typ == annotateRowsEvent:
		f.Dropped++
		return nil, nil
	case typ == userVarEvent || typ == intvarEvent || typ == randEvent:
		f.context = append(f.context, ev)
		return nil, nil
	case typ == queryEvent || typ == queryCompressedEvent:
		return f.query(ev)
	case typ == startEncryptionEvent:
		return nil, fmt.Errorf("%w: the binlog is encrypted (encrypt_binlog): the relay cannot see which rows are personal", ErrUnfilterable)
	case typ == loadAppendBlockEvent || typ == beginLoadQueryEvent || typ == executeLoadQueryEvent:
		return nil, fmt.Errorf("%w: statement-based LOAD DATA (binlog_format must be ROW)", ErrUnfilterable)
	case typ > lastKnownEvent:
		return nil, fmt.Errorf("%w: unknown event type %d", ErrUnfilterable, typ)
	}
	return f.flush(ev), nil
}

// flush returns what is held, in stream order, followed by ev.
func (f *Filter) flush(ev []byte) [][]byte {
	var out [][]byte
	if f.held != nil {
		out = append(out, f.held)
		f.held = nil
	}
	out = append(out, f.context...)
	f.context = nil
	return append(out, ev)
}

func isRowsEvent(typ byte) bool {
	return (typ >= writeRowsV1 && typ <= deleteRowsV1) || (typ >= writeRowsV2 && typ <= deleteRowsV2) ||
		(typ >= writeRowsCompressedV1 && typ <= deleteRowsCompressedV2)
}

// formatDescription learns whether events carry a CRC32 and how long table
// ids are.
func (f *Filter) formatDescription(ev []byte) error {
	// binlog version (2), server version (50), create time (4), then the
	// common header length (1) and one post-header length per event type.
	const lengthsAt = headerLen + 2 + 50 + 4 + 1
	if len(ev) < lengthsAt+tableMapEvent+1+checksumLen {
		return fmt.Errorf("%w: format description of %d bytes", ErrUnfilterable, len(ev))
	}
	f.checksum = ev[len(ev)-checksumLen-1] == checksumCRC32
	if ev[lengthsAt+tableMapEvent-1] == 6 {
		f.tableIDLen = 4
	} else {
		f.tableIDLen = 6
	}
	return nil
}

func (f *Filter) tableID(ev []byte) (uint64, error) {
	if len(ev) < headerLen+f.tableIDLen+2 {
		return 0, fmt.Errorf("%w: event type %d of %d bytes", ErrUnfilterable, ev[4], len(ev))
	}
	var id [8]byte
	copy(id[:], ev[headerLen:headerLen+f.tableIDLen])
	return binary.LittleEndian.Uint64(id[:]), nil
}

func (f *Filter) tableMap(ev []byte) ([][]byte, error) {
	id, err := f.tableID(ev)
	if err != nil {
		return nil, err
	}
	body := ev[headerLen+f.tableIDLen+2:]
	schema, rest, ok := lengthPrefixed(body)
	if !ok {
		return nil, fmt.Errorf("%w: table map without a schema name", ErrUnfilterable)
	}
	table, _, ok := lengthPrefixed(rest)
	if !ok {
		return nil, fmt.Errorf("%w: table map without a table name", ErrUnfilterable)
	}
	personal := f.personal(string(schema), string(table))
	f.dropped[id] = personal
	if personal {
		f.Dropped++
		return nil, nil
	}
	f.maps = append(f.maps, ev)
	return nil, nil
}

// lengthPrefixed reads a one-byte length, that many bytes and a NUL.
func lengthPrefixed(b []byte) (name, rest []byte, ok bool) {
	if len(b) < 1 || len(b) < 2+int(b[0]) {
		return nil, nil, false
	}
	n := int(b[0])
	return b[1 : 1+n], b[2+n:], true
}

func (f *Filter) rows(ev []byte) ([][]byte, error) {
	id, err := f.tableID(ev)
	if err != nil {
		return nil, err
	}
	personal, mapped := f.dropped[id]
	if !mapped {
		return nil, fmt.Errorf("%w: row event for table id %d without a table map", ErrUnfilterable, id)
	}
	flagsAt := headerLen + f.tableIDLen
	end := binary.LittleEndian.Uint16(ev[flagsAt:])&stmtEndFlag != 0
	if personal {
		f.Dropped++
		f.RowEvents++
		if !end {
			return nil, nil
		}
		f.maps = nil
		if f.held == nil {
			return nil, nil
		}
		last := f.markEnd(f.held)
		f.held = nil
		return [][]byte{last}, nil
	}
	out := f.maps
	f.maps = nil
	if f.held != nil {
		out = append(out, f.held)
	}
	f.held = ev
	if end {
		out = append(out, ev)
		f.held = nil
	}
	return out, nil
}

// markEnd returns a copy of a row event flagged as its statement's last,
// with its checksum recomputed.
func (f *Filter) markEnd(ev []byte) []byte {
	out := bytes.Clone(ev)
	flagsAt := headerLen + f.tableIDLen
	binary.LittleEndian.PutUint16(out[flagsAt:], binary.LittleEndian.Uint16(out[flagsAt:])|stmtEndFlag)
	f.sign(out)
	return out
}

// sign writes the event's CRC32, when the stream carries checksums.
func (f *Filter) sign(ev []byte) {
	if f.checksum {
		n := len(ev) - checksumLen
		binary.LittleEndian.PutUint32(ev[n:], crc32.ChecksumIEEE(ev[:n]))
	}
}

// Query events: thread id (4), execution time (4), schema length (1),
// error code (2), status variables length (2).
const queryPostHeader = 13

func (f *Filter) query(ev []byte) ([][]byte, error) {
	q, err := f.parseQuery(ev)
	if err != nil {
		return nil, err
	}
	tables, dml := changedTables(q.text, q.schema)
	personal := false
	for _, t := range tables {
		if f.personal(t.schema, t.name) {
			personal = true
		}
	}
	if !dml || !personal {
		return f.flush(ev), nil
	}
	f.Dropped += uint64(len(f.context)) + 1
	f.context = nil
	return f.flush(f.replaceQuery(ev, q, droppedStatement)), nil
}

// droppedStatement replaces a statement-based change of a personal table:
// it keeps the transaction's shape and does nothing.
const droppedStatement = "DO 0 /* meridian relay: a statement-based change of a personal table stays in its region */"

type queryParts struct {
	schema     string
	text       []byte
	textOffset int // where the text starts in a plain (uncompressed) query event
}

func (f *Filter) parseQuery(ev []byte) (queryParts, error) {
	end := len(ev)
	if f.checksum {
		end -= checksumLen
	}
	if end < headerLen+queryPostHeader {
		return queryParts{}, fmt.Errorf("%w: query event of %d bytes", ErrUnfilterable, len(ev))
	}
	post := ev[headerLen:]
	schemaLen := int(post[8])
	statusLen := int(binary.LittleEndian.Uint16(post[11:]))
	at := headerLen + queryPostHeader + statusLen
	if at+schemaLen+1 > end {
		return queryParts{}, fmt.Errorf("%w: query event of %d bytes", ErrUnfilterable, len(ev))
	}
	q := queryParts{schema: string(ev[at : at+schemaLen]), textOffset: at + schemaLen + 1}
	q.text = ev[q.textOffset:end]
	if ev[4] == queryCompressedEvent {
		text, err := uncompress(q.text)
		if err != nil {
			return queryParts{}, fmt.Errorf("%w: compressed query: %v", ErrUnfilterable, err)
		}
		q.text = text
	}
	return q, nil
}

// replaceQuery builds a plain query event like ev whose statement is text.
func (f *Filter) replaceQuery(ev []byte, q queryParts, text string) []byte {
	out := append(bytes.Clone(ev[:q.textOffset]), text...)
	if f.checksum {
		out = append(out, 0, 0, 0, 0)
	}
	out[4] = queryEvent
	binary.LittleEndian.PutUint32(out[9:], uint32(len(out)))
	f.sign(out)
	return out
}

// uncompress reads MariaDB's compressed binlog payload: a header byte
// 0x80|n, the uncompressed length in n big-endian bytes, then zlib data.
func uncompress(b []byte) ([]byte, error) {
	if len(b) < 1 || b[0]&0x80 == 0 {
		return nil, errors.New("no compression header")
	}
	n := int(b[0] & 0x07)
	if n < 1 || n > 4 || len(b) < 1+n {
		return nil, errors.New("bad length size")
	}
	size := 0
	for _, c := range b[1 : 1+n] {
		size = size<<8 | int(c)
	}
	r, err := zlib.NewReader(bytes.NewReader(b[1+n:]))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(size)+1))
	if err != nil {
		return nil, err
	}
	if len(out) != size {
		return nil, fmt.Errorf("%d bytes, header says %d", len(out), size)
	}
	return out, nil
}
