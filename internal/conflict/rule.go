package conflict

import (
	"github.com/meridian-geo/meridian/internal/topology"
)

// Rule decides between concurrent versions of one table's rows: the table's
// policy kind (topology.PolicyLWW, PolicyCounter, PolicySet, or PolicyNone for
// an unprotected table) and the regions' tie-break ranks, by GTID domain.
type Rule struct {
	Kind string
	// ranks maps a region's GTID domain to its place in the tie-break
	// order: of two versions with the same commit time, the higher rank wins.
	ranks map[uint32]int
	// regions maps a GTID domain to its region's name.
	regions map[uint32]string
}

// RuleFor is the rule of schema.table in t: its policy's kind (PolicyNone
// without one) and tie-break order (the policy's lww.tie_break, else the
// regions in file order).
func RuleFor(t *topology.Topology, schema, table string) Rule {
	p, _ := t.TablePolicy(schema, table)
	return ruleOf(t, p)
}

func ruleOf(t *topology.Topology, p topology.TablePolicy) Rule {
	r := Rule{Kind: p.Kind(), ranks: map[uint32]int{}, regions: map[uint32]string{}}
	var lww topology.LWWRule
	if p.LWW != nil {
		lww = *p.LWW
	}
	for _, reg := range t.Regions {
		r.ranks[reg.GTIDDomainID] = t.TieBreakRank(lww, reg.Name)
		r.regions[reg.GTIDDomainID] = reg.Name
	}
	return r
}

// Resolves reports whether the rule resolves conflicts (lww, counter, set)
// rather than only detecting them (no policy). Owner and home tables are
// kept free of conflicts by the routers and are not protected here.
func (r Rule) Resolves() bool {
	switch r.Kind {
	case topology.PolicyLWW, topology.PolicyCounter, topology.PolicySet:
		return true
	}
	return false
}

// Region names the region that wrote v ("" for an unknown domain).
func (r Rule) Region(v Version) string { return r.regions[v.Domain()] }

// Rank is the tie-break rank of the region that wrote v (-1 when unknown).
func (r Rule) Rank(v Version) int {
	if rank, ok := r.ranks[v.Domain()]; ok {
		return rank
	}
	return -1
}

// Side is one version of a row as a node holds it or receives it: a live row
// (inserted or updated) or a delete, whose version is its tombstone's.
type Side struct {
	Version Version
	Deleted bool
}

// Wins reports whether a beats b when they were written concurrently (neither
// replaced the other). Last write wins: the later commit time, then the
// higher tie-break rank; equal versions are the same write and neither wins.
// A set keeps an element a concurrent remove did not see: a live version
// beats a delete whatever the times (add wins). Counters order their
// non-counter columns and deletes like lww; their counter columns merge and
// never lose.
func (r Rule) Wins(a, b Side) bool {
	if r.Kind == topology.PolicySet && a.Deleted != b.Deleted {
		return !a.Deleted
	}
	return r.later(a.Version, b.Version)
}

// later orders versions by commit time, then tie-break rank.
func (r Rule) later(a, b Version) bool {
	if a.Micros() != b.Micros() {
		return a.Micros() > b.Micros()
	}
	return r.Rank(a) > r.Rank(b)
}

// RowState is one node's copy of a row, as a consistency checker reads it.
type RowState struct {
	Node string
	// Present is false when the row is absent on the node.
	Present bool
	// Version is the row's HiddenVersion when present; when absent, the
	// version of the key's latest tombstone on the node (0 if none).
	Version Version
}

// Converge picks, among the copies of one row on every node, the one every
// node must hold (an absent winner means: delete the row everywhere), as the
// nodes' triggers would have decided had the versions met. ok is false for a
// table whose rule does not resolve (no policy: people decide) and when no
// copy is given. Counters converge like lww: the deltas that built each
// copy are gone, so the latest copy is the best a repair can do.
func (r Rule) Converge(rows []RowState) (winner int, ok bool) {
	if len(rows) == 0 || !r.Resolves() {
		return -1, false
	}
	winner = 0
	for i := 1; i < len(rows); i++ {
		a := Side{Version: rows[i].Version, Deleted: !rows[i].Present}
		b := Side{Version: rows[winner].Version, Deleted: !rows[winner].Present}
		// A copy present beats an absent one with no tombstone newer than it
		// (a node that never got the row), as two copies of one version tie.
		if r.Wins(a, b) || (!r.Wins(b, a) && !a.Deleted && b.Deleted) {
			winner = i
		}
	}
	return winner, true
}
