package failover

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

func TestDetectorConfirmsAfterExactlyNIntervals(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		topo := example(t, "active-passive.yaml")
		d := NewDetector(topo, DetectorConfig{Confirmations: n})
		e := healthy(topo, topology.Primaries{}).
			with("eu-1", down).
			with("eu-2", io("eu-1", "Connecting")).
			with("us-1", io("eu-1", "Connecting"))
		for round := 1; round <= n+2; round++ {
			f := finding(t, d.Observe(e.snap(), topology.Primaries{}), "eu-main")
			if f.Kind != PrimaryDead || f.FailedIntervals != round || f.Confirmed != (round >= n) || !f.Since.Equal(t0) {
				t.Fatalf("confirmations %d, round %d: kind %s, failed %d, confirmed %v, since %s", n, round, f.Kind, f.FailedIntervals, f.Confirmed, f.Since)
			}
			e.tick()
		}
	}
}

func TestDetectorResetsOnRecovery(t *testing.T) {
	topo := example(t, "active-passive.yaml")
	d := NewDetector(topo, DetectorConfig{})
	dead := func(e *estate) *estate {
		return e.with("eu-1", down).with("eu-2", io("eu-1", "Connecting")).with("us-1", io("eu-1", "Connecting"))
	}
	observe := func(e *estate) Finding { return finding(t, d.Observe(e.snap(), topology.Primaries{}), "eu-main") }

	e := dead(healthy(topo, topology.Primaries{}))
	observe(e)
	observe(e.tick())
	if f := observe(e); f.FailedIntervals != 2 {
		t.Fatalf("the same snapshot observed twice counted again: %d failed intervals, want 2", f.FailedIntervals)
	}
	back := healthy(topo, topology.Primaries{})
	back.at = e.tick().at
	if f := observe(back); f.Kind != Healthy || f.FailedIntervals != 0 || f.Confirmed {
		t.Fatalf("after recovery: %+v", f)
	}
	again := dead(healthy(topo, topology.Primaries{}))
	again.at = back.tick().at
	if f := observe(again); f.Kind != PrimaryDead || f.FailedIntervals != 1 || f.Confirmed || !f.Since.Equal(again.at) {
		t.Fatalf("failing again after a recovery starts from 1: %+v", f)
	}
}

// A primary that answers while its probe reconnects (a link just healed,
// its streams closed and dialled again across 300 ms) is no loss: rounds
// of it never count towards confirmation, and they break a run of lost
// ones.
func TestAnsweringPrimaryIsNotLost(t *testing.T) {
	topo := example(t, "active-passive.yaml")
	d := NewDetector(topo, DetectorConfig{})
	answering := func(n *snapshot.Node) {
		down(n)
		n.Answering, n.Error = true, "node eu-1: probe timed out after 1.1s: context deadline exceeded"
	}
	lostPrimary := func(e *estate) *estate {
		return e.with("eu-1", down).with("eu-2", io("eu-1", "Connecting")).with("us-1", io("eu-1", "Connecting"))
	}
	observe := func(e *estate) Finding { return finding(t, d.Observe(e.snap(), topology.Primaries{}), "eu-main") }
	e := lostPrimary(healthy(topo, topology.Primaries{}))
	observe(e)
	observe(e.tick())
	reconnecting := healthy(topo, topology.Primaries{}).with("eu-1", answering).with("us-1", io("eu-1", "Connecting"))
	reconnecting.at = e.tick().at
	for range 5 {
		if f := observe(reconnecting); f.Kind != Healthy || f.FailedIntervals != 0 || f.Confirmed {
			t.Fatalf("primary answering: %+v", f)
		}
		reconnecting.tick()
	}
	again := lostPrimary(healthy(topo, topology.Primaries{}))
	again.at = reconnecting.at
	if f := observe(again); f.FailedIntervals != 1 || f.Confirmed {
		t.Fatalf("lost again after answering: %+v, want a new run from 1", f)
	}
}

