// Package repair decides how the consistency checker converges a row the
// nodes disagree on: which version the table's policy makes the right one,
// and the statements that turn every other node's version into it. It is
// pure: internal/checker reads the versions and runs the statements.
//
// Statements are meant to run on each node separately, outside the binary
// log (and, on a Galera node, outside the cluster's replication): a node
// gets exactly the change that makes its row right, whatever the others
// hold. Replicated instead, one repair would have to suit every receiver at
// once, and row-based replication stops a replica on a DELETE of a row it
// lacks or an INSERT of a row it has, which is exactly what diverged nodes
// look like. Each UPDATE and DELETE also names the version it replaces, so a
// row that changed since the check is left alone.
package repair

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/checksum"
	"github.com/meridian-geo/meridian/internal/conflict"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Image is one node's whole version of a row: its stored columns' values
// (checksum.Table.Stored order) and its hash.
type Image struct {
	Values []checksum.Value `json:"values"`
	Hash   uint32           `json:"hash"`
}

// Row is a row the nodes disagree on, with every compared node's version:
// nil for a node that lacks the row.
type Row struct {
	Key    []checksum.Value  `json:"key"`
	Images map[string]*Image `json:"images"`
	// Tombstones are, for nodes that lack the row, the version of the key's
	// latest tombstone there (tables under a conflict rule; a node absent
	// from the map has none). Nil when they were not read: a missing row
	// cannot then be told from a deleted one.
	Tombstones map[string]conflict.Version `json:"tombstones,omitempty"`
}

// Estate is what a decision needs of the estate: where nodes sit and who is
// primary now.
type Estate struct {
	Topology  *topology.Topology
	Primaries topology.Primaries
	Now       time.Time
}

// Options tune the decisions.
type Options struct {
	// Prefer is the region whose version wins on a table without a policy;
	// "" for DefaultPreferred.
	Prefer string
}

// DefaultPreferred is the region whose version wins on tables without a
// policy: the region taking writes now (the primary region, the hub, the
// follow-the-sun window's region), and in active-active, where every region
// writes, the first region of the file.
func DefaultPreferred(e Estate) string {
	if r := e.Topology.PrimaryRegionFor(e.Now, e.Primaries); r != "" {
		return r
	}
	return e.Topology.Regions[0].Name
}

// Statement is one repair statement for one node.
type Statement struct {
	Node string `json:"node"`
	SQL  string `json:"sql"`
}

// RowRepair is the decision for one row.
type RowRepair struct {
	Table      string           `json:"table"`
	KeyColumns []string         `json:"key_columns"`
	Key        []checksum.Value `json:"key"`
	// Rule says which version wins and why ("owner us: us's version").
	Rule string `json:"rule"`
	// Statements converge the nodes, in node order; none when every node
	// already holds the winning version.
	Statements []Statement `json:"statements,omitempty"`
	// Unrepaired says why no statement could be decided ("" when decided).
	Unrepaired string `json:"unrepaired,omitempty"`
}

// Plan decides the repair of one row of table t under its policy (the zero
// policy for a table without one).
func Plan(e Estate, t *checksum.Table, policy topology.TablePolicy, row Row, opts Options) RowRepair {
	r := RowRepair{Table: t.String(), KeyColumns: t.Key, Key: row.Key}
	target, rule, err := decide(e, t, policy, row, opts)
	r.Rule = rule
	if err != nil {
		r.Unrepaired = err.Error()
		return r
	}
	for _, n := range slices.Sorted(maps.Keys(row.Images)) {
		if sql := converge(t, row.Key, row.Images[n], target); sql != "" {
			r.Statements = append(r.Statements, Statement{Node: n, SQL: sql})
		}
	}
	return r
}

// converge is the statement that turns have into want on one node; "" when
// it already holds it.
func converge(t *checksum.Table, key []checksum.Value, have, want *Image) string {
	switch {
	case want == nil && have == nil:
		return ""
	case want == nil:
		return t.Delete(key, have.Hash)
	case have == nil:
		return t.Insert(want.Values)
	case slices.Equal(have.Values, want.Values):
		return ""
	}
	return t.Update(key, have.Hash, have.Values, want.Values)
}

// decide picks the row every node must hold (nil: no row) and describes the rule.
func decide(e Estate, t *checksum.Table, policy topology.TablePolicy, row Row, opts Options) (*Image, string, error) {
	switch kind := policy.Kind(); kind {
	case topology.PolicyOwner:
		rule := fmt.Sprintf("owner %s: the owner region's version", policy.Owner)
		img, err := regionVersion(e, policy.Owner, row)
		return img, rule, err
	case topology.PolicyHome:
		region, err := homeRegion(e, t, *policy.Home, row)
		if err != nil {
			return nil, "home " + policy.Home.Column, err
		}
		rule := fmt.Sprintf("home %s: the home region %s's version", policy.Home.Column, region)
		img, err := regionVersion(e, region, row)
		return img, rule, err
	case topology.PolicyLWW, topology.PolicyCounter, topology.PolicySet:
		return converged(e, t, row)
	}
	prefer := opts.Prefer
	if prefer == "" {
		prefer = DefaultPreferred(e)
	}
	rule := fmt.Sprintf("no policy: the preferred region %s's version", prefer)
	img, err := regionVersion(e, prefer, row)
	return img, rule, err
}

