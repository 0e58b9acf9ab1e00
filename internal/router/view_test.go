package router

import (
	"sync"
	"testing"

	"github.com/meridian-geo/meridian/internal/snapshot"
)

func channel(lag *float64, healthy bool) snapshot.Channel {
	c := snapshot.Channel{IORunning: "Yes", SQLRunning: true, LagSeconds: lag}
	if !healthy {
		c.IORunning = "Connecting"
	}
	return c
}

func activePassive() snapshot.Snapshot {
	return snapshot.Snapshot{
		ControllerRegion: "eu",
		Regions: []snapshot.Region{
			{Name: "eu", Writable: true, LinkNode: "eu-1"},
			{Name: "us", LinkNode: "us-1"},
		},
		Nodes: []snapshot.Node{
			{Name: "eu-1", Region: "eu", Cluster: "eu-main", Role: "primary", Writable: true, Up: true},
			{Name: "eu-2", Region: "eu", Cluster: "eu-main", Role: "replica", Up: true, ReadOnly: true,
				Replication: []snapshot.Channel{channel(lag(0.4), true)}},
			{Name: "us-1", Region: "us", Cluster: "us-dr", Up: true, ReadOnly: true,
				Replication: []snapshot.Channel{channel(lag(1.5), true)}},
		},
	}
}

func edit(s snapshot.Snapshot, name string, f func(*snapshot.Node)) snapshot.Snapshot {
	out := s
	out.Nodes = append([]snapshot.Node(nil), s.Nodes...)
	for i := range out.Nodes {
		if out.Nodes[i].Name == name {
			f(&out.Nodes[i])
		}
	}
	return out
}

func galera(ready bool) *snapshot.Galera { return &snapshot.Galera{Ready: ready} }

func activeActiveGalera() snapshot.Snapshot {
	node := func(name, region string) snapshot.Node {
		return snapshot.Node{Name: name, Region: region, Cluster: region + "-g", ClusterKind: "galera", Writable: true, Up: true, Galera: galera(true)}
	}
	s := snapshot.Snapshot{ControllerRegion: "eu", Regions: []snapshot.Region{
		{Name: "eu", Writable: true, LinkNode: "eu-1"},
		{Name: "us", Writable: true, LinkNode: "us-1"},
	}}
	s.Nodes = []snapshot.Node{node("eu-1", "eu"), node("eu-2", "eu"), node("us-1", "us"), node("us-2", "us")}
	s.Nodes[0].Replication = []snapshot.Channel{channel(lag(0.3), true)}
	s.Nodes[2].Replication = []snapshot.Channel{channel(lag(0.7), true)}
	return s
}

func TestViewFromSnapshot(t *testing.T) {
	addrs := func(n string) string { return n + ":3306" }
	for _, c := range []struct {
		name    string
		snap    snapshot.Snapshot
		region  string
		primary string
		check   func(t *testing.T, v View)
	}{
		{"active-passive", activePassive(), "", "eu-1", func(t *testing.T, v View) {
			if n := v.Nodes["eu-2"]; n.Addr != "eu-2:3306" || !n.Up || n.Fenced || n.LagSeconds == nil || *n.LagSeconds != 0.4 || n.Region != "eu" {
				t.Errorf("eu-2: %+v", n)
			}
			if n := v.Nodes["eu-1"]; n.LagSeconds == nil || *n.LagSeconds != 0 || !n.Writer {
				t.Errorf("the primary: %+v", n)
			}
		}},
		{"a router in the DR region still writes to the primary region", activePassive(), "us", "eu-1", nil},
		{"a primary that is down is no primary", edit(activePassive(), "eu-1", func(n *snapshot.Node) { n.Up = false }), "", "", nil},
		{"a primary still read-only is no primary", edit(activePassive(), "eu-1", func(n *snapshot.Node) { n.ReadOnly = true }), "", "", nil},
		{"a broken channel makes lag unknown", edit(activePassive(), "eu-2", func(n *snapshot.Node) {
			n.Replication = []snapshot.Channel{channel(lag(0.1), false)}
		}), "", "eu-1", func(t *testing.T, v View) {
			if v.Nodes["eu-2"].LagSeconds != nil {
				t.Errorf("lag of a broken channel: %v", *v.Nodes["eu-2"].LagSeconds)
			}
		}},
		{"errant transactions fence a node", edit(activePassive(), "eu-2", func(n *snapshot.Node) { n.Errant = []string{"1-102-5"} }), "", "eu-1", func(t *testing.T, v View) {
			if !v.Nodes["eu-2"].Fenced {
				t.Error("eu-2 with errant transactions is not fenced")
			}
		}},
		{"a demoted primary still writable is fenced", edit(edit(activePassive(), "eu-1", func(n *snapshot.Node) { n.Writable = false }), "eu-2",
			func(n *snapshot.Node) { n.Writable, n.ReadOnly = true, false }), "", "eu-2", func(t *testing.T, v View) {
			if !v.Nodes["eu-1"].Fenced {
				t.Error("the demoted eu-1 accepting writes is not fenced")
			}
		}},
		{"active-active: the local region's writer", activeActiveGalera(), "us", "us-1", func(t *testing.T, v View) {
			if n := v.Nodes["us-2"]; n.LagSeconds == nil || *n.LagSeconds != 0 {
				t.Errorf("a writable Galera member: lag %v", n.LagSeconds)
			}
			for name, want := range map[string]bool{"eu-1": true, "eu-2": false, "us-1": true, "us-2": false} {
				if v.Nodes[name].Writer != want {
					t.Errorf("%s: Writer = %v, want %v (only a region's link node takes the routers' writes)", name, !want, want)
				}
			}
		}},
		{"Galera: another member when the link node is not synced", edit(activeActiveGalera(), "eu-1", func(n *snapshot.Node) { n.Galera = galera(false) }), "eu", "eu-2",
			func(t *testing.T, v View) {
				if v.Nodes["eu-1"].Up {
					t.Error("a Galera member that is not synced is up")
				}
			}},
		{"active-active: a region whose writers are down has no primary (no cross-region writes)", edit(edit(activeActiveGalera(), "us-1", func(n *snapshot.Node) { n.Up = false }), "us-2",
			func(n *snapshot.Node) { n.Up = false }), "us", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := ViewFromSnapshot(c.snap, c.region, addrs)
			if v.Primary != c.primary {
				t.Errorf("primary %q, want %q", v.Primary, c.primary)
			}
			if c.check != nil {
				c.check(t, v)
			}
		})
	}
}

func TestGaleraMemberTakesItsLinkNodesLag(t *testing.T) {
	s := activeActiveGalera()
	s.Regions[1].Writable = false
	for i := range s.Nodes {
		if s.Nodes[i].Region == "us" {
			s.Nodes[i].Writable = false
		}
	}
	v := ViewFromSnapshot(s, "us", func(n string) string { return n })
	if n := v.Nodes["us-2"]; n.LagSeconds == nil || *n.LagSeconds != 0.7 {
		t.Errorf("us-2 lag %v, want its link node us-1's 0.7", n.LagSeconds)
	}
	if v.Primary != "eu-1" {
		t.Errorf("primary %q, want eu-1", v.Primary)
	}
}

func TestLiveViewSwap(t *testing.T) {
	l := NewLiveView(View{Primary: "a"})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 1000 {
			if p := l.View().Primary; p != "a" && p != "b" {
				t.Errorf("torn view %q", p)
				return
			}
		}
	}()
	for range 1000 {
		l.Set(View{Primary: "b"})
		l.Set(View{Primary: "a"})
	}
	wg.Wait()
}
