package topology

import "time"

// NodeRef is one node with where it sits, as Nodes lists them.
type NodeRef struct {
	Name        string
	Region      string // where the node runs (its own region, else its cluster's)
	Cluster     string
	ClusterKind ClusterKind
	// Position is the node's 1-based place in its cluster. The first node is a
	// primary-replica cluster's primary and carries its region's async links.
	Position int
}

// Nodes lists every node, cluster by cluster, in file order.
func (t *Topology) Nodes() []NodeRef {
	var refs []NodeRef
	for _, c := range t.Clusters {
		for i, n := range c.Nodes {
			refs = append(refs, NodeRef{Name: n.Name, Region: nodeRegion(n, c), Cluster: c.Name, ClusterKind: c.Kind, Position: i + 1})
		}
	}
	return refs
}

// Node finds a node by name, with the cluster it belongs to.
func (t *Topology) Node(name string) (Node, Cluster, bool) {
	n, c, _, ok := t.findNode(name)
	return n, c, ok
}

// findNode also returns the node's 1-based position in its cluster.
func (t *Topology) findNode(name string) (Node, Cluster, int, bool) {
	for _, c := range t.Clusters {
		for i, n := range c.Nodes {
			if n.Name == name {
				return n, c, i + 1, true
			}
		}
	}
	return Node{}, Cluster{}, 0, false
}

// NodeRegion is the region a node runs in; "" for an unknown node.
func (t *Topology) NodeRegion(name string) string {
	n, c, ok := t.Node(name)
	if !ok {
		return ""
	}
	return nodeRegion(n, c)
}

func nodeRegion(n Node, c Cluster) string {
	if n.Region != "" {
		return n.Region
	}
	return c.Region
}

// Region finds a region by name.
func (t *Topology) Region(name string) (Region, bool) {
	for _, r := range t.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// regionDomain is the region's GTID domain, 0 when the region is unknown.
func (t *Topology) regionDomain(name string) uint32 {
	r, _ := t.Region(name)
	return r.GTIDDomainID
}

// HomeCluster is the cluster whose Region is region. A region that only hosts
// nodes of a Galera cluster spanning from elsewhere has none.
func (t *Topology) HomeCluster(region string) (Cluster, bool) {
	for _, c := range t.Clusters {
		if c.Region == region {
			return c, true
		}
	}
	return Cluster{}, false
}

// RTT is the declared round-trip time between two regions, in either order;
// 0 for the same region or an undeclared pair.
func (t *Topology) RTT(a, b string) time.Duration {
	if a == b {
		return 0
	}
	for _, l := range t.Links {
		if (l.Between[0] == a && l.Between[1] == b) || (l.Between[0] == b && l.Between[1] == a) {
			return l.RTT.Duration
		}
	}
	return 0
}

// Compressed reports whether the link between regions a and b asks for
// the compressed protocol (Link.Compress).
func (t *Topology) Compressed(a, b string) bool {
	for _, l := range t.Links {
		if (l.Between[0] == a && l.Between[1] == b) || (l.Between[0] == b && l.Between[1] == a) {
			return l.Compress
		}
	}
	return false
}

// ServerID is the node's server_id: explicit, or generated as its cluster's
// region domain * 100 + its position in the cluster (eu, domain 1: 101, 102 ...).
// The cluster's region is used even for a Galera node placed in another
// region, so generated ids never collide between two home clusters. 0 for an
// unknown node.
func (t *Topology) ServerID(name string) uint32 {
	n, c, pos, ok := t.findNode(name)
	switch {
	case !ok:
		return 0
	case n.ServerID != 0:
		return n.ServerID
	}
	return uint32(generatedServerID(t.regionDomain(c.Region), pos))
}

func generatedServerID(domain uint32, position int) uint64 {
	return uint64(domain)*serverIDsPerDomain + uint64(position)
}

// NodeDomain is the gtid_domain_id the node's own server uses. Outside Galera
// it is the region's domain, so every transaction carries its region of
// origin. A Galera node instead writes cluster transactions in the region's
// domain through wsrep_gtid_domain_id, and keeps gtid_domain_id for its local
// non-replicated events: explicit, or generated as region domain * 1000 +
// position (eu, domain 1: 1001, 1002, 1003). 0 for an unknown node.
func (t *Topology) NodeDomain(name string) uint32 {
	n, c, pos, ok := t.findNode(name)
	switch {
	case !ok:
		return 0
	case c.Kind != Galera:
		return t.regionDomain(nodeRegion(n, c))
	case n.GTIDDomainID != 0:
		return n.GTIDDomainID
	}
	return uint32(generatedGaleraDomain(t.regionDomain(c.Region), pos))
}

func generatedGaleraDomain(domain uint32, position int) uint64 {
	return uint64(domain)*galeraDomainsPerRegion + uint64(position)
}

// LinkNode is the node that carries the async links of the region's home
// cluster: the first node (a primary-replica cluster's primary, a Galera
// cluster's first member, a single server). "" when the region has no home
// cluster.
func (t *Topology) LinkNode(region string) string {
	c, ok := t.HomeCluster(region)
	if !ok || len(c.Nodes) == 0 {
		return ""
	}
	return c.Nodes[0].Name
}
