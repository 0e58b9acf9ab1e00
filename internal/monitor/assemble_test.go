package monitor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/examples"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

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

// mesh is an active-active estate of three single-server regions: every
// region replicates from the two others, each channel filtered to its
// source's domain.
func mesh() *topology.Topology {
	t := &topology.Topology{Name: "mesh", Architecture: topology.ActiveActive}
	for i, r := range []string{"eu", "us", "apac"} {
		t.Regions = append(t.Regions, topology.Region{Name: r, GTIDDomainID: uint32(i + 1)})
		t.Clusters = append(t.Clusters, topology.Cluster{Name: r + "-main", Kind: topology.Single, Region: r,
			Nodes: []topology.Node{{Name: r + "-1"}}})
	}
	return t
}

func pos(t *testing.T, s string) gtid.Position {
	t.Helper()
	p, err := gtid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// probed is a successful probe whose queries ran at offset from t0.
func probed(t *testing.T, offset time.Duration, binlog string, replicas ...node.ReplicaStatus) *observation {
	at := t0.Add(offset)
	return &observation{
		at: at, begun: at, queried: at, finished: at.Add(time.Millisecond),
		binlog: pos(t, binlog), slave: gtid.Position{}, current: pos(t, binlog),
		replicas: replicas, heartbeats: map[uint32]time.Duration{}, ping: 80 * time.Millisecond,
	}
}

func upState(o *observation, before ...*observation) probeState {
	s := probeState{last: o, good: o}
	if len(before) > 0 {
		s.before = before[0]
	}
	return s
}

func replicaOf(connection string, do ...uint32) node.ReplicaStatus {
	return node.ReplicaStatus{Connection: connection, IORunning: "Yes", SQLRunning: true, DoDomainIDs: do}
}

func noAddr(string, string) (string, int, error) { return "", 0, errors.New("no address") }

func TestRole(t *testing.T) {
	ap := example(t, "active-passive")
	ecommerce := example(t, "ecommerce")
	tests := []struct {
		topo *topology.Topology
		node string
		want string
	}{
		{ap, "eu-1", "primary"},
		{ap, "eu-2", "replica"},
		{ap, "us-1", "replica"},
		{ecommerce, ecommerce.LinkNode(ecommerce.Regions[0].Name), "galera"},
	}
	for _, tt := range tests {
		layout := tt.topo.Layout(t0)
		for _, ref := range tt.topo.Nodes() {
			if ref.Name == tt.node {
				if got := role(ref, layout); got != tt.want {
					t.Errorf("%s %s: role %q, want %q", tt.topo.Name, tt.node, got, tt.want)
				}
			}
		}
	}
}

func TestAttribute(t *testing.T) {
	ap := example(t, "active-passive")
	layout := ap.Layout(t0)
	byAddr := func(replica, source string) (string, int, error) {
		if source == "eu-1" {
			return "127.0.0.1", 4001, nil
		}
		return "127.0.0.1", 4000 + len(source), nil
	}
	tests := []struct {
		name        string
		replica     string
		status      node.ReplicaStatus
		addr        func(string, string) (string, int, error)
		region, src string
	}{
		{"the layout's channel", "us-1", node.ReplicaStatus{Connection: "eu"}, noAddr, "eu", "eu-1"},
		{"intra-region channel", "eu-2", node.ReplicaStatus{Connection: "eu"}, noAddr, "eu", "eu-1"},
		{"unknown name, known address", "us-1", node.ReplicaStatus{Connection: "old", SourceHost: "127.0.0.1", SourcePort: 4001}, byAddr, "eu", "eu-1"},
		{"region name, no layout channel, no address", "eu-1", node.ReplicaStatus{Connection: "us", SourceHost: "10.0.0.9", SourcePort: 3306}, byAddr, "us", ""},
		{"nothing known", "us-1", node.ReplicaStatus{Connection: "", SourceHost: "10.0.0.9", SourcePort: 3306}, byAddr, "", ""},
	}
	for _, tt := range tests {
		region, src := attribute(ap, layout, tt.replica, tt.status, tt.addr)
		if region != tt.region || src != tt.src {
			t.Errorf("%s: attributed to %q/%q, want %q/%q", tt.name, region, src, tt.region, tt.src)
		}
	}
}

func TestHeartbeatLag(t *testing.T) {
	ages := map[uint32]time.Duration{1: 41234 * time.Microsecond, 2: 3 * time.Second, 3: 120500 * time.Microsecond}
	tests := []struct {
		name    string
		ages    map[uint32]time.Duration
		source  uint32
		status  node.ReplicaStatus
		beating []uint32
		want    *float64
	}{
		{"source region writes heartbeats", ages, 1, replicaOf("eu"), []uint32{1}, ptr(0.041234)},
		{"no row for the source's domain yet", map[uint32]time.Duration{2: time.Second}, 1, replicaOf("eu"), []uint32{1}, nil},
		{"no table yet", map[uint32]time.Duration{}, 1, replicaOf("eu"), []uint32{1}, nil},
		{"read-only source region: the writable region upstream", ages, 2, replicaOf("us"), []uint32{1}, ptr(0.041234)},
		{"read-only source region: the oldest of several upstream", ages, 2, replicaOf("us"), []uint32{1, 3}, ptr(0.1205)},
		{"an old row of a region no longer writable is never lag", ages, 2, replicaOf("us"), nil, nil},
		{"filtered channel carries only its domain", ages, 2, replicaOf("us", 2), []uint32{1, 3}, nil},
		{"ignored domain", ages, 2, node.ReplicaStatus{Connection: "us", IgnoreDomainIDs: []uint32{1}}, []uint32{1, 3}, ptr(0.1205)},
	}
	for _, tt := range tests {
		beating := map[uint32]bool{}
		for _, d := range tt.beating {
			beating[d] = true
		}
		got := heartbeatLag(tt.ages, tt.source, tt.status, beating)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: lag %v, want %v", tt.name, show(got), show(tt.want))
		}
	}
}

