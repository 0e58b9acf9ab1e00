package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/examples"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

func example(t *testing.T, name string) *topology.Topology {
	t.Helper()
	data, err := examples.Files.ReadFile(name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	topo, _, err := topology.Parse(name+".yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

var noon = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestSwitchoverTarget(t *testing.T) {
	ap := example(t, "active-passive")
	moved := topology.Primaries{Region: "us", Nodes: map[string]string{"us-dr": "us-1"}}
	for _, tt := range []struct {
		name, target string
		from         topology.Primaries
		want         topology.Primaries
		err          string
	}{
		{"to the DR region", "us", topology.Primaries{}, topology.Primaries{Region: "us", Nodes: map[string]string{}}, ""},
		{"to the DR node", "us-1", topology.Primaries{}, moved, ""},
		{"to a replica in the region", "eu-2", topology.Primaries{}, topology.Primaries{Nodes: map[string]string{"eu-main": "eu-2"}}, ""},
		{"back to eu", "eu", moved, topology.Primaries{Region: "eu", Nodes: map[string]string{"us-dr": "us-1"}}, ""},
		{"already there", "eu", topology.Primaries{}, topology.Primaries{}, "already the primary"},
		{"already there by node", "eu-1", topology.Primaries{}, topology.Primaries{}, "already the primary"},
		{"unknown", "mars", topology.Primaries{}, topology.Primaries{}, "unknown node or region"},
	} {
		got, err := switchoverTarget(ap, tt.from, tt.target, noon)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err == "" && !samePrimaries(got, tt.want):
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	aa := example(t, "active-active")
	if _, err := switchoverTarget(aa, topology.Primaries{}, aa.Regions[1].Name, noon); err == nil || !strings.Contains(err.Error(), "every region writes") {
		t.Errorf("active-active switchover to a region: %v, want a refusal", err)
	}
}

func TestScheduleMove(t *testing.T) {
	fts := example(t, "follow-the-sun")
	at := func(hhmm string) time.Time {
		d, _ := time.Parse("15:04", hhmm)
		return time.Date(2026, 3, 1, d.Hour(), d.Minute(), 0, 0, time.UTC)
	}
	for _, tt := range []struct {
		name    string
		p       topology.Primaries
		now     time.Time
		region  string
		started time.Time
	}{
		{"in eu's window with eu primary: nothing", topology.Primaries{Region: "eu"}, at("09:00"), "", time.Time{}},
		{"eu's window began, apac still primary", topology.Primaries{Region: "apac"}, at("08:00"), "eu", at("08:00")},
		{"us's window, late", topology.Primaries{Region: "eu"}, at("23:59"), "us", at("16:00")},
		{"apac's window after midnight", topology.Primaries{Region: "us"}, at("00:01"), "apac", at("00:00")},
	} {
		region, start, ok := scheduleMove(fts, tt.p, tt.now)
		if region != tt.region || ok != (tt.region != "") || !start.Equal(tt.started) {
			t.Errorf("%s: %q %s %v, want %q %s", tt.name, region, start, ok, tt.region, tt.started)
		}
	}
	if _, _, ok := scheduleMove(example(t, "active-passive"), topology.Primaries{}, noon); ok {
		t.Error("active-passive has no schedule to follow")
	}
}

func TestMoveRefusal(t *testing.T) {
	fts := example(t, "follow-the-sun")
	p := topology.Primaries{Region: "eu"}
	lag := func(s float64) *float64 { return &s }
	snap := func(us snapshot.Node) snapshot.Snapshot {
		return snapshot.Snapshot{At: noon, Nodes: []snapshot.Node{{Name: "eu-1", Region: "eu", Up: true}, us}}
	}
	healthy := snapshot.Channel{SourceNode: "eu-1", IORunning: "Yes", SQLRunning: true, LagSeconds: lag(0.1)}
	for _, tt := range []struct {
		name string
		us   snapshot.Node
		want string
	}{
		{"healthy", snapshot.Node{Name: "us-1", Up: true, Replication: []snapshot.Channel{healthy}}, ""},
		{"down", snapshot.Node{Name: "us-1", Error: "connection refused"}, "us-1 is down (connection refused)"},
		{"errant", snapshot.Node{Name: "us-1", Up: true, Errant: []string{"2-201-5"}, Replication: []snapshot.Channel{healthy}}, "errant"},
		{"broken", snapshot.Node{Name: "us-1", Up: true, Replication: []snapshot.Channel{{SourceNode: "eu-1", IORunning: "Connecting", SQLRunning: true}}}, "broken"},
		{"too far behind", snapshot.Node{Name: "us-1", Up: true, Replication: []snapshot.Channel{{SourceNode: "eu-1", IORunning: "Yes", SQLRunning: true, LagSeconds: lag(12)}}}, "12.0s behind eu-1"},
		{"lag unknown", snapshot.Node{Name: "us-1", Up: true, Replication: []snapshot.Channel{{SourceNode: "eu-1", IORunning: "Yes", SQLRunning: true}}}, "unknown"},
		{"not replicating", snapshot.Node{Name: "us-1", Up: true}, "does not replicate"},
	} {
		got := moveRefusal(fts, snap(tt.us), p, "us", 5*time.Second)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestLeases: one ledger for the estate outside active-active, one per
// region in it; a revocation ends once every router that held a lease was
// refused twice, or its lease ran out.
func TestLeases(t *testing.T) {
	ap := example(t, "active-passive")
	now := time.Now()
	l := newLeases(ap, 3*time.Second, topology.Primaries{}, now)
	for _, region := range []string{"eu", "us"} {
		g, err := l.renew(region, region+"-rw", now)
		if err != nil || g.Primary != "eu-1" {
			t.Fatalf("renew from %s: %+v %v, want eu-1's lease", region, g, err)
		}
	}
	if _, err := l.renew("mars", "x", now); err == nil {
		t.Error("a lease granted to an unknown region")
	}
	done := make(chan error, 1)
	go func() { done <- l.revoke(context.Background(), "eu") }()
	waitRevoked := func() {
		for {
			if _, granting, _ := l.ledgers[""].State(); !granting {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitRevoked()
	for range 2 {
		for _, region := range []string{"eu", "us"} {
			if _, err := l.renew(region, region+"-rw", time.Now()); err == nil {
				t.Fatal("lease granted while revoked")
			}
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("revoke still waiting after every router was refused twice")
	}
	moved := topology.Primaries{Region: "us", Nodes: map[string]string{"us-dr": "us-1"}}
	l.grant(moved, time.Now())
	if g, err := l.renew("eu", "eu-rw", time.Now()); err != nil || g.Primary != "us-1" || g.Epoch != 2 {
		t.Errorf("after the failover: %+v %v, want us-1's lease in epoch 2", g, err)
	}
	if states := l.states(time.Now()); len(states) != 1 || states[0].Region != "us" || !states[0].Granting {
		t.Errorf("states %+v, want one granting ledger for us", states)
	}

	aa := example(t, "active-active")
	la := newLeases(aa, 3*time.Second, topology.Primaries{}, now)
	if len(la.ledgers) != len(aa.Regions) {
		t.Fatalf("%d ledgers for %d active-active regions", len(la.ledgers), len(aa.Regions))
	}
	first, second := aa.Regions[0].Name, aa.Regions[1].Name
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := la.revoke(ctx, first); err != nil {
		t.Fatal(err) // nobody held a lease: nothing to wait for
	}
	if _, err := la.renew(first, "rw", now); err == nil {
		t.Errorf("%s's lease granted while revoked", first)
	}
	if g, err := la.renew(second, "rw", now); err != nil || aa.NodeRegion(g.Primary) != second {
		t.Errorf("%s's lease: %+v %v, want its own primary's, unaffected", second, g, err)
	}
}

func TestReturning(t *testing.T) {
	s := snapshot.Snapshot{Nodes: []snapshot.Node{{Name: "eu-1", Up: true}, {Name: "eu-2"}}}
	if got := returning(s, []string{"eu-1", "eu-2", "gone"}); len(got) != 1 || got[0] != "eu-1" {
		t.Errorf("returning %v, want [eu-1]", got)
	}
}
