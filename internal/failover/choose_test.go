package failover

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/topology"
)

func mustPosition(t *testing.T, s string) gtid.Position {
	t.Helper()
	p, err := gtid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestChoose(t *testing.T) {
	ap := example(t, "active-passive.yaml")
	ap2 := activePassiveWithReplicatedDR(t)
	apg := activePassiveGalera(t)
	ecommerce := example(t, "ecommerce.yaml")
	sun := example(t, "follow-the-sun.yaml")
	hub := example(t, "hub-and-spoke.yaml")

	// euDead is active-passive with eu-1 killed at 1-101-10: eu-2 and us-1
	// both see their IO thread drop.
	euDead := func(eu2, us1 string, edits ...edit) *estate {
		return healthy(ap, topology.Primaries{}).
			with("eu-1", down, binlog("1-101-10")).
			with("eu-2", io("eu-1", "Connecting"), positions(eu2)).
			with("us-1", append([]edit{io("eu-1", "Connecting"), positions(us1)}, edits...)...)
	}
	toEU2 := topology.Primaries{Nodes: map[string]string{"eu-main": "eu-2"}}
	toUS1 := topology.Primaries{Region: "us", Nodes: map[string]string{"us-dr": "us-1"}}
	const noCandidate = "no candidate: every node that could replace eu-1 was refused"

	cases := []struct {
		name          string
		estate        *estate
		p             topology.Primaries
		cluster       string
		policy        Policy
		relays        map[string]node.ReplicaStatus
		confirmations int // 0: 1
		want          Decision
		reasons       []string // substrings of want's reasons, in order
	}{{
		name:    "the failed primary's region first among equals",
		estate:  euDead("1-101-10", "1-101-10"),
		cluster: "eu-main",
		want: Decision{Action: Promote, Candidate: "eu-2", Region: "eu",
			Refusals:     []Refusal{{"us-1", "as advanced as eu-2, which comes first in the region order"}},
			NewPrimaries: toEU2, Affects: []string{"eu-main"}},
		reasons: []string{"eu-2 replicated from eu-1 and received 1-101-10: in every domain, as much as any other candidate", "in the failed primary's region eu"},
	}, {
		name:    "the most advanced wins over region: DR ahead of a lagging local replica",
		estate:  euDead("1-101-8", "1-101-10"),
		cluster: "eu-main",
		want: Decision{Action: Promote, Candidate: "us-1", Region: "us",
			Refusals:     []Refusal{{"eu-2", "lags behind us-1 in domain 1 (seq 8 < 10)"}},
			NewPrimaries: toUS1, Affects: []string{"eu-main", "us-dr"}},
		reasons: []string{"in region us (region order: eu, us)"},
	}, {
		name:    "several domains: ahead in one, equal in the other",
		estate:  euDead("1-101-10,2-201-5", "1-101-10,2-201-7", binlog("1-101-10,2-201-7")),
		cluster: "eu-main",
		want: Decision{Action: Promote, Candidate: "us-1", Region: "us",
			Refusals:     []Refusal{{"eu-2", "lags behind us-1 in domain 2 (seq 5 < 7)"}},
			NewPrimaries: toUS1, Affects: []string{"eu-main", "us-dr"}},
	}, {
		// Summing sequence numbers (replication-manager) would pick eu-2:
		// 100+1 > 10+7. Neither holds what the other has.
		name:    "several domains: no candidate holds everything the others received",
		estate:  euDead("1-101-100,2-201-1", "1-101-10,2-201-7"),
		cluster: "eu-main",
		want: Decision{Action: Refuse, Refusals: []Refusal{
			{"eu-2", "lags behind us-1 in domain 2 (seq 1 < 7)"},
			{"us-1", "lags behind eu-2 in domain 1 (seq 10 < 100)"},
		}},
		reasons: []string{"no candidate holds everything the others received"},
	}, {
		name:    "received but not applied: still the best, after its relay log",
		estate:  euDead("1-101-8", "1-101-9"),
		cluster: "eu-main",
		relays: map[string]node.ReplicaStatus{
			"eu-2": {UsingGTID: "Slave_Pos", GTIDIOPos: mustPosition(t, "1-101-10")},
			"us-1": {UsingGTID: "Slave_Pos", GTIDIOPos: mustPosition(t, "1-101-9")},
		},
		want: Decision{Action: Promote, Candidate: "eu-2", Region: "eu", WaitFor: "1-101-10",
			Refusals:     []Refusal{{"us-1", "lags behind eu-2 in domain 1 (seq 9 < 10)"}},
			NewPrimaries: toEU2, Affects: []string{"eu-main"}},
		reasons: []string{"wait for relay log: 1-9..10 received but not applied"},
	}, {
		name: "a replica whose IO thread still runs (black-holed region) is promoted",
		estate: healthy(ap, topology.Primaries{}).
			with("eu-1", down, binlog("1-101-12")).with("eu-2", down, positions("1-101-12")).
			with("us-1", lag("eu-1", 6), positions("1-101-10")),
		cluster: "eu-main",
		want: Decision{Kind: RegionLost, Action: Promote, Candidate: "us-1", Region: "us", AtRisk: []string{"1-11..12"},
			Refusals:     []Refusal{{"eu-2", ReasonDown}},
			NewPrimaries: toUS1, Affects: []string{"eu-main", "us-dr"}},
	}, {
		name:    "not replicating from the dead primary",
		estate:  euDead("1-101-10", "1-101-10", noChannel("eu-1")),
		cluster: "eu-main",
		want: Decision{Action: Promote, Candidate: "eu-2", Region: "eu",
			Refusals:     []Refusal{{"us-1", ReasonNotReplicating}},
			NewPrimaries: toEU2, Affects: []string{"eu-main"}},
	}, {
		name:    "not using GTID",
		estate:  euDead("1-101-9", "1-101-10"),
		cluster: "eu-main",
		relays:  map[string]node.ReplicaStatus{"us-1": {UsingGTID: "No"}},
		want: Decision{Action: Promote, Candidate: "eu-2", Region: "eu", AtRisk: []string{"1-10"},
			Refusals:     []Refusal{{"us-1", "not using GTID (Using_Gtid=No, want Slave_Pos)"}},
			Warnings:     []string{"us-1 (not using GTID (Using_Gtid=No, want Slave_Pos)) received 1-10 that eu-2 lacks: it cannot rejoin under it as it is"},
			NewPrimaries: toEU2, Affects: []string{"eu-main"}},
	}, {
		name:    "errant transactions",
		estate:  euDead("1-101-9", "1-101-10,2-201-4", errant("2-201-4")),
		cluster: "eu-main",
		want: Decision{Action: Promote, Candidate: "eu-2", Region: "eu", AtRisk: []string{"1-10"},
			Refusals:     []Refusal{{"us-1", "has errant transactions: 2-201-4"}},
			NewPrimaries: toEU2, Affects: []string{"eu-main"}},
	}, {
		name:    "excluded by policy, and warned about when it held more",
		estate:  euDead("1-101-10", "1-101-9"),
		cluster: "eu-main",
		policy:  Policy{NoPromotion: []string{"eu-2"}},
		want: Decision{Action: Promote, Candidate: "us-1", Region: "us", AtRisk: []string{"1-10"},
			Refusals:     []Refusal{{"eu-2", ReasonExcluded}},
			Warnings:     []string{"eu-2 (excluded by policy) received 1-10 that us-1 lacks: it cannot rejoin under it as it is"},
			NewPrimaries: toUS1, Affects: []string{"eu-main", "us-dr"}},
	}, {
		name:    "cross-region promotion prevented by policy",
		estate:  euDead("1-101-10", "1-101-10").with("eu-2", down),
		cluster: "eu-main",
		policy:  Policy{PreventCrossRegion: true},
		want: Decision{Kind: RegionLost, Action: Refuse, Refusals: []Refusal{
			{"eu-2", ReasonDown}, {"us-1", "in region us: cross-region promotion prevented by policy"},
		}},
		reasons: []string{noCandidate},
	}, {
		name:    "a region left out of the policy's order",
		estate:  euDead("1-101-10", "1-101-10").with("eu-2", down),
		cluster: "eu-main",
		policy:  Policy{RegionOrder: []string{"eu"}},
		want: Decision{Kind: RegionLost, Action: Refuse, Refusals: []Refusal{
			{"eu-2", ReasonDown}, {"us-1", "region us is not in the policy's region order"},
		}},
		reasons: []string{noCandidate},
	}, {
		name:    "replication stopped on an SQL error",
		estate:  euDead("1-101-10", "1-101-10", sqlError("eu-1", 1062, "Duplicate entry '5' for key 'PRIMARY'")),
		cluster: "eu-main",
		want: Decision{Action: Promote, Candidate: "eu-2", Region: "eu",
			Refusals:     []Refusal{{"us-1", "replication stopped on SQL error 1062: Duplicate entry '5' for key 'PRIMARY'"}},
			NewPrimaries: toEU2, Affects: []string{"eu-main"}},
	}, {
		name:    "an unreadable position",
		estate:  euDead("1-101-10", "1-101-10").with("us-1", binlog("1-101")),
		cluster: "eu-main",
		want: Decision{Action: Promote, Candidate: "eu-2", Region: "eu",
			Refusals:     []Refusal{{"us-1", `unreadable GTID position: gtid "1-101": want domain-server-seq`}},
			NewPrimaries: toEU2, Affects: []string{"eu-main"}},
	}, {
		name: "Galera member not Synced",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down).with("eu-2", down).with("eu-3", down).
			with("us-1", io("eu-1", "Connecting"), galeraState("Donor/Desynced", 3, "Primary")),
		cluster: "eu-galera",
		want: Decision{Kind: RegionLost, Action: Refuse, Refusals: []Refusal{
			{"eu-2", ReasonDown}, {"eu-3", ReasonDown}, {"us-1", "Galera member not Synced (Donor/Desynced)"},
			{"us-2", ReasonNotReplicating}, {"us-3", ReasonNotReplicating},
		}},
		reasons: []string{noCandidate},
	}, {
		name: "a Synced Galera member of the DR region is promoted",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down).with("eu-2", down).with("eu-3", down).
			with("us-1", io("eu-1", "Connecting")),
		cluster: "eu-galera",
		want: Decision{Kind: RegionLost, Action: Promote, Candidate: "us-1", Region: "us",
			Refusals: []Refusal{
				{"eu-2", ReasonDown}, {"eu-3", ReasonDown}, {"us-2", ReasonNotReplicating}, {"us-3", ReasonNotReplicating},
			},
			NewPrimaries: topology.Primaries{Region: "us", Nodes: map[string]string{"us-galera": "us-1"}},
			Affects:      []string{"eu-galera", "us-galera"}},
	}, {
		name: "active-active never promotes across regions",
		estate: healthy(ecommerce, topology.Primaries{}).with("eu-1", down).with("eu-2", down).with("eu-3", down).
			with("us-1", io("eu-1", "Connecting")).with("apac-1", io("eu-1", "Connecting")),
		cluster: "eu-galera",
		want: Decision{Kind: RegionLost, Action: Refuse, Refusals: []Refusal{
			{"eu-2", ReasonDown}, {"eu-3", ReasonDown},
			{"us-1", "in region us: active-active never promotes across regions"},
			{"us-2", ReasonNotReplicating}, {"us-3", ReasonNotReplicating},
			{"apac-1", "in region apac: active-active never promotes across regions"},
			{"apac-2", ReasonNotReplicating}, {"apac-3", ReasonNotReplicating},
		}},
		reasons: []string{noCandidate},
	}, {
		name:    "a replica promoted inside a read-only region stays there",
		estate:  healthy(ap2, topology.Primaries{}).with("us-1", down).with("us-2", io("us-1", "Connecting")),
		cluster: "us-dr",
		want: Decision{Action: Promote, Candidate: "us-2", Region: "us",
			Refusals:     []Refusal{{"eu-1", ReasonNotReplicating}, {"eu-2", ReasonNotReplicating}},
			NewPrimaries: topology.Primaries{Nodes: map[string]string{"us-dr": "us-2"}}, Affects: []string{"us-dr"}},
	}, {
		name: "follow-the-sun: the schedule's next region before file order",
		estate: healthy(sun, topology.Primaries{}).with("eu-1", down).
			with("apac-1", io("eu-1", "Connecting")).with("us-1", io("eu-1", "Connecting")),
		cluster: "eu-main",
		want: Decision{Kind: RegionLost, Action: Promote, Candidate: "us-1", Region: "us",
			Refusals:     []Refusal{{"apac-1", "as advanced as us-1, which comes first in the region order"}},
			NewPrimaries: topology.Primaries{Region: "us", Nodes: map[string]string{"us-main": "us-1"}},
			Affects:      []string{"eu-main", "us-main"}},
		reasons: []string{"in region us (region order: eu, us, apac)"},
	}, {
		name: "hub-and-spoke: a new hub in file order among equals",
		estate: healthy(hub, topology.Primaries{}).with("us-1", down).
			with("eu-1", io("us-1", "Connecting")).with("apac-1", io("us-1", "Connecting")),
		cluster: "us-hub",
		want: Decision{Kind: RegionLost, Action: Promote, Candidate: "eu-1", Region: "eu",
			Refusals:     []Refusal{{"apac-1", "as advanced as eu-1, which comes first in the region order"}},
			NewPrimaries: topology.Primaries{Region: "eu", Nodes: map[string]string{"eu-spoke": "eu-1"}},
			Affects:      []string{"us-hub", "eu-spoke"}},
	}, {
		name:          "not confirmed yet",
		estate:        euDead("1-101-10", "1-101-10"),
		cluster:       "eu-main",
		confirmations: 3,
		want:          Decision{Action: Refuse},
		reasons:       []string{"primary-dead not confirmed yet (1 failed intervals)"},
	}, {
		name:    "unreachable but alive: nothing to recover",
		estate:  euDead("1-101-10", "1-101-10").with("us-1", io("eu-1", "Yes"), lag("eu-1", 0.2)),
		cluster: "eu-main",
		want:    Decision{Kind: PrimaryUnreachable, Action: Refuse},
		reasons: []string{"primary-unreachable: nothing to recover"},
	}, {
		name: "galera: a safe takeover moves the links",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down, binlog("1-1-10")).
			with("eu-2", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("eu-3", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("us-1", io("eu-1", "Connecting"), slavePos("1-1-10")),
		cluster: "eu-galera",
		want: Decision{Kind: GaleraNodeLost, Action: MoveLinks, Candidate: "eu-2", Region: "eu",
			NewPrimaries: topology.Primaries{Nodes: map[string]string{"eu-galera": "eu-2"}}, Affects: []string{"eu-galera"}},
		reasons: []string{"eu-2 is Synced and holds everything eu-1 last logged"},
	}, {
		name: "galera: an unsafe takeover is refused with its reason",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down, binlog("1-1-10")).
			with("eu-2", galeraState("Synced", 2, "Primary"), binlog("1-1-9")).
			with("eu-3", galeraState("Synced", 2, "Primary"), binlog("1-1-9")).
			with("us-1", io("eu-1", "Connecting"), slavePos("1-1-10")),
		cluster: "eu-galera",
		want: Decision{Kind: GaleraNodeLost, Action: Refuse, Candidate: "eu-2",
			Refusals: []Refusal{{"eu-2", "eu-2 lacks what eu-1 or its replicas may hold: 1-10"}}},
		reasons: []string{"eu-2 lacks what eu-1 or its replicas may hold: 1-10"},
	}, {
		name: "galera: a lost member without links leaves nothing to move",
		estate: healthy(apg, topology.Primaries{}).with("eu-3", down).
			with("eu-1", galeraState("Synced", 2, "Primary")).with("eu-2", galeraState("Synced", 2, "Primary")),
		cluster: "eu-galera",
		want:    Decision{Kind: GaleraNodeLost, Action: Refuse},
		reasons: []string{"the async links stay on eu-1: nothing to move"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			confirmations := c.confirmations
			if confirmations == 0 {
				confirmations = 1
			}
			s := c.estate.snap()
			f := finding(t, NewDetector(c.estate.topo, DetectorConfig{Confirmations: confirmations}).Observe(s, c.p), c.cluster)
			got := Choose(c.estate.topo, s, f, c.policy, c.relays)

			want := c.want
			if want.Kind == "" {
				want.Kind = PrimaryDead
			}
			want.Cluster, want.Failed = c.cluster, f.Primary
			if want.Action != Promote && want.Action != MoveLinks {
				want.NewPrimaries = f.Primaries
			}
			checkContainsInOrder(t, "reasons", got.Reasons, c.reasons)
			if len(got.Reasons) == 0 {
				t.Error("a decision without a reason")
			}
			got.Reasons, want.Reasons = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decision:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// Every node considered and not chosen carries a reason, and the dead
// primary is never among them.
func TestChooseAccountsForEveryNode(t *testing.T) {
	topo := activePassiveWithReplicatedDR(t)
	e := healthy(topo, topology.Primaries{}).with("eu-1", down).
		with("eu-2", io("eu-1", "Connecting")).with("us-1", io("eu-1", "Connecting"))
	s := e.snap()
	f := finding(t, NewDetector(topo, DetectorConfig{Confirmations: 1}).Observe(s, topology.Primaries{}), "eu-main")
	d := Choose(topo, s, f, Policy{}, nil)
	seen := []string{d.Candidate}
	for _, r := range d.Refusals {
		if r.Reason == "" {
			t.Errorf("%s refused without a reason", r.Node)
		}
		seen = append(seen, r.Node)
	}
	slices.Sort(seen)
	if want := []string{"eu-2", "us-1", "us-2"}; !slices.Equal(seen, want) {
		t.Errorf("accounted for %v, want %v", seen, want)
	}
}

func TestRegionOrder(t *testing.T) {
	sun := example(t, "follow-the-sun.yaml")
	ap := example(t, "active-passive.yaml")
	hub := example(t, "hub-and-spoke.yaml")
	at := func(hour int) time.Time { return time.Date(2025, 3, 14, hour, 0, 0, 0, time.UTC) }
	cases := []struct {
		topo   *topology.Topology
		dead   string
		now    time.Time
		policy Policy
		want   []string
	}{
		{ap, "eu", t0, Policy{}, []string{"eu", "us"}},
		{ap, "us", t0, Policy{}, []string{"us", "eu"}},
		{hub, "us", t0, Policy{}, []string{"us", "eu", "apac"}},
		{hub, "apac", t0, Policy{}, []string{"apac", "us", "eu"}},
		{sun, "apac", at(3), Policy{}, []string{"apac", "eu", "us"}},
		{sun, "eu", at(12), Policy{}, []string{"eu", "us", "apac"}},
		{sun, "us", at(20), Policy{}, []string{"us", "apac", "eu"}},
		{sun, "us", at(20), Policy{RegionOrder: []string{"eu", "us"}}, []string{"eu", "us"}},
	}
	for _, c := range cases {
		ch := chooser{topo: c.topo, s: healthy(c.topo, topology.Primaries{}).snap(), deadRegion: c.dead, policy: c.policy}
		ch.s.At = c.now
		if got := ch.regionOrder(); !slices.Equal(got, c.want) {
			t.Errorf("%s, %s dead at %s: order %v, want %v", c.topo.Name, c.dead, c.now.Format("15:04"), got, c.want)
		}
	}
}