// converged is the version the table's conflict rule makes every node hold
// (conflict.Rule.Converge, the rule the triggers apply): the latest by the
// row's hidden version, a tombstone counting as a version of its absence.
func converged(e Estate, t *checksum.Table, row Row) (*Image, string, error) {
	rule := conflict.RuleFor(e.Topology, t.Schema, t.Name)
	kind := rule.Kind + ": the version its conflict rule keeps"
	at := slices.IndexFunc(t.Stored(), func(c checksum.Column) bool { return strings.EqualFold(c.Name, conflict.HiddenVersion) })
	if at < 0 {
		return nil, kind, fmt.Errorf("%s has no %s column: its conflict rule is not installed (meridian apply installs it)", t, conflict.HiddenVersion)
	}
	nodes := slices.Sorted(maps.Keys(row.Images))
	states := make([]conflict.RowState, len(nodes))
	for i, n := range nodes {
		if row.Images[n] == nil && row.Tombstones == nil {
			return nil, kind, fmt.Errorf("%s lacks the row and its tombstones were not read: a delete cannot be told from a row that never arrived; converge this row by hand", n)
		}
		states[i] = conflict.RowState{Node: n, Version: row.Tombstones[n]}
		if img := row.Images[n]; img != nil {
			v, err := strconv.ParseUint(img.Values[at].Text, 10, 64)
			if err != nil && !img.Values[at].Null {
				return nil, kind, fmt.Errorf("%s's %s is %s, not a version", n, conflict.HiddenVersion, img.Values[at])
			}
			states[i].Present, states[i].Version = true, conflict.Version(v)
		}
	}
	winner, ok := rule.Converge(states)
	if !ok {
		return nil, kind, fmt.Errorf("the %s rule cannot converge this row", rule.Kind)
	}
	w := states[winner]
	what := "absent"
	if w.Present {
		what = "version " + w.Version.String()
	}
	return row.Images[w.Node], fmt.Sprintf("%s: the latest version, %s's (%s, from %s)", rule.Kind, w.Node, what, regionOr(rule.Region(w.Version))), nil
}

func regionOr(region string) string {
	if region == "" {
		return "before the rule"
	}
	return "region " + region
}

// regionNodes are the compared nodes of region's clusters, in file order.
func regionNodes(e Estate, region string, row Row) []string {
	var names []string
	for _, c := range e.Topology.Clusters {
		if c.Region != region {
			continue
		}
		for _, n := range c.Nodes {
			if _, compared := row.Images[n.Name]; compared {
				names = append(names, n.Name)
			}
		}
	}
	return names
}

// regionVersion is the version most of the region's compared nodes hold;
// a tie goes to the one the region's primary holds (in a primary-replica
// cluster the replicas copy the primary; in a Galera cluster a node changed
// on its own is outvoted by the others).
func regionVersion(e Estate, region string, row Row) (*Image, error) {
	nodes := regionNodes(e, region, row)
	if len(nodes) == 0 {
		return nil, fmt.Errorf("no compared node in region %s holds a version of this row", region)
	}
	primary := ""
	if c, ok := e.Topology.HomeCluster(region); ok {
		primary = e.Topology.ClusterPrimary(c.Name, e.Primaries)
	}
	votes := map[string]int{}
	for _, n := range nodes {
		votes[versionKey(row.Images[n])]++
	}
	best, bestVotes := nodes[0], -1
	for _, n := range nodes {
		v := votes[versionKey(row.Images[n])]
		if v > bestVotes || (v == bestVotes && n == primary) {
			best, bestVotes = n, v
		}
	}
	return row.Images[best], nil
}

func versionKey(img *Image) string {
	if img == nil {
		return "absent"
	}
	return checksum.KeyString(img.Values)
}

// homeRegion reads the row's home region from its home column: every node
// holding the row must name the same one.
func homeRegion(e Estate, t *checksum.Table, rule topology.HomeRule, row Row) (string, error) {
	col := slices.IndexFunc(t.Stored(), func(c checksum.Column) bool { return strings.EqualFold(c.Name, rule.Column) })
	if col < 0 {
		return "", fmt.Errorf("home column %q is not a stored column of %s", rule.Column, t)
	}
	regions := map[string]bool{}
	for _, n := range slices.Sorted(maps.Keys(row.Images)) {
		img := row.Images[n]
		if img == nil {
			continue
		}
		v := img.Values[col]
		region, ok := e.Topology.HomeRegion(rule, v.Text)
		if v.Null || !ok {
			return "", fmt.Errorf("%s's version has %s = %s, which names no home region this check can resolve", n, rule.Column, v)
		}
		regions[region] = true
	}
	if len(regions) != 1 {
		return "", fmt.Errorf("the nodes' versions name different home regions (%s): converge this row by hand", strings.Join(slices.Sorted(maps.Keys(regions)), ", "))
	}
	for r := range regions {
		return r, nil
	}
	return "", nil
}
