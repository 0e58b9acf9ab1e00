package topology

import "time"

// Layout is the replication graph the architecture asks for at a given time.
type Layout struct {
	Channels []Channel       // async replication connections
	Writable map[string]bool // every node: true when it takes writes (read_only=OFF)
}

// Channel is one named async replication connection.
type Channel struct {
	Replica, Source string // node names
	Connection      string // MariaDB connection name: the source's region name
	// DoDomainIDs restricts the channel to these GTID domains; empty means all.
	// Set only in active-active, see Layout.
	DoDomainIDs []uint32
}

// PrimaryRegionAt is the region taking writes at now: roles.primary for
// active-passive, roles.hub for hub-and-spoke, the schedule's window for
// follow-the-sun. Active-active has no single primary: "".
func (t *Topology) PrimaryRegionAt(now time.Time) string {
	switch t.Architecture {
	case ActivePassive:
		return t.Roles.Primary
	case HubAndSpoke:
		return t.Roles.Hub
	case FollowTheSun:
		w, _, _ := t.WindowAt(now)
		return w.Region
	}
	return ""
}

// WritableRegions are the regions taking writes at now: every region with a
// home cluster in active-active, else the primary region alone.
func (t *Topology) WritableRegions(now time.Time) []string {
	if t.Architecture == ActiveActive {
		return t.homeRegions()
	}
	if p := t.PrimaryRegionAt(now); p != "" {
		return []string{p}
	}
	return nil
}

// homeRegions are the regions with a home cluster, in file order: those that
// take part in replication between regions.
func (t *Topology) homeRegions() []string {
	var names []string
	for _, r := range t.Regions {
		if _, ok := t.HomeCluster(r.Name); ok {
			names = append(names, r.Name)
		}
	}
	return names
}

// Layout derives the channels and writable nodes at now.
//
// Inside a primary-replica cluster every replica follows the first node.
// Between regions, each region's link node (see LinkNode) replicates from the
// primary region's: the DR region in active-passive, every spoke in
// hub-and-spoke, every other region in follow-the-sun.
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
// primary-replica cluster's first node, every Galera node, the single node.
// All other nodes are read-only.
func (t *Topology) Layout(now time.Time) Layout {
	l := Layout{Writable: map[string]bool{}}
	for _, c := range t.Clusters {
		for i, n := range c.Nodes {
			l.Writable[n.Name] = false
			if c.Kind == PrimaryReplica && i > 0 {
				l.Channels = append(l.Channels, Channel{Replica: n.Name, Source: c.Nodes[0].Name, Connection: c.Region})
			}
		}
	}
	for _, region := range t.WritableRegions(now) {
		c, _ := t.HomeCluster(region)
		for i, n := range c.Nodes {
			l.Writable[n.Name] = c.Kind != PrimaryReplica || i == 0
		}
	}
	l.Channels = append(l.Channels, t.regionChannels(now)...)
	return l
}

// regionChannels are the async links between regions' link nodes.
func (t *Topology) regionChannels(now time.Time) []Channel {
	link := func(replica, source string, domains []uint32) Channel {
		return Channel{Replica: t.LinkNode(replica), Source: t.LinkNode(source), Connection: source, DoDomainIDs: domains}
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
	primary := t.PrimaryRegionAt(now)
	if primary == "" {
		return nil
	}
	for _, replica := range regions {
		if replica == primary || (t.Architecture == ActivePassive && replica != t.Roles.DR) {
			continue
		}
		channels = append(channels, link(replica, primary, nil))
	}
	return channels
}