// An unreachable primary whose replicas still receive is never confirmed
// dead, however long the controller cannot reach it (orchestrator's rule;
// GitHub's 2018 cross-coast partition).
func TestUnreachablePrimaryWhoseReplicasReceiveIsNeverDead(t *testing.T) {
	topo := example(t, "active-passive.yaml")
	d := NewDetector(topo, DetectorConfig{})
	e := healthy(topo, topology.Primaries{}).
		with("eu-1", down).
		with("eu-2", io("eu-1", "Connecting")).
		with("us-1", lag("eu-1", 0.3))
	for round := 1; round <= 20; round++ {
		f := finding(t, d.Observe(e.snap(), topology.Primaries{}), "eu-main")
		if f.Kind != PrimaryUnreachable || f.Confirmed || f.FailedIntervals != round {
			t.Fatalf("round %d: %+v", round, f)
		}
		if got := verdicts(f.Witnesses); got != "eu-2=gone us-1=alive" {
			t.Fatalf("witnesses: %s", got)
		}
		e.tick()
	}
}

func TestClassify(t *testing.T) {
	ap := example(t, "active-passive.yaml")
	ap2 := activePassiveWithReplicatedDR(t)
	apg := activePassiveGalera(t)
	ecommerce := example(t, "ecommerce.yaml")
	promoted := topology.Primaries{Nodes: map[string]string{"eu-main": "eu-2"}}
	cases := []struct {
		name      string
		estate    *estate
		p         topology.Primaries
		cluster   string
		kind      Kind
		witnesses string   // "node=verdict ..."
		says      []string // substrings of the witnesses' words, in order
		reasons   []string // substrings of the reasons
		takeover  *Takeover
		lost      []string
	}{{
		name:    "healthy",
		estate:  healthy(ap, topology.Primaries{}),
		cluster: "eu-main",
		kind:    Healthy,
	}, {
		name: "killed primary: its replicas' IO threads drop",
		estate: healthy(ap, topology.Primaries{}).with("eu-1", down).
			with("eu-2", io("eu-1", "Connecting")).with("us-1", io("eu-1", "No")),
		cluster:   "eu-main",
		kind:      PrimaryDead,
		witnesses: "eu-2=gone us-1=gone",
		says:      []string{"IO thread Connecting (error 2003: error reconnecting to master)", "IO thread No"},
		reasons:   []string{"eu-1 is unreachable from the controller: dial tcp: connection refused", "gone by eu-2, us-1"},
	}, {
		name: "black-holed region: the DR replica's IO thread still says Yes, its heartbeat is stale",
		estate: healthy(ap, topology.Primaries{}).with("eu-1", down).with("eu-2", down).
			with("us-1", lag("eu-1", 5)),
		cluster:   "eu-main",
		kind:      RegionLost,
		witnesses: "eu-2=none us-1=gone",
		says:      []string{"down: no witness", "IO thread Yes but heartbeat 5s old (stale after 3.08s)"},
		reasons:   []string{"every node of region eu is unreachable"},
	}, {
		name: "region cut off from the controller only: the DR replica still receives",
		estate: healthy(ap, topology.Primaries{}).with("eu-1", down).with("eu-2", down).
			with("us-1", lag("eu-1", 0.4)),
		cluster:   "eu-main",
		kind:      PrimaryUnreachable,
		witnesses: "eu-2=none us-1=alive",
		says:      []string{"down: no witness", "IO thread Yes, heartbeat 400ms old"},
		reasons:   []string{"alive by us-1: no recovery"},
	}, {
		name: "the staleness bound includes the witness's round trip to the primary",
		estate: healthy(ap, topology.Primaries{}).with("eu-1", down).
			with("eu-2", io("eu-1", "Connecting")).with("us-1", lag("eu-1", 3.05)),
		cluster:   "eu-main",
		kind:      PrimaryUnreachable,
		witnesses: "eu-2=gone us-1=alive",
	}, {
		name: "a heartbeat never received says gone",
		estate: healthy(ap, topology.Primaries{}).with("eu-1", down).
			with("eu-2", lag("eu-1", -1)).with("us-1", io("eu-1", "Connecting")),
		cluster:   "eu-main",
		kind:      PrimaryDead,
		witnesses: "eu-2=gone us-1=gone",
		says:      []string{"IO thread Yes but no heartbeat received"},
	}, {
		name: "IO thread Yes with the SQL thread stopped is taken as alive",
		estate: healthy(ap, topology.Primaries{}).with("eu-1", down).
			with("eu-2", sqlStopped("eu-1"), lag("eu-1", 30)).with("us-1", io("eu-1", "Connecting")),
		cluster:   "eu-main",
		kind:      PrimaryUnreachable,
		witnesses: "eu-2=alive us-1=gone",
		says:      []string{"IO thread Yes; SQL thread stopped, so no heartbeat to judge by"},
	}, {
		name: "one witness still receiving outweighs the others",
		estate: healthy(ap, topology.Primaries{}).with("eu-1", down).
			with("eu-2", io("eu-1", "Connecting")).with("us-1", lag("eu-1", 0.2)),
		cluster:   "eu-main",
		kind:      PrimaryUnreachable,
		witnesses: "eu-2=gone us-1=alive",
	}, {
		name:      "no witness up: the controller's view alone",
		estate:    healthy(ap, topology.Primaries{}).with("eu-1", down).with("eu-2", down).with("us-1", down),
		cluster:   "eu-main",
		kind:      RegionLost,
		witnesses: "eu-2=none us-1=none",
		reasons:   []string{"no witness of eu-1 can tell: the controller's view alone", "every node of region eu is unreachable"},
	}, {
		name:    "nobody replicates from the lost DR region",
		estate:  healthy(ap, topology.Primaries{}).with("us-1", down),
		cluster: "us-dr",
		kind:    RegionLost,
		reasons: []string{"no node replicates from us-1: the controller's view alone"},
	}, {
		name: "a replica that lost its channel is no witness",
		estate: healthy(ap, topology.Primaries{}).with("eu-1", down).
			with("eu-2", noChannel("eu-1")).with("us-1", io("eu-1", "Connecting")),
		cluster:   "eu-main",
		kind:      PrimaryDead,
		witnesses: "eu-2=none us-1=gone",
		says:      []string{"no replication channel from eu-1"},
	}, {
		name:    "under run-time primaries the old primary is a replica",
		estate:  healthy(ap, promoted).with("eu-1", down),
		p:       promoted,
		cluster: "eu-main",
		kind:    Healthy,
	}, {
		name: "a promoted primary is judged by its own replicas",
		estate: healthy(ap, promoted).with("eu-2", down).
			with("eu-1", io("eu-2", "Connecting")).with("us-1", io("eu-2", "Connecting")),
		p:         promoted,
		cluster:   "eu-main",
		kind:      PrimaryDead,
		witnesses: "eu-1=gone us-1=gone",
	}, {
		name: "a read-only region writes no heartbeat: IO Yes is taken at its word",
		estate: healthy(ap2, topology.Primaries{}).with("us-1", down).
			with("us-2", lag("us-1", 60)),
		cluster:   "us-dr",
		kind:      PrimaryUnreachable,
		witnesses: "us-2=alive",
		says:      []string{"IO thread Yes; region us writes no heartbeat to judge by"},
	}, {
		name:    "galera: a member without links lost",
		estate:  healthy(apg, topology.Primaries{}).with("eu-3", down).with("eu-1", galeraState("Synced", 2, "Primary")).with("eu-2", galeraState("Synced", 2, "Primary")),
		cluster: "eu-galera",
		kind:    GaleraNodeLost,
		lost:    []string{"eu-3"},
		reasons: []string{"eu-3 is unreachable from the controller", "the async links stay on eu-1"},
	}, {
		name: "galera: the link node lost, a Synced member holding everything takes the links",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down, binlog("1-1-10")).
			with("eu-2", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("eu-3", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("us-1", io("eu-1", "Connecting"), slavePos("1-1-10")),
		cluster:   "eu-galera",
		kind:      GaleraNodeLost,
		lost:      []string{"eu-1"},
		witnesses: "eu-2=gone eu-3=gone us-1=gone",
		says:      []string{"cluster size 2: eu-1 is no longer a member"},
		takeover: &Takeover{From: "eu-1", To: "eu-2", Safe: true,
			Reason:       "eu-2 is Synced and holds everything eu-1 last logged and its replicas received (1-1-10)",
			NewPrimaries: topology.Primaries{Nodes: map[string]string{"eu-galera": "eu-2"}}},
	}, {
		name: "galera: the link node unreachable but its fellow members still count it",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down, binlog("1-1-10")).
			with("us-1", io("eu-1", "Connecting")),
		cluster:   "eu-galera",
		kind:      PrimaryUnreachable,
		lost:      []string{"eu-1"},
		witnesses: "eu-2=alive eu-3=alive us-1=gone",
		says:      []string{"cluster size 3 with 2 members reachable: eu-1 may still be a member"},
	}, {
		name: "galera: a member that is not Synced does not take the links",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down, binlog("1-1-10")).
			with("eu-2", galeraState("Donor/Desynced", 2, "Primary"), binlog("1-1-10")).
			with("eu-3", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("us-1", io("eu-1", "Connecting"), slavePos("1-1-10")),
		cluster: "eu-galera",
		kind:    GaleraNodeLost,
		lost:    []string{"eu-1"},
		takeover: &Takeover{From: "eu-1", To: "eu-3", Safe: true,
			Reason:       "eu-3 is Synced and holds everything eu-1 last logged and its replicas received (1-1-10)",
			NewPrimaries: topology.Primaries{Nodes: map[string]string{"eu-galera": "eu-3"}}},
	}, {
		name: "galera: a member lacking what the lost node's replica received is refused",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down, binlog("1-1-10")).
			with("eu-2", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("eu-3", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("us-1", io("eu-1", "Connecting"), slavePos("1-1-12")),
		cluster: "eu-galera",
		kind:    GaleraNodeLost,
		lost:    []string{"eu-1"},
		takeover: &Takeover{From: "eu-1", To: "eu-2",
			Reason:       "eu-2 lacks what eu-1 or its replicas may hold: 1-11..12",
			NewPrimaries: topology.Primaries{Nodes: map[string]string{"eu-galera": "eu-2"}}},
	}, {
		name: "galera: the lost node's last position unknown",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down).
			with("eu-2", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("eu-3", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("us-1", io("eu-1", "Connecting")),
		cluster: "eu-galera",
		kind:    GaleraNodeLost,
		lost:    []string{"eu-1"},
		takeover: &Takeover{From: "eu-1", To: "eu-2",
			Reason:       "the last position of eu-1 is unknown: nothing proves another member holds what it sent",
			NewPrimaries: topology.Primaries{Nodes: map[string]string{"eu-galera": "eu-2"}}},
	}, {
		name: "galera: no other member Synced",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down, binlog("1-1-10")).
			with("eu-2", galeraState("Joining", 2, "Primary")).with("eu-3", galeraState("Donor/Desynced", 2, "Primary")).
			with("us-1", io("eu-1", "Connecting")),
		cluster:  "eu-galera",
		kind:     GaleraNodeLost,
		lost:     []string{"eu-1"},
		takeover: &Takeover{From: "eu-1", Reason: "no other member of eu-galera is up and Synced"},
	}, {
		name: "galera: the link node split into a non-Primary component",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", galeraState("Synced", 1, "non-Primary"), binlog("1-1-10")).
			with("eu-2", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("eu-3", galeraState("Synced", 2, "Primary"), binlog("1-1-10")).
			with("us-1", lag("eu-1", 4), slavePos("1-1-10")),
		cluster:   "eu-galera",
		kind:      GaleraNodeLost,
		lost:      []string{"eu-1"},
		witnesses: "eu-2=gone eu-3=gone us-1=gone",
		reasons:   []string{"eu-1 is in a non-Primary component"},
		takeover: &Takeover{From: "eu-1", To: "eu-2", Safe: true,
			Reason:       "eu-2 is Synced and holds everything eu-1 last logged and its replicas received (1-1-10)",
			NewPrimaries: topology.Primaries{Nodes: map[string]string{"eu-galera": "eu-2"}}},
	}, {
		name: "galera: the whole cluster down is a lost region",
		estate: healthy(apg, topology.Primaries{}).with("eu-1", down).with("eu-2", down).with("eu-3", down).
			with("us-1", lag("eu-1", 9)),
		cluster:   "eu-galera",
		kind:      RegionLost,
		witnesses: "us-1=gone",
	}, {
		name: "galera with inbound links: equal GTIDs do not prove equal transactions",
		estate: healthy(ecommerce, topology.Primaries{}).with("eu-1", down, binlog("1-1-10,2-2-4,3-3-7")).
			with("eu-2", galeraState("Synced", 2, "Primary"), binlog("1-1-10,2-2-4,3-3-7")).
			with("eu-3", galeraState("Synced", 2, "Primary"), binlog("1-1-10,2-2-4,3-3-7")).
			with("us-1", io("eu-1", "Connecting")).with("apac-1", io("eu-1", "Connecting")),
		cluster:   "eu-galera",
		kind:      GaleraNodeLost,
		lost:      []string{"eu-1"},
		witnesses: "eu-2=gone eu-3=gone us-1=gone apac-1=gone",
		takeover: &Takeover{From: "eu-1", To: "eu-2",
			Reason: "eu-galera applies async links from us-1, apac-1: its members may number the same local transaction differently, " +
				"so equal GTIDs in domain 1 do not prove equal transactions; move the links by hand once the replicas' positions are checked",
			NewPrimaries: topology.Primaries{Nodes: map[string]string{"eu-galera": "eu-2"}}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDetector(c.estate.topo, DetectorConfig{Confirmations: 1})
			f := finding(t, d.Observe(c.estate.snap(), c.p), c.cluster)
			if f.Kind != c.kind {
				t.Fatalf("kind %s, want %s; reasons %q; witnesses %+v", f.Kind, c.kind, f.Reasons, f.Witnesses)
			}
			if want := c.kind.failed(); f.Confirmed != want {
				t.Errorf("confirmed %v, want %v", f.Confirmed, want)
			}
			if c.witnesses != "" {
				if got := verdicts(f.Witnesses); got != c.witnesses {
					t.Errorf("witnesses %q, want %q", got, c.witnesses)
				}
			}
			var says []string
			for _, w := range f.Witnesses {
				says = append(says, w.Says)
			}
			checkContainsInOrder(t, "witnesses say", says, c.says)
			checkContainsInOrder(t, "reasons", f.Reasons, c.reasons)
			if !reflect.DeepEqual(f.Takeover, c.takeover) {
				t.Errorf("takeover:\n got %+v\nwant %+v", f.Takeover, c.takeover)
			}
			if !slices.Equal(f.Lost, c.lost) {
				t.Errorf("lost %v, want %v", f.Lost, c.lost)
			}
		})
	}
}

// checkContainsInOrder checks that each wanted substring appears in got, in order.
func checkContainsInOrder(t *testing.T, what string, got, want []string) {
	t.Helper()
	i := 0
	for _, w := range want {
		for i < len(got) && !strings.Contains(got[i], w) {
			i++
		}
		if i == len(got) {
			t.Errorf("%s %q: no %q (in order)", what, got, w)
			return
		}
		i++
	}
}

func TestEveryClusterHasAFinding(t *testing.T) {
	topo := example(t, "ecommerce.yaml")
	fs := NewDetector(topo, DetectorConfig{}).Observe(healthy(topo, topology.Primaries{}).snap(), topology.Primaries{})
	var got []string
	for _, f := range fs {
		got = append(got, f.Cluster+"="+string(f.Kind)+"/"+f.Primary)
	}
	want := []string{"eu-galera=healthy/eu-1", "us-galera=healthy/us-1", "apac-galera=healthy/apac-1"}
	if !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
}

// With several Galera members lost, the finding counts the most recent loss.
func TestGaleraLossesCountTheLatest(t *testing.T) {
	topo := activePassiveGalera(t)
	d := NewDetector(topo, DetectorConfig{})
	e := healthy(topo, topology.Primaries{}).with("eu-3", down).
		with("eu-1", galeraState("Synced", 2, "Primary")).with("eu-2", galeraState("Synced", 2, "Primary"))
	d.Observe(e.snap(), topology.Primaries{})
	d.Observe(e.tick().snap(), topology.Primaries{})
	e.tick().with("eu-2", down).with("eu-1", galeraState("Synced", 1, "Primary"))
	f := finding(t, d.Observe(e.snap(), topology.Primaries{}), "eu-galera")
	if f.Kind != GaleraNodeLost || !slices.Equal(f.Lost, []string{"eu-2", "eu-3"}) || f.FailedIntervals != 1 || !f.Since.Equal(e.at) {
		t.Errorf("%+v", f)
	}
}

// The controller writes Meridian's heartbeats, so when only the
// controller's path to the primary is cut they go stale on every replica
// although the primary lives on. The replica's own stream then decides:
// the source's replication heartbeats (MASTER_HEARTBEAT_PERIOD) or new
// GTIDs still arriving say alive; nothing arriving for a round says gone.
func TestWitnessStreamOutweighsAStaleHeartbeat(t *testing.T) {
	topo := example(t, "active-passive.yaml")
	d := NewDetector(topo, DetectorConfig{})
	received := func(heartbeats uint64, ioPos string) edit {
		return func(n *snapshot.Node) {
			ch := channel(n, "eu-1")
			ch.ReceivedHeartbeats, ch.GTIDIOPos = heartbeats, ioPos
		}
	}
	cut := func(heartbeats uint64, ioPos string) *estate {
		return healthy(topo, topology.Primaries{}).with("eu-1", down).with("eu-2", down).
			with("us-1", lag("eu-1", 5), received(heartbeats, ioPos))
	}
	at := healthy(topo, topology.Primaries{}).at
	for i, c := range []struct {
		heartbeats uint64
		ioPos      string
		kind       Kind
		says       string
	}{
		{10, "1-101-5", RegionLost, "IO thread Yes but heartbeat 5s old (stale after 3.08s)"}, // no earlier round to compare with
		{11, "1-101-5", PrimaryUnreachable, "IO thread Yes but heartbeat 5s old (stale after 3.08s); yet 1 replication heartbeats arrived from eu-1 since the last round"},
		{11, "1-101-6", PrimaryUnreachable, "IO thread Yes but heartbeat 5s old (stale after 3.08s); yet new transactions arrived from eu-1 since the last round (1-101-6)"},
		{11, "1-101-6", RegionLost, "IO thread Yes but heartbeat 5s old (stale after 3.08s); nothing else arrived since the last round either"},
	} {
		e := cut(c.heartbeats, c.ioPos)
		e.at = at.Add(time.Duration(i) * time.Second)
		f := finding(t, d.Observe(e.snap(), topology.Primaries{}), "eu-main")
		if f.Kind != c.kind || len(f.Witnesses) != 2 || f.Witnesses[1].Says != c.says {
			t.Errorf("round %d: kind %s, witnesses %+v; want %s saying %q", i+1, f.Kind, f.Witnesses, c.kind, c.says)
		}
	}
}
