package checksum

import (
	"maps"
	"slices"
	"sort"
)

// Sum is one node's answer to ChecksumQuery.
type Sum struct {
	Rows int64
	CRC  uint64
}

// Equal reports whether every node gave the same sum.
func Equal(sums map[string]Sum) bool { return allSame(sums) }

// allSame reports whether every value of m is the same.
func allSame[T comparable](m map[string]T) bool {
	first := true
	var want T
	for _, v := range m {
		if first {
			want, first = v, false
			continue
		}
		if v != want {
			return false
		}
	}
	return true
}

// RowHash is one row of a RowHashQuery answer.
type RowHash struct {
	Key  []Value
	Hash uint32
}

// Version is a node's version of a row: absent, or present with a hash.
type Version struct {
	Present bool   `json:"present"`
	Hash    uint32 `json:"hash,omitempty"`
}

// RowDiff is a row the nodes do not agree on: its key and each node's version.
type RowDiff struct {
	Key      []Value            `json:"key"`
	Versions map[string]Version `json:"versions"`
}

// Diff merges the nodes' row lists of one chunk by key and returns the rows
// whose versions differ, in key order of first appearance per node.
func Diff(reads map[string][]RowHash) []RowDiff {
	nodes := slices.Sorted(maps.Keys(reads))
	type entry struct {
		key      []Value
		order    int
		versions map[string]Version
	}
	rows := map[string]*entry{}
	for _, n := range nodes {
		for _, r := range reads[n] {
			k := KeyString(r.Key)
			e, ok := rows[k]
			if !ok {
				e = &entry{key: r.Key, order: len(rows), versions: map[string]Version{}}
				rows[k] = e
			}
			e.versions[n] = Version{Present: true, Hash: r.Hash}
		}
	}
	var out []*entry
	for _, e := range rows {
		for _, n := range nodes {
			if _, ok := e.versions[n]; !ok {
				e.versions[n] = Version{}
			}
		}
		if !allSame(e.versions) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	diffs := make([]RowDiff, len(out))
	for i, e := range out {
		diffs[i] = RowDiff{Key: e.key, Versions: e.versions}
	}
	return diffs
}

// Narrowing tells rows that really differ from rows caught with writes in
// flight. Between two reads of a chunk every node catches up with what every
// node had applied at the end of the previous read (the caller waits for
// the union of their GTID positions): a row that differed only because a
// write had reached some nodes and not others has then changed on the
// nodes that lacked it. A row counts as really different once it has
// differed, with every node's version unchanged, through Confirmations such
// catch-ups in a row. A write made anew in every interval (a hot row) keeps
// a row unsettled: it is neither reported as a difference nor as equal.
type Narrowing struct {
	Confirmations int
	pending       map[string]*candidate
	order         []string
	real          []RowDiff
}

type candidate struct {
	diff   RowDiff
	stable int
}

// DefaultConfirmations: a row that was written to and back to an earlier
// value while the nodes lagged (A→B→A) could look unchanged across one
// catch-up; across two, it would have to happen twice in step.
const DefaultConfirmations = 2

// NewNarrowing starts from the rows of a first row-by-row read.
func NewNarrowing(first []RowDiff, confirmations int) *Narrowing {
	n := &Narrowing{Confirmations: max(confirmations, 1), pending: map[string]*candidate{}}
	for _, d := range first {
		k := KeyString(d.Key)
		n.pending[k] = &candidate{diff: d}
		n.order = append(n.order, k)
	}
	return n
}

// Reread takes the differences of a read made after the nodes caught up;
// rows that differ now but did not before are not news (they are in flight
// now) and are ignored. It reports whether rows remain pending.
func (n *Narrowing) Reread(diffs []RowDiff) bool {
	now := make(map[string]RowDiff, len(diffs))
	for _, d := range diffs {
		now[KeyString(d.Key)] = d
	}
	var still []string
	for _, k := range n.order {
		c := n.pending[k]
		d, differs := now[k]
		switch {
		case !differs:
			delete(n.pending, k) // it was in flight: now every node agrees
			continue
		case maps.Equal(d.Versions, c.diff.Versions):
			c.stable++
		default:
			c.diff, c.stable = d, 0
		}
		if c.stable >= n.Confirmations {
			n.real = append(n.real, c.diff)
			delete(n.pending, k)
			continue
		}
		still = append(still, k)
	}
	n.order = still
	return len(n.order) > 0
}

// Real are the rows found really different, in the order they were found.
func (n *Narrowing) Real() []RowDiff { return n.real }

// Pending are the rows still changing from one read to the next.
func (n *Narrowing) Pending() []RowDiff {
	out := make([]RowDiff, len(n.order))
	for i, k := range n.order {
		out[i] = n.pending[k].diff
	}
	return out
}