func show(f *float64) string {
	if f == nil {
		return "nil"
	}
	return fmt.Sprint(*f)
}

func TestGTIDLag(t *testing.T) {
	tests := []struct {
		name                  string
		source, binlog, slave string
		status                node.ReplicaStatus
		want                  map[uint32]uint64
	}{
		{"several domains", "1-101-900,2-201-50,3-301-7", "1-101-880,2-201-50", "1-101-880,2-201-50",
			replicaOf("eu"), map[uint32]uint64{1: 20, 2: 0, 3: 7}},
		{"DO_DOMAIN_IDS: only its domains, listed even when the source has none", "1-101-900,2-201-50", "", "2-201-40",
			replicaOf("us", 2, 4), map[uint32]uint64{2: 10, 4: 0}},
		{"IGNORE_DOMAIN_IDS", "1-101-900,2-201-50", "", "",
			node.ReplicaStatus{IgnoreDomainIDs: []uint32{1}}, map[uint32]uint64{2: 50}},
		{"replica ahead is not behind", "1-101-5", "1-101-9", "1-101-9", replicaOf("eu"), map[uint32]uint64{1: 0}},
		{"what the replica wrote as an old primary counts (binlog, not slave pos)", "1-101-100,2-201-30", "1-101-100,2-201-30", "2-201-30",
			replicaOf("us"), map[uint32]uint64{1: 0, 2: 0}},
		{"empty source", "", "", "", replicaOf("eu"), map[uint32]uint64{}},
	}
	for _, tt := range tests {
		o := &observation{binlog: pos(t, tt.binlog), slave: pos(t, tt.slave)}
		if got := gtidLag(pos(t, tt.source), held(o), tt.status); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestErrant(t *testing.T) {
	ap := example(t, "active-passive")
	aa := mesh()
	second := time.Second
	tests := []struct {
		name     string
		topo     *topology.Topology
		probes   map[string]probeState
		previous map[string][]string
		node     string
		want     []string
	}{
		{
			name: "DR replica with its own write, read before its source",
			topo: ap, node: "us-1",
			probes: map[string]probeState{
				"eu-1": upState(probed(t, second, "1-101-50")),
				"us-1": upState(probed(t, second, "1-101-50,2-201-1", replicaOf("eu")), probed(t, 0, "1-101-49,2-201-1", replicaOf("eu"))),
			},
			want: []string{"2-201-1"},
		},
		{
			name: "a range in the source's own domain, server of the latest",
			topo: ap, node: "us-1",
			probes: map[string]probeState{
				"eu-1": upState(probed(t, second, "1-101-50")),
				"us-1": upState(probed(t, second, "1-201-53", replicaOf("eu")), probed(t, 0, "1-201-53", replicaOf("eu"))),
			},
			want: []string{"1-201-51..53"},
		},
		{
			name: "replica ahead of a source read first is no alarm: no earlier read, previous verdict kept",
			topo: ap, node: "eu-2",
			probes: map[string]probeState{
				"eu-1": upState(probed(t, 0, "1-101-50")),
				"eu-2": upState(probed(t, 0, "1-101-51", replicaOf("eu"))),
			},
			previous: map[string][]string{"eu-2": nil},
			want:     nil,
		},
		{
			name: "source down: previous verdict kept",
			topo: ap, node: "us-1",
			probes: map[string]probeState{
				"eu-1": {last: &observation{err: errors.New("refused")}, good: probed(t, 0, "1-101-50")},
				"us-1": upState(probed(t, second, "1-101-50", replicaOf("eu")), probed(t, 0, "1-101-50", replicaOf("eu"))),
			},
			previous: map[string][]string{"us-1": {"2-201-1"}},
			want:     []string{"2-201-1"},
		},
		{
			name: "source's probe overdue: previous verdict kept",
			topo: ap, node: "us-1",
			probes: map[string]probeState{
				"eu-1": {last: probed(t, 0, "1-101-50"), good: probed(t, 0, "1-101-50"), running: t0.Add(second)},
				"us-1": upState(probed(t, second, "1-101-50,2-201-3", replicaOf("eu")), probed(t, 0, "1-101-50,2-201-3", replicaOf("eu"))),
			},
			want: nil,
		},
		{
			name: "a primary without channels is not checked",
			topo: ap, node: "eu-1",
			probes: map[string]probeState{
				"eu-1": upState(probed(t, second, "1-101-50,2-101-4"), probed(t, 0, "1-101-50,2-101-4")),
			},
			previous: map[string][]string{"eu-1": {"stale"}},
			want:     nil,
		},
		{
			name: "active-active: the node's own domain is owned, the union of its sources covers the rest",
			topo: aa, node: "eu-1",
			probes: map[string]probeState{
				"us-1":   upState(probed(t, second, "2-201-40,3-301-9")),
				"apac-1": upState(probed(t, second, "3-301-12")),
				"eu-1":   upState(probed(t, second, "1-101-70,2-201-40,3-301-12", replicaOf("us", 2), replicaOf("apac", 3)), probed(t, 0, "1-101-70,2-201-40,3-301-12", replicaOf("us", 2), replicaOf("apac", 3))),
			},
			want: nil,
		},
		{
			name: "active-active: beyond every source in a domain not owned",
			topo: aa, node: "eu-1",
			probes: map[string]probeState{
				"us-1":   upState(probed(t, second, "2-201-40")),
				"apac-1": upState(probed(t, second, "3-301-12")),
				"eu-1":   upState(probed(t, second, "1-101-70,2-101-41,3-301-12", replicaOf("us", 2), replicaOf("apac", 3)), probed(t, 0, "1-101-70,2-101-41,3-301-12", replicaOf("us", 2), replicaOf("apac", 3))),
			},
			want: []string{"2-101-41"},
		},
		{
			name: "an unknown source: previous verdict kept",
			topo: ap, node: "us-1",
			probes: map[string]probeState{
				"eu-1": upState(probed(t, second, "1-101-50")),
				"us-1": upState(probed(t, second, "1-101-50,2-201-5", replicaOf("elsewhere")), probed(t, 0, "1-101-50,2-201-5", replicaOf("elsewhere"))),
			},
			previous: map[string][]string{"us-1": {"2-201-1..4"}},
			want:     []string{"2-201-1..4"},
		},
	}
	for _, tt := range tests {
		r := round{topo: tt.topo, at: t0, mono: t0.Add(2 * second), region: "eu", interval: second,
			probes: tt.probes, previousErrant: tt.previous, sourceAddr: noAddr}
		s := r.snapshot()
		n, _ := s.Node(tt.node)
		if !slices.Equal(n.Errant, tt.want) {
			t.Errorf("%s: errant %q, want %q", tt.name, n.Errant, tt.want)
		}
	}
}

func TestNodeStates(t *testing.T) {
	ap := example(t, "active-passive")
	mono := t0.Add(10 * time.Second)
	ok := probed(t, 0, "1-101-7")
	ok.readOnly = true
	failed := func(answered bool) *observation {
		return &observation{at: t0, begun: t0, finished: t0.Add(3 * time.Millisecond), err: errors.New("node us-1: connection refused"), answered: answered}
	}
	tests := []struct {
		name      string
		state     probeState
		up        bool
		answering bool
		err       string
		rtt       time.Duration
	}{
		{"up", upState(ok), true, false, "", time.Millisecond},
		{"never probed", probeState{}, false, false, "not probed yet", 0},
		{"first probe connecting, heard from", probeState{running: mono.Add(-2 * time.Second), runningAt: t0, connecting: true, answering: true},
			false, true, "first probe still running (connecting)", 2 * time.Second},
		{"failed: last known positions kept", probeState{last: failed(false), good: ok},
			false, false, "node us-1: connection refused", 3 * time.Millisecond},
		{"failed but heard from: answering", probeState{last: failed(true), good: ok},
			false, true, "node us-1: connection refused", 3 * time.Millisecond},
		{"failed, the next probe reconnecting and heard from: answering", probeState{last: failed(false), good: ok, running: mono.Add(-time.Second), runningAt: t0, connecting: true, answering: true},
			false, true, "node us-1: connection refused", 3 * time.Millisecond},
		{"failed, the next probe silent so far: lost", probeState{last: failed(false), good: ok, running: mono.Add(-time.Second), runningAt: t0},
			false, false, "node us-1: connection refused", 3 * time.Millisecond},
		{"a probe past the probe timeout but within its own deadline: still up", probeState{last: ok, good: ok, running: mono.Add(-900 * time.Millisecond), runningAt: t0},
			true, false, "", time.Millisecond},
		{"finished late, in the next round: up", probeState{last: ok, good: ok}, true, false, "", time.Millisecond},
	}
	for _, tt := range tests {
		r := round{topo: ap, at: t0, mono: mono, region: "eu", interval: time.Second,
			probes: map[string]probeState{"us-1": tt.state}, sourceAddr: noAddr}
		s := r.snapshot()
		n, _ := s.Node("us-1")
		if n.Up != tt.up || n.Answering != tt.answering || n.Error != tt.err || n.ProbeRTT != tt.rtt {
			t.Errorf("%s: up=%v answering=%v error=%q probe=%s, want up=%v answering=%v error=%q probe=%s",
				tt.name, n.Up, n.Answering, n.Error, n.ProbeRTT, tt.up, tt.answering, tt.err, tt.rtt)
		}
		if tt.state.good != nil && (n.GTIDBinlog != "1-101-7" || !n.ReadOnly) {
			t.Errorf("%s: last known binlog %q read_only %v, want 1-101-7 and true", tt.name, n.GTIDBinlog, n.ReadOnly)
		}
		if !n.Up && (len(n.Replication) != 0 || n.Galera != nil) {
			t.Errorf("%s: a node not up shows channels or snapshot.Galera state", tt.name)
		}
	}
}

func TestChannelReport(t *testing.T) {
	ap := example(t, "active-passive")
	primary := probed(t, time.Second, "1-101-120")
	dr := probed(t, time.Second, "1-101-100,2-201-3", node.ReplicaStatus{
		Connection: "eu", SourceHost: "127.0.0.1", SourcePort: 4001, IORunning: "Yes", SQLRunning: false,
		LastSQLErrno: 1062, LastSQLError: "Duplicate entry", SecondsBehind: nil,
	})
	dr.heartbeats[1] = 2345678 * time.Microsecond
	r := round{topo: ap, at: t0, mono: t0.Add(2 * time.Second), region: "eu", interval: time.Second,
		probes: map[string]probeState{"eu-1": upState(primary), "us-1": upState(dr)}, sourceAddr: noAddr}
	s := r.snapshot()
	n, _ := s.Node("us-1")
	want := snapshot.Channel{
		Connection: "eu", SourceRegion: "eu", SourceNode: "eu-1", SourceAddr: "127.0.0.1:4001",
		IORunning: "Yes", SQLRunning: false, LastSQLErrno: 1062, LastSQLError: "Duplicate entry",
		LagSeconds: ptr((2345678 * time.Microsecond).Seconds()), GTIDLag: map[uint32]uint64{1: 20},
	}
	if len(n.Replication) != 1 || !reflect.DeepEqual(n.Replication[0], want) {
		t.Errorf("channel:\n got %+v\nwant %+v", n.Replication, want)
	}
	if n.Replication[0].SecondsBehindMaster != nil {
		t.Errorf("a NULL Seconds_Behind_Master must stay unknown")
	}
	if n.Role != "replica" || n.Writable || s.Regions[0].Name != "eu" || !s.Regions[0].Writable || s.Regions[1].Writable || s.Regions[1].LinkNode != "us-1" {
		t.Errorf("node %+v, regions %+v", n, s.Regions)
	}
}

func TestWAN(t *testing.T) {
	ap := example(t, "active-passive")
	down := probeState{last: &observation{err: errors.New("down")}}
	tests := []struct {
		name   string
		region string
		probes map[string]probeState
		want   []snapshot.WANLink
	}{
		{"measured on the link node", "eu", map[string]probeState{"us-1": upState(probed(t, 0, ""))},
			[]snapshot.WANLink{{From: "eu", To: "us", RTTSeconds: ptr(0.08)}}},
		{"another node of the region when the link node is down", "us", map[string]probeState{"eu-1": down, "eu-2": upState(probed(t, 0, ""))},
			[]snapshot.WANLink{{From: "us", To: "eu", RTTSeconds: ptr(0.08)}}},
		{"nobody answers", "us", map[string]probeState{"eu-1": down, "eu-2": down},
			[]snapshot.WANLink{{From: "us", To: "eu", Error: "no node of region eu is up"}}},
		{"no controller region", "", map[string]probeState{}, []snapshot.WANLink{}},
	}
	for _, tt := range tests {
		r := round{topo: ap, region: tt.region, probes: tt.probes}
		if got := r.wan(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestHistoryStatements(t *testing.T) {
	s := snapshot.Snapshot{
		At: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.FixedZone("CET", 3600)), ControllerRegion: "eu",
		WAN: []snapshot.WANLink{{From: "eu", To: "us", RTTSeconds: ptr(0.081235)}},
		Nodes: []snapshot.Node{
			{Name: "eu-1", Region: "eu", Up: true, Replication: []snapshot.Channel{}},
			{Name: "eu-2", Region: "eu", Up: true, Replication: []snapshot.Channel{{Connection: "eu", SourceRegion: "eu", LagSeconds: ptr(0.0004567), GTIDLag: map[uint32]uint64{1: 2, 2: 1}}}},
			{Name: "us-1", Region: "us", Up: true, Replication: []snapshot.Channel{{Connection: "eu", SourceRegion: "eu", GTIDLag: nil}}},
			{Name: "us-2", Region: "us", Up: false, Replication: []snapshot.Channel{{Connection: "us", SourceRegion: "us"}}},
		},
	}
	want := "INSERT INTO meridian.replication_lag_history (source_region, target_region, target_node, lag_seconds, gtid_lag, network_latency_ms, recorded_at) VALUES " +
		"('eu', 'eu', 'eu-2', 0.000457, 3, NULL, '2026-03-01 11:00:00.123456'), " +
		"('eu', 'us', 'us-1', NULL, NULL, 81.235, '2026-03-01 11:00:00.123456')"
	if got := historyInsert(s); got != want {
		t.Errorf("insert:\n got %s\nwant %s", got, want)
	}
	if got := historyInsert(snapshot.Snapshot{Nodes: []snapshot.Node{{Up: true}}}); got != "" {
		t.Errorf("no channels: %q, want no statement", got)
	}
	if got, want := historyPurge(time.Date(2026, 2, 22, 12, 0, 0, 0, time.UTC)), "DELETE FROM meridian.replication_lag_history WHERE recorded_at < '2026-02-22 12:00:00.000000'"; got != want {
		t.Errorf("purge: %s, want %s", got, want)
	}
	if !strings.Contains(createHistory, "INDEX idx_regions_time (source_region, target_region, recorded_at)") {
		t.Errorf("history table lacks the seed's index: %s", createHistory)
	}
}

func TestHeartbeatSQL(t *testing.T) {
	got := heartbeatSQL(3)
	for _, part := range []string{"SELECT 3, @@server_id, NOW(6) FROM DUAL WHERE @@global.read_only = 0", "ON DUPLICATE KEY UPDATE"} {
		if !strings.Contains(got, part) {
			t.Errorf("heartbeat statement %q lacks %q", got, part)
		}
	}
}

func TestParseGalera(t *testing.T) {
	g, err := parseGalera(map[string]string{
		"wsrep_local_state_comment": "Synced", "wsrep_cluster_size": "3", "wsrep_cluster_status": "Primary",
		"wsrep_ready": "ON", "wsrep_flow_control_paused": "0.0125",
	})
	if err != nil || !reflect.DeepEqual(*g, snapshot.Galera{LocalState: "Synced", ClusterSize: 3, ClusterStatus: "Primary", Ready: true, FlowControlPaused: 0.0125}) {
		t.Errorf("parsed %+v, %v", g, err)
	}
	if g, err := parseGalera(map[string]string{}); err != nil || g.Ready || g.ClusterSize != 0 {
		t.Errorf("no wsrep provider: %+v, %v", g, err)
	}
	if _, err := parseGalera(map[string]string{"wsrep_cluster_size": "three"}); err == nil || !strings.Contains(err.Error(), "wsrep_cluster_size") {
		t.Errorf("bad size: %v", err)
	}
}

func TestConfig(t *testing.T) {
	ap := example(t, "active-passive")
	ep := fakeEndpoints{}
	cfg, err := Config{Topology: ap, Endpoints: ep, Region: "eu"}.withDefaults(true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != time.Second || cfg.ProbeTimeout != 800*time.Millisecond || cfg.HeartbeatInterval != 100*time.Millisecond ||
		cfg.HistoryInterval != time.Minute || cfg.HistoryRetention != 168*time.Hour || cfg.Now == nil || cfg.Logger == nil {
		t.Errorf("defaults: %+v", cfg)
	}
	if got := cfg.connectTimeout("us-1"); got != 800*time.Millisecond+8*80*time.Millisecond {
		t.Errorf("connect timeout across the 80 ms link: %s", got)
	}
	if got := cfg.connectTimeout("eu-2"); got != 800*time.Millisecond {
		t.Errorf("connect timeout in the controller's region: %s", got)
	}
	for _, tt := range []struct {
		cfg           Config
		requireRegion bool
		want          string
	}{
		{Config{Endpoints: ep}, false, "no topology"},
		{Config{Topology: ap}, false, "no endpoints"},
		{Config{Topology: ap, Endpoints: ep}, true, "no controller region"},
		{Config{Topology: ap, Endpoints: ep, Region: "mars"}, false, `"mars" is not a region`},
		{Config{Topology: ap, Endpoints: ep, Interval: time.Second, ProbeTimeout: 2 * time.Second}, false, "exceeds Interval"},
		{Config{Topology: ap, Endpoints: ep, HeartbeatInterval: -time.Second}, false, "HeartbeatInterval -1s is negative"},
	} {
		if _, err := tt.cfg.withDefaults(tt.requireRegion); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %+v: error %v, want %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := (Config{Topology: ap, Endpoints: ep}).withDefaults(false); err != nil {
		t.Errorf("ProbeOnce without a region: %v", err)
	}
}

type fakeEndpoints struct{}

func (fakeEndpoints) Admin(name string) node.Endpoint { return node.Endpoint{Name: name} }
func (fakeEndpoints) SourceAddr(string, string) (string, int, error) {
	return "", 0, errors.New("none")
}

func TestClone(t *testing.T) {
	s := snapshot.Snapshot{
		Regions: []snapshot.Region{{Name: "eu"}},
		WAN:     []snapshot.WANLink{{RTTSeconds: ptr(0.08)}},
		Nodes: []snapshot.Node{{Name: "us-1", Errant: []string{"2-201-1"}, Galera: &snapshot.Galera{ClusterSize: 3},
			Replication: []snapshot.Channel{{LagSeconds: ptr(0.1), SecondsBehindMaster: ptr(int64(0)), GTIDLag: map[uint32]uint64{1: 0}}}}},
	}
	c := s.Clone()
	c.Regions[0].Name = "x"
	*c.WAN[0].RTTSeconds = 9
	c.Nodes[0].Errant[0] = "x"
	c.Nodes[0].Galera.ClusterSize = 9
	ch := &c.Nodes[0].Replication[0]
	*ch.LagSeconds, *ch.SecondsBehindMaster, ch.GTIDLag[1] = 9, 9, 9
	want := snapshot.Snapshot{
		Regions: []snapshot.Region{{Name: "eu"}},
		WAN:     []snapshot.WANLink{{RTTSeconds: ptr(0.08)}},
		Nodes: []snapshot.Node{{Name: "us-1", Errant: []string{"2-201-1"}, Galera: &snapshot.Galera{ClusterSize: 3},
			Replication: []snapshot.Channel{{LagSeconds: ptr(0.1), SecondsBehindMaster: ptr(int64(0)), GTIDLag: map[uint32]uint64{1: 0}}}}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("changing a clone changed the original: %+v", s)
	}
}

// TestSnapshotFollowsPrimaries: after a failover to us-1 the snapshot's
// layout is the one the runtime primaries give, not the file's.
func TestSnapshotFollowsPrimaries(t *testing.T) {
	ap := example(t, "active-passive")
	moved := topology.Primaries{Region: "us", Nodes: map[string]string{"us-main": "us-1"}}
	r := round{topo: ap, primaries: moved, at: t0, mono: t0, region: "us", interval: time.Second,
		probes: map[string]probeState{}, sourceAddr: noAddr}
	s := r.snapshot()
	if !reflect.DeepEqual(s.Primaries, moved) {
		t.Errorf("snapshot primaries %+v, want %+v", s.Primaries, moved)
	}
	for _, reg := range s.Regions {
		if want := reg.Name == "us"; reg.Writable != want {
			t.Errorf("region %s writable=%v, want %v", reg.Name, reg.Writable, want)
		}
	}
	for _, n := range s.Nodes {
		if want := n.Name == "us-1"; n.Writable != want {
			t.Errorf("node %s writable=%v, want %v", n.Name, n.Writable, want)
		}
	}
}

// TestProbeDeadlinesFollowTheLink: a probe's deadlines grow with the
// slowest round trip measured lately, not only the declared one, and come
// back down once the link is fast again.
func TestProbeDeadlinesFollowTheLink(t *testing.T) {
	ap := example(t, "active-passive")
	cfg, err := Config{Topology: ap, Endpoints: fakeEndpoints{}, Region: "us"}.withDefaults(true)
	if err != nil {
		t.Fatal(err)
	}
	p := newProber(cfg, topology.NodeRef{Name: "eu-1", Region: "eu"}, &counters{})
	if got, want := p.connectTimeout(), 800*time.Millisecond+8*80*time.Millisecond; got != want {
		t.Errorf("declared 80 ms: connect timeout %s, want %s", got, want)
	}
	p.measured(300 * time.Millisecond) // `sandbox latency eu us 300ms`
	if got, want := p.connectTimeout(), 800*time.Millisecond+8*300*time.Millisecond; got != want {
		t.Errorf("measured 300 ms: connect timeout %s, want %s", got, want)
	}
	if got, want := p.queryTimeout(), 1100*time.Millisecond; got != want {
		t.Errorf("measured 300 ms: query timeout %s, want %s", got, want)
	}
	for range pingsKept {
		p.measured(81 * time.Millisecond)
	}
	if got, want := p.queryTimeout(), 881*time.Millisecond; got != want {
		t.Errorf("fast again: query timeout %s, want %s", got, want)
	}
}

// TestRetriable: a broken connection, or a deadline reached while the node
// was heard from, is worth a reconnection; silence and the server's own
// errors are the probe's answer.
func TestRetriable(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   error
		heard bool
		want  bool
	}{
		{"closed by the peer", fmt.Errorf("read GTID positions: %w", errors.New("invalid connection")), false, true},
		{"deadline while reconnecting, bytes heard", fmt.Errorf("probe: %w", context.DeadlineExceeded), true, true},
		{"deadline in silence", fmt.Errorf("probe: %w", context.DeadlineExceeded), false, false},
		{"server error", &mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true, false},
	} {
		if got := retriable(c.err, c.heard); got != c.want {
			t.Errorf("%s: retriable = %v, want %v", c.name, got, c.want)
		}
	}
}
