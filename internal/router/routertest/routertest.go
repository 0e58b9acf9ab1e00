// Package routertest gives router tests and benchmarks a view of a running
// sandbox, as the controller's view would describe it.
package routertest

import (
	"net"
	"strconv"
	"time"

	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/topology"
)

// SandboxView is the view of a sandbox for a router placed in region, at
// time now: the layout's writable node of the writable region (region
// itself in active-active) is the primary, every running node is up with
// no lag, and nodes of other regions are reached through the WAN routes.
func SandboxView(info *sandbox.Info, t *topology.Topology, region string, now time.Time) router.View {
	layout := t.Layout(now)
	writers := t.WritableRegions(now)
	v := router.View{Nodes: map[string]router.NodeView{}}
	for _, n := range info.Nodes {
		addr := net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
		if n.Region != region {
			if routed, ok := info.Route(region, n.Name); ok {
				addr = routed
			}
		}
		lag := 0.0
		v.Nodes[n.Name] = router.NodeView{Addr: addr, Region: n.Region, Up: n.Running, LagSeconds: &lag, Writer: layout.Writable[n.Name] && t.LinkNodeFor(n.Region, topology.Primaries{}) == n.Name}
	}
	primaryRegion := ""
	for _, r := range writers {
		if primaryRegion == "" || r == region {
			primaryRegion = r
		}
	}
	if c, ok := t.HomeCluster(primaryRegion); ok {
		for _, n := range c.Nodes {
			if layout.Writable[n.Name] {
				v.Primary = n.Name
				break
			}
		}
	}
	return v
}
