package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
)

// Synthetic events, built as MariaDB writes them with binlog_checksum=CRC32.

func event(typ byte, body []byte) []byte {
	ev := make([]byte, headerLen, headerLen+len(body)+checksumLen)
	ev[4] = typ
	binary.LittleEndian.PutUint32(ev[5:], 1)
	ev = append(ev, body...)
	ev = append(ev, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(ev[9:], uint32(len(ev)))
	binary.LittleEndian.PutUint32(ev[len(ev)-4:], crc32.ChecksumIEEE(ev[:len(ev)-4]))
	return ev
}

// formatDescriptionOf has the post-header lengths of MariaDB 10.11, with
// table maps' as given (8: six-byte table ids; 6: four-byte ones).
func formatDescriptionOf(tableMapPostHeader byte) []byte {
	body := make([]byte, 2+50+4)
	binary.LittleEndian.PutUint16(body, 4)
	copy(body[2:], "10.11.19-MariaDB-log")
	body = append(body, headerLen)
	lengths := make([]byte, lastKnownEvent)
	lengths[tableMapEvent-1] = tableMapPostHeader
	body = append(body, lengths...)
	body = append(body, checksumCRC32)
	return event(formatDescriptionEvent, body)
}

func idBytes(id uint64, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, id)
	return b[:n]
}

func tableMapOf(id uint64, schema, table string) []byte {
	body := append(idBytes(id, 6), 1, 0)
	body = append(body, byte(len(schema)))
	body = append(body, schema...)
	body = append(body, 0, byte(len(table)))
	body = append(body, table...)
	body = append(body, 0, 1, 3, 0) // one LONG column
	return event(tableMapEvent, body)
}

func rowsOf(typ byte, id uint64, end bool, image string) []byte {
	flags := uint16(0)
	if end {
		flags = stmtEndFlag
	}
	body := binary.LittleEndian.AppendUint16(idBytes(id, 6), flags)
	return event(typ, append(body, image...))
}

func queryOf(schema, text string) []byte {
	body := make([]byte, queryPostHeader)
	body[8] = byte(len(schema))
	body = append(body, schema...)
	body = append(body, 0)
	return event(queryEvent, append(body, text...))
}

var (
	gtidEv   = event(gtidEvent, make([]byte, 13))
	xid      = event(16, make([]byte, 8))
	annotate = event(annotateRowsEvent, []byte("INSERT INTO users VALUES ('CANARY')"))
	userVar  = event(userVarEvent, []byte("\x01\x00\x00\x00xCANARY"))
)

func isUsers(schema, table string) bool { return schema == "shop" && table == "users" }

// run pushes events through a fresh filter that has seen a format
// description, and returns what it sends.
func run(t *testing.T, events ...[]byte) [][]byte {
	t.Helper()
	f := NewFilter(isUsers)
	out, err := f.Push(formatDescriptionOf(8))
	if err != nil || len(out) != 1 {
		t.Fatalf("format description: %v, %d events", err, len(out))
	}
	var sent [][]byte
	for _, ev := range events {
		got, err := f.Push(ev)
		if err != nil {
			t.Fatalf("push event type %d: %v", ev[4], err)
		}
		sent = append(sent, got...)
	}
	return sent
}

func stmtEnd(ev []byte) bool { return binary.LittleEndian.Uint16(ev[headerLen+6:])&stmtEndFlag != 0 }

func checkCRC(t *testing.T, ev []byte) {
	t.Helper()
	n := len(ev) - checksumLen
	if binary.LittleEndian.Uint32(ev[n:]) != crc32.ChecksumIEEE(ev[:n]) {
		t.Errorf("event type %d has a wrong checksum", ev[4])
	}
	if int(binary.LittleEndian.Uint32(ev[9:])) != len(ev) {
		t.Errorf("event type %d says %d bytes, has %d", ev[4], binary.LittleEndian.Uint32(ev[9:]), len(ev))
	}
}

func TestFilterPersonalTransactionArrivesEmpty(t *testing.T) {
	sent := run(t, gtidEv, annotate, tableMapOf(41, "shop", "users"), rowsOf(writeRowsV1, 41, true, "CANARY"), xid)
	if len(sent) != 2 || !bytes.Equal(sent[0], gtidEv) || !bytes.Equal(sent[1], xid) {
		t.Fatalf("sent %d events, want the GTID and the commit alone", len(sent))
	}
}

