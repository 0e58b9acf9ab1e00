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
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/checksum"
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
}

// Estate is what a decision needs of the estate: where nodes sit and who is
// primary now.
type Estate struct {
	Topology  *topology.Topology
	Primaries topology.Primaries
	Now       time.Time
}

// Resolver converges a row of an lww, counter or set table from each
// region's version (nil: the region lacks the row). It answers the row every
// node must hold (nil: none), or an error saying why it cannot decide.
type Resolver func(t *checksum.Table, policy topology.TablePolicy, regions map[string]*Image) (*Image, error)

// Options tune the decisions.
type Options struct {
	// Prefer is the region whose version wins on a table without a policy;
	// "" for DefaultPreferred.
	Prefer string
	// Resolve converges lww, counter and set tables; nil leaves their rows
	// unrepaired, with the reason.
	Resolve Resolver
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
		rule := kind + ": the conflict rule's converged row"
		if opts.Resolve == nil {
			return nil, rule, fmt.Errorf("the %s rule's resolution is not available to the checker yet: converge this row by hand", kind)
		}
		regions := map[string]*Image{}
		for _, r := range e.Topology.Regions {
			if nodes := regionNodes(e, r.Name, row); len(nodes) > 0 {
				img, err := regionVersion(e, r.Name, row)
				if err != nil {
					return nil, rule, err
				}
				regions[r.Name] = img
			}
		}
		img, err := opts.Resolve(t, policy, regions)
		return img, rule, err
	}
	prefer := opts.Prefer
	if prefer == "" {
		prefer = DefaultPreferred(e)
	}
	rule := fmt.Sprintf("no policy: the preferred region %s's version", prefer)
	img, err := regionVersion(e, prefer, row)
	return img, rule, err
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
