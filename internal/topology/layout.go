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

// Layout derives the channels and writable nodes at now with the file's
// primaries; see LayoutFor.
func (t *Topology) Layout(now time.Time) Layout { return t.LayoutFor(now, Primaries{}) }

// ControllerRegion is where the controller runs: roles.controller, else
// the disaster-recovery region, else the last region that does not take
// writes now, else the last region. Outside the primary's region, so that
// a partition isolating the primary looks, from the controller, like the
// primary's loss: its routers' leases run out and the controller can
// promote elsewhere (a controller beside the primary would keep it).
func (t *Topology) ControllerRegion(now time.Time) string {
	if t.Roles.Controller != "" {
		return t.Roles.Controller
	}
	if t.Architecture == ActivePassive && t.Roles.DR != "" {
		return t.Roles.DR
	}
	if len(t.Regions) == 0 {
		return ""
	}
	writer := t.PrimaryRegionAt(now)
	for i := len(t.Regions) - 1; i >= 0; i-- {
		if t.Regions[i].Name != writer {
			return t.Regions[i].Name
		}
	}
	return t.Regions[len(t.Regions)-1].Name
}
