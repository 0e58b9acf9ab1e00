package topology

import (
	"slices"
	"time"
)

// Primaries is who takes writes now, as decided at run time (failover,
// switchover, follow-the-sun) rather than by the file. The zero value is the
// file's (and the schedule's) choice.
//
// An override that names no home region, no cluster or no member of the
// named cluster is ignored, so a stale value (a cluster renamed in the file
// since) falls back to the file instead of breaking the layout.
type Primaries struct {
	// Region is the primary region; "" keeps roles.primary, roles.hub or the
	// schedule's window. Ignored in active-active, where every region writes.
	Region string `json:"region,omitempty"`
	// Nodes maps a cluster name to the node that is its primary: the writer
	// of a primary-replica cluster, the member carrying a Galera cluster's
	// async links. A cluster absent from the map keeps its first node.
	Nodes map[string]string `json:"nodes,omitempty"`
}

// ClusterPrimary is the node that is the cluster's primary under p: its
// override when that names a member, else its first node. "" for an unknown
// or empty cluster.
func (t *Topology) ClusterPrimary(cluster string, p Primaries) string {
	c, ok := t.clusterNamed(cluster)
	if !ok || len(c.Nodes) == 0 {
		return ""
	}
	if name := p.Nodes[cluster]; name != "" && slices.ContainsFunc(c.Nodes, func(n Node) bool { return n.Name == name }) {
		return name
	}
	return c.Nodes[0].Name
}

func (t *Topology) clusterNamed(name string) (Cluster, bool) {
	for _, c := range t.Clusters {
		if c.Name == name {
			return c, true
		}
	}
	return Cluster{}, false
}

// LinkNodeFor is the node carrying the region's async links under p: the
// primary of its home cluster. "" when the region has no home cluster.
func (t *Topology) LinkNodeFor(region string, p Primaries) string {
	c, ok := t.HomeCluster(region)
	if !ok {
		return ""
	}
	return t.ClusterPrimary(c.Name, p)
}

// PrimaryRegionFor is the region taking writes at now under p: p.Region when
// it names a home region (outside active-active), else PrimaryRegionAt(now).
// A region set at run time thus also suspends the follow-the-sun schedule.
func (t *Topology) PrimaryRegionFor(now time.Time, p Primaries) string {
	if _, home := t.HomeCluster(p.Region); p.Region != "" && home && t.Architecture != ActiveActive {
		return p.Region
	}
	return t.PrimaryRegionAt(now)
}

// WritableRegionsFor is WritableRegions under p.
func (t *Topology) WritableRegionsFor(now time.Time, p Primaries) []string {
	if r := t.PrimaryRegionFor(now, p); r != t.PrimaryRegionAt(now) {
		return []string{r}
	}
	return t.WritableRegions(now)
}

// LayoutFor derives the channels and writable nodes at now under p.
//
// Inside a primary-replica cluster every replica follows the cluster's
// primary (ClusterPrimary). Between regions, each region's link node (see
// LinkNodeFor) replicates from the primary region's: in active-passive the
// other region of the primary/DR pair (the DR region, or after a failover to
// it the old primary region), every spoke in hub-and-spoke, every other
// region in follow-the-sun.
//
// Active-active is a full mesh: every region replicates from every other, and
// each channel carries only its source region's own domain (DoDomainIDs).
// With log_slave_updates every server's binlog also holds what it received
// from the other regions; without the filter eu would hand apac's
// transactions back to apac (a loop) and send them on to us, which already
// got them straight from apac (the same GTID arriving twice, by two paths).
// Filtering on the origin domain makes each transaction travel exactly one
// hop, from its home region to each other region.
//
// Writable nodes are those of the writable regions' home clusters: a
// primary-replica cluster's primary, every Galera node, the single node. All
// other nodes are read-only.
func (t *Topology) LayoutFor(now time.Time, p Primaries) Layout {
	l := Layout{Writable: map[string]bool{}}
	for _, c := range t.Clusters {
		primary := t.ClusterPrimary(c.Name, p)
		for _, n := range c.Nodes {
			l.Writable[n.Name] = false
			if c.Kind == PrimaryReplica && n.Name != primary {
				l.Channels = append(l.Channels, Channel{Replica: n.Name, Source: primary, Connection: c.Region})
			}
		}
	}
	for _, region := range t.WritableRegionsFor(now, p) {
		c, _ := t.HomeCluster(region)
		primary := t.ClusterPrimary(c.Name, p)
		for _, n := range c.Nodes {
			l.Writable[n.Name] = c.Kind != PrimaryReplica || n.Name == primary
		}
	}
	l.Channels = append(l.Channels, t.regionChannels(now, p)...)
	return l
}

// regionChannels are the async links between regions' link nodes.
func (t *Topology) regionChannels(now time.Time, p Primaries) []Channel {
	link := func(replica, source string, domains []uint32) Channel {
		return Channel{Replica: t.LinkNodeFor(replica, p), Source: t.LinkNodeFor(source, p), Connection: source, DoDomainIDs: domains}
	}
	var channels []Channel
	regions := t.homeRegions()
	if t.Architecture == ActiveActive {
		for _, replica := range regions {
			for _, source := range regions {
				if source != replica {
					channels = append(channels, link(replica, source, []uint32{t.regionDomain(source)}))
				}
			}
		}
		return channels
	}
	primary := t.PrimaryRegionFor(now, p)
	if primary == "" {
		return nil
	}
	for _, replica := range regions {
		if replica == primary || (t.Architecture == ActivePassive && replica != t.Roles.Primary && replica != t.Roles.DR) {
			continue
		}
		channels = append(channels, link(replica, primary, nil))
	}
	return channels
}
