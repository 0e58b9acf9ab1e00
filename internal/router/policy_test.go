package router

import (
	"errors"
	"testing"
	"time"
)

func lag(s float64) *float64 { return &s }

// testView is an estate with a primary and two replicas in eu and one in us.
func testView() View {
	return View{Primary: "eu-1", Nodes: map[string]NodeView{
		"eu-1": {Addr: "10.0.0.1:3306", Region: "eu", Up: true, Writer: true, LagSeconds: lag(0)},
		"eu-2": {Addr: "10.0.0.2:3306", Region: "eu", Up: true, LagSeconds: lag(0.2)},
		"eu-3": {Addr: "10.0.0.3:3306", Region: "eu", Up: true, LagSeconds: lag(3)},
		"us-1": {Addr: "10.1.0.1:3306", Region: "us", Up: true, LagSeconds: lag(0.1)},
	}}
}

func change(v View, name string, f func(*NodeView)) View {
	out := View{Primary: v.Primary, Nodes: map[string]NodeView{}}
	for k, n := range v.Nodes {
		if k == name {
			f(&n)
		}
		out.Nodes[k] = n
	}
	return out
}

func TestEligible(t *testing.T) {
	p := policy{region: "eu", maxLag: time.Second}
	for _, c := range []struct {
		name string
		view View
		node string
		want bool
	}{
		{"fresh replica of the region", testView(), "eu-2", true},
		{"the primary is not a replica", testView(), "eu-1", false},
		{"another region's replica", testView(), "us-1", false},
		{"lag over the bound", testView(), "eu-3", false},
		{"unknown lag with a bound", change(testView(), "eu-2", func(n *NodeView) { n.LagSeconds = nil }), "eu-2", false},
		{"down", change(testView(), "eu-2", func(n *NodeView) { n.Up = false }), "eu-2", false},
		{"fenced", change(testView(), "eu-2", func(n *NodeView) { n.Fenced = true }), "eu-2", false},
		{"not in the view", testView(), "eu-9", false},
	} {
		if got := p.eligible(c.view, c.node); got != c.want {
			t.Errorf("%s: eligible(%s) = %v, want %v", c.name, c.node, got, c.want)
		}
	}
	unbounded := policy{region: "eu"}
	if !unbounded.eligible(change(testView(), "eu-3", func(n *NodeView) { n.LagSeconds = nil }), "eu-3") {
		t.Error("without a bound, unknown lag must not exclude a replica")
	}
}

func TestChooseReplica(t *testing.T) {
	p := policy{region: "eu"}
	for _, c := range []struct {
		name string
		load map[string]Load
		want string
	}{
		{"idle: by name", nil, "eu-2"},
		{"fewest outstanding requests", map[string]Load{"eu-2": {Outstanding: 3}, "eu-3": {Outstanding: 1, Sessions: 9}}, "eu-3"},
		{"then fewest connections", map[string]Load{"eu-2": {Outstanding: 1, Sessions: 4}, "eu-3": {Outstanding: 1, Sessions: 2}}, "eu-3"},
		{"the primary's load does not matter", map[string]Load{"eu-1": {}, "eu-2": {Outstanding: 5}, "eu-3": {Outstanding: 5}}, "eu-2"},
	} {
		got := p.chooseReplica(testView(), func(n string) Load { return c.load[n] })
		if got != c.want {
			t.Errorf("%s: chose %q, want %q", c.name, got, c.want)
		}
	}
}

func TestReadNode(t *testing.T) {
	none := func(string) Load { return Load{} }
	busy := func(n string) Load {
		if n == "eu-2" {
			return Load{Outstanding: 10}
		}
		return Load{}
	}
	allDown := change(change(testView(), "eu-2", func(n *NodeView) { n.Up = false }), "eu-3", func(n *NodeView) { n.Up = false })
	noPrimary := change(allDown, "eu-1", func(n *NodeView) { n.Up = false })
	noPrimary.Primary = ""
	for _, c := range []struct {
		name    string
		p       policy
		view    View
		current string
		load    func(string) Load
		want    string
		err     error
	}{
		{"a session keeps its replica", policy{region: "eu"}, testView(), "eu-3", busy, "eu-3", nil},
		{"a new session takes the least loaded", policy{region: "eu"}, testView(), "", busy, "eu-3", nil},
		{"an ineligible replica is replaced", policy{region: "eu", maxLag: time.Second}, testView(), "eu-3", none, "eu-2", nil},
		{"no replica: the primary reads", policy{region: "eu", masterAcceptReads: true}, allDown, "", none, "eu-1", nil},
		{"no replica, primary refuses reads", policy{region: "eu"}, allDown, "", none, "", errNoReplica},
		{"no replica and no primary", policy{region: "eu", masterAcceptReads: true}, noPrimary, "", none, "", errNoPrimary},
		{"a region without replicas", policy{region: "us", masterAcceptReads: true}, change(testView(), "us-1", func(n *NodeView) { n.Fenced = true }), "", none, "eu-1", nil},
	} {
		got, err := c.p.readNode(c.view, c.current, c.load)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: readNode = %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
}

func TestCurrent(t *testing.T) {
	v := testView()
	if !current(v, "eu-2", "10.0.0.2:3306") {
		t.Error("an unchanged node is current")
	}
	if current(v, "eu-2", "10.0.0.9:3306") {
		t.Error("a node that moved address is not current")
	}
	if current(change(v, "eu-2", func(n *NodeView) { n.Fenced = true }), "eu-2", "10.0.0.2:3306") {
		t.Error("a fenced node is not current")
	}
	if current(v, "gone", "") {
		t.Error("a node that left the view is not current")
	}
}
