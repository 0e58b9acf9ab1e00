package recovery

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/topology"
)

func pos(t *testing.T, s string) gtid.Position {
	t.Helper()
	p, err := gtid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// addrs gives every source a port of its own, as seen from any replica.
func addrs(_, source string) (string, int, error) {
	ports := map[string]int{"eu-1": 1, "eu-2": 2, "us-1": 3}
	if p, ok := ports[source]; ok {
		return "127.0.0.1", p, nil
	}
	return "", 0, fmt.Errorf("no node %s", source)
}

func TestPlanChannels(t *testing.T) {
	toEU2 := topology.Layout{Channels: []topology.Channel{
		{Replica: "us-1", Source: "eu-2", Connection: "eu"},
		{Replica: "eu-1", Source: "eu-2", Connection: "eu"},
	}}
	running := func(conn string, port int) node.ReplicaStatus {
		return node.ReplicaStatus{Connection: conn, SourceHost: "127.0.0.1", SourcePort: port, IORunning: "Yes", SQLRunning: true, UsingGTID: "Slave_Pos"}
	}
	tests := []struct {
		name   string
		node   string
		layout topology.Layout
		have   []node.ReplicaStatus
		want   channelWork
	}{
		{"replica of the dead primary is repointed", "us-1", toEU2, []node.ReplicaStatus{running("eu", 1)},
			channelWork{Configure: []topology.Channel{toEU2.Channels[0]}}},
		{"already right: nothing", "us-1", toEU2, []node.ReplicaStatus{running("EU", 2)}, channelWork{}},
		{"right but stopped: started", "us-1", toEU2, []node.ReplicaStatus{{Connection: "eu", SourceHost: "127.0.0.1", SourcePort: 2, IORunning: "No", UsingGTID: "Slave_Pos"}},
			channelWork{Start: []string{"eu"}}},
		{"current_pos is rewritten", "us-1", toEU2, []node.ReplicaStatus{{Connection: "eu", SourceHost: "127.0.0.1", SourcePort: 2, IORunning: "Yes", SQLRunning: true, UsingGTID: "Current_Pos"}},
			channelWork{Configure: []topology.Channel{toEU2.Channels[0]}}},
		{"the new primary's connection to the dead one is removed", "eu-2", toEU2, []node.ReplicaStatus{running("eu", 1)},
			channelWork{Remove: []string{"eu"}}},
		{"an old primary without connections gets one", "eu-1", toEU2, nil,
			channelWork{Configure: []topology.Channel{toEU2.Channels[1]}}},
		{"domain filters differ", "us-1",
			topology.Layout{Channels: []topology.Channel{{Replica: "us-1", Source: "eu-2", Connection: "eu", DoDomainIDs: []uint32{1}}}},
			[]node.ReplicaStatus{running("eu", 2)},
			channelWork{Configure: []topology.Channel{{Replica: "us-1", Source: "eu-2", Connection: "eu", DoDomainIDs: []uint32{1}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := planChannels(tt.node, tt.layout, tt.have, addrs)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	bad := topology.Layout{Channels: []topology.Channel{{Replica: "us-1", Source: "ghost", Connection: "eu"}}}
	if _, err := planChannels("us-1", bad, nil, addrs); err == nil {
		t.Error("an unknown source was planned")
	}
}

func TestRejoinVerdict(t *testing.T) {
	tests := []struct {
		name                  string
		binlog, slave, source string
		errant                []string
		diverged              bool
	}{
		{"clean old primary: a prefix", "1-101-10", "", "1-102-12", nil, false},
		{"equal", "1-101-10,2-201-3", "2-201-3", "1-101-10,2-201-3", nil, false},
		{"one transaction only it has", "1-101-11", "", "1-101-10", []string{"1-11"}, false},
		{"several domains, several ranges", "1-101-15,3-301-4", "", "1-101-10,2-201-9", []string{"1-11..15", "3-1..4"}, false},
		{"received but unlogged counts too", "1-101-10", "2-201-8", "1-101-10,2-201-5", []string{"2-6..8"}, false},
		{"same sequence number, another server: diverged", "1-101-11", "", "1-102-11", []string{"1-101-11"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := node.GTIDState{Binlog: pos(t, tt.binlog), Slave: pos(t, tt.slave)}
			have.Current = gtid.Furthest(have.Binlog, have.Slave)
			errant, diverged := rejoinVerdict(have, pos(t, tt.source))
			if !slices.Equal(errant, tt.errant) || (diverged != "") != tt.diverged {
				t.Errorf("got %v, %q; want %v, diverged %v", errant, diverged, tt.errant, tt.diverged)
			}
		})
	}
}

func TestSwitchoverRefusal(t *testing.T) {
	tests := []struct {
		name, have, old, want string
	}{
		{"behind is fine (it catches up)", "1-101-5", "1-101-9", ""},
		{"equal", "1-101-9,2-201-3", "1-101-9,2-201-3", ""},
		{"errant write in its own domain", "1-101-9,2-201-1", "1-101-9", "us-1 has errant transactions 2-1 that eu-1 lacks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := node.GTIDState{Binlog: pos(t, tt.have), Current: pos(t, tt.have)}
			if got := switchoverRefusal("us-1", have, "eu-1", pos(t, tt.old)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWritersChange(t *testing.T) {
	topo, _, err := topology.Load("../../examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	before := writers(topo, topo.LayoutFor(now, topology.Primaries{}))
	after := writers(topo, topo.LayoutFor(now, topology.Primaries{Region: "us"}))
	if !slices.Equal(without(before, after), []string{"eu-1"}) || !slices.Equal(without(after, before), []string{"us-1"}) {
		t.Errorf("writers before %v, after %v", before, after)
	}
	inRegion := writers(topo, topo.LayoutFor(now, topology.Primaries{Nodes: map[string]string{"eu-main": "eu-2"}}))
	if !slices.Equal(inRegion, []string{"eu-2"}) {
		t.Errorf("writers after promoting eu-2: %v", inRegion)
	}
}
