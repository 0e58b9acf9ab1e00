package router

import (
	"sync/atomic"

	"github.com/meridian-geo/meridian/internal/lease"
	"github.com/meridian-geo/meridian/internal/snapshot"
)

// View is the topology as the router needs it to route one statement: who
// takes writes and which nodes exist, where, and how they fare. A View is
// immutable once published: replace it, never change its map.
type View struct {
	// Primary is the node that takes this router's writes ("" when none does).
	Primary string
	Nodes   map[string]NodeView
	// Lease is the write lease the controller renews for this router:
	// writes go to Primary only while it is valid and names Primary. Nil
	// means no lease is needed (a router without a controller).
	Lease *lease.Holder
}

// NodeView is one node as the router sees it.
type NodeView struct {
	// Addr is where this router dials the node (a WAN route in a sandbox).
	Addr   string
	Region string
	Up     bool
	// Fenced nodes receive nothing at all, not even a session command.
	Fenced bool
	// LagSeconds is the replication heartbeat lag; nil when unknown.
	LagSeconds *float64
	// Writer marks a node routers send writes to: the primary of a
	// writable region (in Galera, the member carrying the region's links;
	// the other members, writable too, serve reads like replicas).
	Writer bool
}

// ViewSource hands out the current view. The router reads it for every
// statement, so implementations must be cheap and lock-free.
type ViewSource interface{ View() View }

// LiveView is a ViewSource whose view is replaced atomically: readers
// never wait for a writer.
type LiveView struct{ p atomic.Pointer[View] }

// NewLiveView starts with v.
func NewLiveView(v View) *LiveView {
	l := &LiveView{}
	l.Set(v)
	return l
}

// Set publishes v; statements routed from now on see it.
func (l *LiveView) Set(v View) { l.p.Store(&v) }

// View is the current view.
func (l *LiveView) View() View { return *l.p.Load() }

// ViewFromSnapshot derives the router's view from the controller's
// snapshot, for a router placed in region ("" means the controller's own
// region); addrs says where the router dials each node.
//
// The primary is the writable, up, non-read-only node of the writable
// region (the local one in active-active; failing that, the first
// writable region), preferring the region's link node when several
// qualify (a Galera cluster): one writer per router keeps certification
// conflicts away.
func ViewFromSnapshot(s snapshot.Snapshot, region string, addrs func(node string) string) View {
	if region == "" {
		region = s.ControllerRegion
	}
	v := View{Nodes: make(map[string]NodeView, len(s.Nodes))}
	for _, n := range s.Nodes {
		v.Nodes[n.Name] = NodeView{
			Addr:       addrs(n.Name),
			Region:     n.Region,
			Up:         serving(n),
			Fenced:     fenced(n),
			LagSeconds: nodeLag(s, n),
			Writer:     writer(s, n),
		}
	}
	v.Primary = primaryOf(s, region)
	return v
}

// writer reports whether routers send writes to n: writable, and the link
// node of its region when it is a Galera member.
func writer(s snapshot.Snapshot, n snapshot.Node) bool {
	if !n.Writable || n.Galera == nil {
		return n.Writable
	}
	for _, r := range s.Regions {
		if r.Name == n.Region {
			return r.LinkNode == n.Name
		}
	}
	return false
}

// serving reports whether a node answers and, in Galera, is synced.
func serving(n snapshot.Node) bool {
	return n.Up && (n.Galera == nil || n.Galera.Ready)
}

// fenced reports whether a node must receive nothing: it has transactions
// no source has (a diverged history), or the layout made it read-only but
// it still accepts writes (a demoted primary not yet fenced by read_only).
func fenced(n snapshot.Node) bool {
	return len(n.Errant) > 0 || (n.Up && !n.Writable && !n.ReadOnly)
}

func primaryOf(s snapshot.Snapshot, region string) string {
	writer := ""
	for _, r := range s.Regions {
		if r.Writable && (r.Name == region || writer == "") {
			writer = r.Name
		}
	}
	link := ""
	for _, r := range s.Regions {
		if r.Name == writer {
			link = r.LinkNode
		}
	}
	primary := ""
	for _, n := range s.Nodes {
		if n.Region != writer || !n.Writable || n.ReadOnly || !serving(n) || fenced(n) {
			continue
		}
		if primary == "" || n.Name == link {
			primary = n.Name
		}
	}
	return primary
}

// nodeLag is how far a node trails its sources: the largest heartbeat lag
// of its replication channels, unknown when any channel is broken or
// unmeasured. A writable node without channels is the source itself (no
// lag); a Galera member without channels has its link node's lag.
func nodeLag(s snapshot.Snapshot, n snapshot.Node) *float64 {
	if len(n.Replication) == 0 {
		if n.Writable {
			zero := 0.0
			return &zero
		}
		if n.Galera != nil {
			for _, r := range s.Regions {
				if link, ok := s.Node(r.LinkNode); ok && r.Name == n.Region && link.Name != n.Name && link.Cluster == n.Cluster && len(link.Replication) > 0 {
					return nodeLag(s, link)
				}
			}
		}
		return nil
	}
	var worst *float64
	for _, c := range n.Replication {
		if !c.Healthy() || c.LagSeconds == nil {
			return nil
		}
		if worst == nil || *c.LagSeconds > *worst {
			worst = c.LagSeconds
		}
	}
	return worst
}