func TestFilterKeepsTheGlobalHalfOfAStatement(t *testing.T) {
	// A trigger on shop.users writes the directory in the same statement.
	users, directory := tableMapOf(41, "shop", "users"), tableMapOf(42, "meridian", "users_metadata")
	dirRows := rowsOf(writeRowsV1, 42, true, "HASH")
	sent := run(t, gtidEv, annotate, users, directory, rowsOf(writeRowsV1, 41, false, "CANARY"), dirRows, xid)
	want := [][]byte{gtidEv, directory, dirRows, xid}
	if !slices.EqualFunc(sent, want, bytes.Equal) {
		t.Fatalf("sent %d events, want GTID, the directory's map and rows, commit", len(sent))
	}
}

func TestFilterMovesTheStatementEndToTheLastKeptRows(t *testing.T) {
	directory := tableMapOf(42, "meridian", "users_metadata")
	dirRows := rowsOf(updateRowsV1(), 42, false, "HASH")
	sent := run(t, gtidEv, directory, tableMapOf(41, "shop", "users"), dirRows, rowsOf(deleteRowsV1, 41, true, "CANARY"), xid)
	if len(sent) != 4 {
		t.Fatalf("sent %d events, want 4", len(sent))
	}
	last := sent[2]
	if !stmtEnd(last) || stmtEnd(dirRows) {
		t.Fatalf("the kept rows event must end the statement (and the original stay untouched)")
	}
	if !bytes.Equal(last[headerLen+8:len(last)-4], dirRows[headerLen+8:len(dirRows)-4]) {
		t.Error("the kept rows event's image changed")
	}
	checkCRC(t, last)
}

func updateRowsV1() byte { return writeRowsV1 + 1 }

func TestFilterDropsTheMapsOfAStatementWithNoKeptRows(t *testing.T) {
	sent := run(t, gtidEv, tableMapOf(42, "meridian", "x"), tableMapOf(41, "shop", "users"),
		rowsOf(writeRowsV1, 41, true, "CANARY"), tableMapOf(43, "shop", "products"), rowsOf(writeRowsV1, 43, true, "P"), xid)
	if len(sent) != 4 || sent[1][4] != tableMapEvent || !bytes.Contains(sent[1], []byte("products")) {
		t.Fatalf("sent %d events; want GTID, products' map and rows, commit (no orphan map of meridian.x)", len(sent))
	}
}

func TestFilterLeavesGlobalStreamsByteForByte(t *testing.T) {
	in := [][]byte{gtidEv, annotate, tableMapOf(43, "shop", "products"), rowsOf(writeRowsV1, 43, false, "A"), rowsOf(writeRowsV1, 43, true, "B"),
		xid, gtidEv, queryOf("shop", "ALTER TABLE users ADD COLUMN x INT"), gtidEv, userVar, queryOf("shop", "INSERT INTO products VALUES (@x)"), xid}
	sent := run(t, in...)
	var want [][]byte
	for _, ev := range in {
		if ev[4] != annotateRowsEvent {
			want = append(want, ev)
		}
	}
	if !slices.EqualFunc(sent, want, bytes.Equal) {
		t.Fatalf("sent %d events, want the %d non-annotate events unchanged", len(sent), len(want))
	}
}

func TestFilterReplacesStatementsOnPersonalTables(t *testing.T) {
	for _, text := range []string{
		"INSERT INTO users VALUES (5, 'CANARY')",
		"insert into `shop`.`users` values (5, 'CANARY')",
		"/* app */ UPDATE shop.users SET secret = 'CANARY' WHERE id = 1",
		"DELETE u FROM products p JOIN users u ON u.id = p.id",
		"REPLACE INTO shop . users VALUES (5, 'CANARY')",
	} {
		sent := run(t, gtidEv, userVar, queryOf("shop", text), xid)
		if len(sent) != 3 {
			t.Fatalf("%s: sent %d events, want GTID, a replacement, commit (user variable dropped)", text, len(sent))
		}
		q := sent[1]
		if q[4] != queryEvent || bytes.Contains(q, []byte("CANARY")) || !bytes.Contains(q, []byte(droppedStatement)) {
			t.Errorf("%s: replaced with %q", text, q[headerLen:])
		}
		checkCRC(t, q)
	}
}

