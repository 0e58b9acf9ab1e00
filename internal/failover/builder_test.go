package failover

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// t0 is the time of the first snapshot of every test.
var t0 = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

func example(t *testing.T, name string) *topology.Topology {
	t.Helper()
	topo, _, err := topology.Load("../../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func parseTopology(t *testing.T, lines ...string) *topology.Topology {
	t.Helper()
	topo, _, err := topology.Parse("t.yaml", []byte(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// activePassiveWithReplicatedDR is active-passive with a primary-replica
// cluster on both sides: eu-1 → eu-2 in eu, us-1 → us-2 in us.
func activePassiveWithReplicatedDR(t *testing.T) *topology.Topology {
	return parseTopology(t,
		"name: ap2",
		"architecture: active-passive",
		"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
		"clusters:",
		"  - {name: eu-main, kind: primary-replica, region: eu, nodes: [{name: eu-1}, {name: eu-2}]}",
		"  - {name: us-dr, kind: primary-replica, region: us, nodes: [{name: us-1}, {name: us-2}]}",
		"links: [{between: [eu, us], rtt: 80ms}]",
		"roles: {primary: eu, dr: us}")
}

// activePassiveGalera has a Galera primary region and a Galera DR region.
func activePassiveGalera(t *testing.T) *topology.Topology {
	return parseTopology(t,
		"name: apg",
		"architecture: active-passive",
		"regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]",
		"clusters:",
		"  - {name: eu-galera, kind: galera, region: eu, nodes: [{name: eu-1}, {name: eu-2}, {name: eu-3}]}",
		"  - {name: us-galera, kind: galera, region: us, nodes: [{name: us-1}, {name: us-2}, {name: us-3}]}",
		"links: [{between: [eu, us], rtt: 80ms}]",
		"roles: {primary: eu, dr: us}")
}

// estate builds snapshots by hand: it starts healthy (every node up, every
// channel of the layout running with a fresh heartbeat, every Galera member
// Synced) and is edited node by node.
type estate struct {
	topo  *topology.Topology
	at    time.Time
	nodes []snapshot.Node
}

func healthy(topo *topology.Topology, p topology.Primaries) *estate {
	e := &estate{topo: topo, at: t0}
	layout := topo.LayoutFor(t0, p)
	for _, ref := range topo.Nodes() {
		n := snapshot.Node{Name: ref.Name, Region: ref.Region, Cluster: ref.Cluster, ClusterKind: string(ref.ClusterKind), Up: true}
		for _, ch := range layout.Channels {
			if ch.Replica == ref.Name {
				lag := 0.1
				n.Replication = append(n.Replication, snapshot.Channel{
					Connection: ch.Connection, SourceRegion: topo.NodeRegion(ch.Source), SourceNode: ch.Source,
					IORunning: "Yes", SQLRunning: true, LagSeconds: &lag,
				})
			}
		}
		if ref.ClusterKind == topology.Galera {
			_, c, _ := topo.Node(ref.Name)
			n.Galera = &snapshot.Galera{LocalState: "Synced", ClusterSize: len(c.Nodes), ClusterStatus: "Primary", Ready: true}
		}
		e.nodes = append(e.nodes, n)
	}
	return e
}

type edit func(*snapshot.Node)

func (e *estate) with(name string, edits ...edit) *estate {
	i := slices.IndexFunc(e.nodes, func(n snapshot.Node) bool { return n.Name == name })
	if i < 0 {
		panic("estate: no node " + name)
	}
	for _, ed := range edits {
		ed(&e.nodes[i])
	}
	return e
}

// snap is the estate now, deep-copied so later edits do not change it.
func (e *estate) snap() snapshot.Snapshot {
	s := snapshot.Snapshot{At: e.at, Topology: e.topo.Name, Architecture: string(e.topo.Architecture), Interval: time.Second}
	for _, n := range e.nodes {
		n.Replication = slices.Clone(n.Replication)
		if n.Galera != nil {
			g := *n.Galera
			n.Galera = &g
		}
		s.Nodes = append(s.Nodes, n)
	}
	return s
}

// tick moves the estate one interval on.
func (e *estate) tick() *estate {
	e.at = e.at.Add(time.Second)
	return e
}

// down: unreachable, with what a failed probe leaves (positions kept).
func down(n *snapshot.Node) {
	n.Up, n.Error, n.Replication, n.Galera = false, "dial tcp: connection refused", nil, nil
}

func binlog(pos string) edit {
	return func(n *snapshot.Node) { n.GTIDBinlog, n.GTIDCurrent = pos, pos }
}

func slavePos(pos string) edit { return func(n *snapshot.Node) { n.GTIDSlave = pos } }

// positions sets all three positions of a replica that applied pos.
func positions(pos string) edit {
	return func(n *snapshot.Node) { n.GTIDBinlog, n.GTIDSlave, n.GTIDCurrent = pos, pos, pos }
}

func errant(gtids ...string) edit { return func(n *snapshot.Node) { n.Errant = gtids } }

func channel(n *snapshot.Node, source string) *snapshot.Channel {
	ch := channelFrom(*n, source)
	if ch == nil {
		panic("estate: " + n.Name + " has no channel from " + source)
	}
	return ch
}

// io sets the IO thread state of the channel from source; a dropped
// connection carries MariaDB's error.
func io(source, state string) edit {
	return func(n *snapshot.Node) {
		ch := channel(n, source)
		ch.IORunning = state
		if state != "Yes" {
			ch.LastIOErrno, ch.LastIOError = 2003, "error reconnecting to master"
		}
	}
}

// lag sets the heartbeat lag of the channel from source; negative: unknown.
func lag(source string, seconds float64) edit {
	return func(n *snapshot.Node) {
		ch := channel(n, source)
		ch.LagSeconds = nil
		if seconds >= 0 {
			ch.LagSeconds = &seconds
		}
	}
}

func sqlError(source string, errno int, msg string) edit {
	return func(n *snapshot.Node) {
		ch := channel(n, source)
		ch.SQLRunning, ch.LastSQLErrno, ch.LastSQLError = false, errno, msg
	}
}

func sqlStopped(source string) edit {
	return func(n *snapshot.Node) { channel(n, source).SQLRunning = false }
}

func noChannel(source string) edit {
	return func(n *snapshot.Node) {
		n.Replication = slices.DeleteFunc(n.Replication, func(ch snapshot.Channel) bool { return ch.SourceNode == source })
	}
}

func galeraState(local string, size int, status string) edit {
	return func(n *snapshot.Node) {
		n.Galera = &snapshot.Galera{LocalState: local, ClusterSize: size, ClusterStatus: status, Ready: local == "Synced"}
	}
}

// finding returns the finding for cluster.
func finding(t *testing.T, fs []Finding, cluster string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.Cluster == cluster {
			return f
		}
	}
	t.Fatalf("no finding for cluster %s in %+v", cluster, fs)
	return Finding{}
}

// verdicts prints witnesses as "node=verdict" in order.
func verdicts(ws []Witness) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, w.Node+"="+string(w.Verdict))
	}
	return strings.Join(parts, " ")
}
