// Package gtid models MariaDB global transaction IDs and GTID positions.
//
// A MariaDB GTID is domain-server-seq ("0-1-42"): the replication domain the
// transaction belongs to, the server_id of the server that wrote it, and its
// sequence number. Sequence numbers only mean something inside one domain:
// each domain is an independent, ordered stream of transactions (Meridian
// gives every region, and every Galera node's local writes, a domain of its
// own), so "1-11-900" and "2-21-5" are not comparable and a position is never
// summarised by adding or comparing sequence numbers across domains. A
// position (gtid_binlog_pos, gtid_slave_pos, gtid_current_pos, Gtid_IO_Pos)
// keeps only the last GTID of each domain, and everything in this package
// compares positions domain by domain. The server id is carried along for
// printing but takes no part in ordering: within a domain, the sequence
// number alone orders transactions (gtid_strict_mode keeps it increasing).
//
// A domain missing from a position is treated as sequence number 0, i.e.
// "nothing applied yet in that domain", so "" is contained in every position.
//
// Everything here is pure: no I/O, no server access.
package gtid

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// GTID is one MariaDB global transaction ID, printed "domain-server-seq".
type GTID struct {
	Domain, Server uint32
	Seq            uint64
}

// ParseGTID parses "domain-server-seq" ("0-1-42"). Surrounding whitespace is
// ignored; each part must be an unsigned decimal number that fits its type
// (domain and server: uint32, seq: uint64).
func ParseGTID(s string) (GTID, error) {
	text := strings.TrimSpace(s)
	parts := strings.Split(text, "-")
	if len(parts) != 3 {
		return GTID{}, fmt.Errorf("gtid %q: want domain-server-seq", text)
	}
	domain, err := parseUint(parts[0], 32)
	if err != nil {
		return GTID{}, fmt.Errorf("gtid %q: domain id: %w", text, err)
	}
	server, err := parseUint(parts[1], 32)
	if err != nil {
		return GTID{}, fmt.Errorf("gtid %q: server id: %w", text, err)
	}
	seq, err := parseUint(parts[2], 64)
	if err != nil {
		return GTID{}, fmt.Errorf("gtid %q: sequence number: %w", text, err)
	}
	return GTID{Domain: uint32(domain), Server: uint32(server), Seq: seq}, nil
}

// parseUint accepts plain decimal digits only (no sign, no underscores, no
// base prefix), which is all MariaDB ever prints.
func parseUint(s string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, bits)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%q overflows uint%d", s, bits)
	}
	return 0, fmt.Errorf("%q is not an unsigned decimal number", s)
}

func (g GTID) String() string {
	return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq)
}

// Position is a MariaDB GTID position list (gtid_binlog_pos, gtid_slave_pos,
// gtid_current_pos, Gtid_IO_Pos): at most one GTID per domain, keyed by
// domain, printed sorted by domain and comma-separated ("1-11-5,2-21-9");
// "" is the empty position.
type Position map[uint32]GTID

// Parse parses a position list. It is tolerant of how MariaDB prints them:
// whitespace (including the "\n" SHOW SLAVE STATUS puts after each comma)
// around elements, and "" or blank for the empty position. It is strict
// about everything else: an empty element, a malformed GTID or a domain
// listed twice is an error naming the offending element.
func Parse(s string) (Position, error) {
	p := Position{}
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	for i, element := range strings.Split(s, ",") {
		if strings.TrimSpace(element) == "" {
			return nil, fmt.Errorf("gtid position %q: element %d is empty", s, i+1)
		}
		g, err := ParseGTID(element)
		if err != nil {
			return nil, err
		}
		if prev, dup := p[g.Domain]; dup {
			return nil, fmt.Errorf("gtid %q: domain %d already listed as %q", g, g.Domain, prev)
		}
		p[g.Domain] = g
	}
	return p, nil
}

func (p Position) String() string {
	var b strings.Builder
	for i, d := range p.Domains() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p[d].String())
	}
	return b.String()
}

// Domains returns the domains present in p, sorted.
func (p Position) Domains() []uint32 {
	return slices.Sorted(maps.Keys(p))
}

// Seq is the last sequence number p holds in domain, 0 when p has none.
func (p Position) Seq(domain uint32) uint64 {
	return p[domain].Seq
}

// Contains reports whether p has everything q has: in every domain of q,
// p's sequence number is at least q's (a domain missing from p counts as 0,
// so q's entries with seq 0 are always contained).
func (p Position) Contains(q Position) bool {
	for d, g := range q {
		if p.Seq(d) < g.Seq {
			return false
		}
	}
	return true
}

// Compare compares a and b domain by domain over the union of their domains:
// -1 when a is behind b in that domain, 0 when equal, +1 when a is ahead. A
// missing domain counts as seq 0.
func Compare(a, b Position) map[uint32]int {
	out := make(map[uint32]int, len(a)+len(b))
	for _, d := range unionDomains(a, b) {
		sa, sb := a.Seq(d), b.Seq(d)
		switch {
		case sa < sb:
			out[d] = -1
		case sa > sb:
			out[d] = 1
		default:
			out[d] = 0
		}
	}
	return out
}

func unionDomains(a, b Position) []uint32 {
	ds := append(a.Domains(), b.Domains()...)
	slices.Sort(ds)
	return slices.Compact(ds)
}

// Range is the transactions of one domain with sequence numbers From..To
// inclusive. It is an interval of sequence numbers, so it holds at most
// To-From+1 transactions (a domain's numbering may have gaps).
type Range struct {
	Domain   uint32
	From, To uint64
}

// String prints "domain-from..to", or "domain-seq" for a single transaction.
func (r Range) String() string {
	if r.From == r.To {
		return fmt.Sprintf("%d-%d", r.Domain, r.From)
	}
	return fmt.Sprintf("%d-%d..%d", r.Domain, r.From, r.To)
}

// Subtract returns what p has beyond q: for every domain where p is ahead,
// the range after q's sequence number up to p's. Sorted by domain; empty
// exactly when q.Contains(p).
func (p Position) Subtract(q Position) []Range {
	var out []Range
	for _, d := range p.Domains() {
		if have, lack := p.Seq(d), q.Seq(d); have > lack {
			out = append(out, Range{Domain: d, From: lack + 1, To: have})
		}
	}
	return out
}

// Lag returns, for every domain of p or q, how many sequence numbers p is
// ahead of q (0 where p is not ahead). Read as source.Lag(replica) it is the
// replica's backlog per domain.
func (p Position) Lag(q Position) map[uint32]uint64 {
	out := make(map[uint32]uint64, len(p)+len(q))
	for _, d := range unionDomains(p, q) {
		out[d] = 0
		if have, lack := p.Seq(d), q.Seq(d); have > lack {
			out[d] = have - lack
		}
	}
	return out
}

// Errant returns the errant transactions of a server: those it has in
// domains it does not own (not listed in owned) that its source lacks.
// Such transactions were written locally on a server that should only have
// received them, and would diverge the domain's history on failover. Sorted
// by domain.
func Errant(server, source Position, owned []uint32) []Range {
	var out []Range
	for _, r := range server.Subtract(source) {
		if !slices.Contains(owned, r.Domain) {
			out = append(out, r)
		}
	}
	return out
}

// Furthest is, per domain, the furthest GTID of the positions: everything
// any of them holds (a node's binlog and replica positions together, the
// binlogs of several sources).
func Furthest(ps ...Position) Position {
	out := Position{}
	for _, p := range ps {
		for d, g := range p {
			if g.Seq >= out.Seq(d) {
				out[d] = g
			}
		}
	}
	return out
}