func TestFilterRefusesWhatItCannotRead(t *testing.T) {
	for name, ev := range map[string][]byte{
		"encrypted":      event(startEncryptionEvent, make([]byte, 17)),
		"unknown type":   event(lastKnownEvent+1, nil),
		"rows, no map":   rowsOf(writeRowsV1, 99, true, "X"),
		"LOAD statement": event(beginLoadQueryEvent, []byte("CANARY")),
		"short":          make([]byte, 10),
	} {
		f := NewFilter(isUsers)
		if _, err := f.Push(formatDescriptionOf(8)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Push(ev); !errors.Is(err, ErrUnfilterable) {
			t.Errorf("%s: err = %v, want ErrUnfilterable", name, err)
		}
	}
}

func TestFilterReadsFourByteTableIDs(t *testing.T) {
	f := NewFilter(isUsers)
	if _, err := f.Push(formatDescriptionOf(6)); err != nil {
		t.Fatal(err)
	}
	short := func(typ byte, body []byte) []byte { return event(typ, body) }
	m := append(idBytes(7, 4), 0, 0, 4)
	m = append(append(m, "shop"...), 0, 5)
	m = append(append(m, "users"...), 0, 1, 3, 0)
	if out, err := f.Push(short(tableMapEvent, m)); err != nil || len(out) != 0 {
		t.Fatalf("map: %v, %d events", err, len(out))
	}
	r := append(idBytes(7, 4), 1, 0)
	if out, err := f.Push(short(writeRowsV1, append(r, "CANARY"...))); err != nil || len(out) != 0 {
		t.Fatalf("rows: %v, %d events: a personal row crossed", err, len(out))
	}
}

func TestScanWords(t *testing.T) {
	cases := []struct {
		sql  string
		want []string // qualifier.text or text
		dml  bool
	}{
		{"INSERT INTO t VALUES ('a.b', \"c\")", []string{"INTO", "t", "VALUES"}, true},
		{"update `my``db`.`t 1` set x=1 -- users\n where y = 2", []string{"my`db", "my`db.t 1", "set", "x", "where", "y"}, true},
		{"/* users */ SELECT 1.5 FROM d . t # x", nil, false},
		{"ALTER TABLE users ADD c INT", nil, false},
	}
	for _, c := range cases {
		refs, dml := changedTables([]byte(c.sql), "db")
		if dml != c.dml {
			t.Errorf("%s: dml = %v", c.sql, dml)
		}
		var got []string
		for _, r := range refs {
			if r.schema == "db" {
				got = append(got, r.name)
			} else {
				got[len(got)-1] = r.schema + "." + r.name
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: words %q, want %q", c.sql, got, c.want)
		}
	}
	if words := scanWords("x.y"); len(words) != 2 || words[1].qualifier != "x" {
		t.Errorf("x.y scanned as %+v", words)
	}
	if !strings.Contains(droppedStatement, "DO 0") {
		t.Error("the replacement must do nothing")
	}
}

// FuzzFilter: whatever the node sends, the filter answers with events or
// an error, never a panic, and never passes a personal table's rows on.
func FuzzFilter(f *testing.F) {
	f.Add(tableMapOf(41, "shop", "users"), rowsOf(writeRowsV1, 41, true, "CANARY"))
	f.Add(queryOf("shop", "INSERT INTO users VALUES ('CANARY')"), xid)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		filter := NewFilter(isUsers)
		if _, err := filter.Push(formatDescriptionOf(8)); err != nil {
			t.Fatal(err)
		}
		for _, ev := range [][]byte{a, b, rowsOf(writeRowsV1, 41, true, "CANARY")} {
			out, err := filter.Push(ev)
			if err != nil {
				continue
			}
			for _, o := range out {
				if isRowsEvent(o[4]) && bytes.Contains(o, []byte("CANARY")) && bytes.Equal(o, rowsOf(writeRowsV1, 41, true, "CANARY")) {
					if filter.dropped[41] {
						t.Fatal("a personal row event was passed on")
					}
				}
			}
		}
	})
}
