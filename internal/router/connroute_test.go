package router

import (
	"slices"
	"testing"
	"time"
)

func TestConnCandidates(t *testing.T) {
	base := testView()
	base.Nodes["ap-1"] = NodeView{Addr: "10.2.0.1:3306", Region: "ap", Up: true, LagSeconds: lag(0)}
	base.Nodes["sa-1"] = NodeView{Addr: "10.3.0.1:3306", Region: "sa", Up: true, LagSeconds: lag(0)}
	idle := func(string) Load { return Load{} }
	cfg := ServiceConfig{Kind: ReadConnRoute, Region: "eu", RegionOrder: []string{"eu", "us", "ap"}}
	withLag := cfg
	withLag.MaxReplicationLag = time.Second
	now := time.Now()
	for _, c := range []struct {
		name string
		cfg  ServiceConfig
		view View
		load func(string) Load
		want []string
	}{
		{"replicas, local region first, then by region order, unlisted last", cfg, base, idle,
			[]string{"eu-2", "eu-3", "us-1", "ap-1", "sa-1"}},
		{"fewest connections first among a region's replicas", cfg, base,
			func(n string) Load { return Load{Sessions: map[string]int64{"eu-2": 3, "eu-3": 1}[n]} },
			[]string{"eu-3", "eu-2", "us-1", "ap-1", "sa-1"}},
		{"lag bound, unknown lag excluded", withLag, change(base, "us-1", func(n *NodeView) { n.LagSeconds = nil }), idle,
			[]string{"eu-2", "ap-1", "sa-1"}},
		{"down and fenced replicas excluded", cfg,
			change(change(base, "eu-2", func(n *NodeView) { n.Up = false }), "eu-3", func(n *NodeView) { n.Fenced = true }), idle,
			[]string{"us-1", "ap-1", "sa-1"}},
		{"other regions' writers are no replicas", cfg, change(base, "us-1", func(n *NodeView) { n.Writer = true }), idle,
			[]string{"eu-2", "eu-3", "ap-1", "sa-1"}},
		{"primary", ServiceConfig{Kind: ReadConnRoute, Region: "us", ConnectTo: ConnectPrimary}, base, idle, []string{"eu-1"}},
		{"any server, the primary too", ServiceConfig{Kind: ReadConnRoute, Region: "us", ConnectTo: ConnectAny, RegionOrder: []string{"us", "eu"}},
			base, idle, []string{"us-1", "eu-1", "eu-2", "eu-3", "ap-1", "sa-1"}},
		{"a diff service's main alone", ServiceConfig{Kind: Diff, DiffMain: "eu-3", DiffOther: "us-1"}, base, idle, []string{"eu-3"}},
	} {
		if got := newConnPolicy(c.cfg).candidates(c.view, now, c.load); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestConnKeeps(t *testing.T) {
	p := newConnPolicy(ServiceConfig{Kind: ReadConnRoute, Region: "eu", MaxReplicationLag: time.Second})
	v, now := testView(), time.Now()
	if !p.keeps(change(v, "eu-2", func(n *NodeView) { n.LagSeconds = lag(30) }), now, "eu-2", "10.0.0.2:3306") {
		t.Error("a bound connection was cut for lag")
	}
	for name, v := range map[string]View{
		"down":     change(v, "eu-2", func(n *NodeView) { n.Up = false }),
		"fenced":   change(v, "eu-2", func(n *NodeView) { n.Fenced = true }),
		"moved":    change(v, "eu-2", func(n *NodeView) { n.Addr = "10.0.0.9:3306" }),
		"promoted": {Primary: "eu-2", Nodes: v.Nodes},
		"removed":  change(v, "eu-1", func(*NodeView) {}),
	} {
		if name == "removed" {
			delete(v.Nodes, "eu-2")
		}
		if p.keeps(v, now, "eu-2", "10.0.0.2:3306") {
			t.Errorf("a connection to eu-2 kept once it is %s", name)
		}
	}
}
