package checksum

import "github.com/meridian-geo/meridian/internal/topology"

// Groups are the sets of nodes that must hold the same rows of a table
// under its policy, from the given nodes (file order kept). Replicated data
// is the same everywhere: one group of every node. Personal data stays
// where its policy keeps it: an owned table only in the owner region, a
// table with home rows in each region separately (each region holds its own
// rows). A node's region is its cluster's: a Galera member placed elsewhere
// still holds its cluster's data. Groups of one node compare nothing and are
// left out.
func Groups(t *topology.Topology, policy topology.TablePolicy, nodes []string) [][]string {
	if !policy.Personal {
		return atLeastTwo([][]string{nodes})
	}
	byRegion := map[string][]string{}
	for _, n := range nodes {
		if _, c, ok := t.Node(n); ok {
			byRegion[c.Region] = append(byRegion[c.Region], n)
		}
	}
	if policy.Owner != "" {
		return atLeastTwo([][]string{byRegion[policy.Owner]})
	}
	var groups [][]string
	for _, r := range t.Regions {
		groups = append(groups, byRegion[r.Name])
	}
	return atLeastTwo(groups)
}

func atLeastTwo(groups [][]string) [][]string {
	var out [][]string
	for _, g := range groups {
		if len(g) >= 2 {
			out = append(out, g)
		}
	}
	return out
}
