package api_test

import (
	"fmt"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/snapshot"
)

// source is a SnapshotSource a test can change between requests.
type source struct {
	mu   sync.Mutex
	snap snapshot.Snapshot
}

func (s *source) Snapshot() snapshot.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

func (s *source) set(snap snapshot.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = snap
}

func ptr[T any](v T) *T { return &v }

// estate is the e-commerce case study seen by a controller in eu, in
// trouble: eu-3 is down, us-1 cannot reach eu-1 any more (its "eu" channel is
// stuck connecting) and apac-1 lags 2.4 s behind us.
func estate(at time.Time) snapshot.Snapshot {
	galera := func(size int) *snapshot.Galera {
		return &snapshot.Galera{LocalState: "Synced", ClusterSize: size, ClusterStatus: "Primary", Ready: true, FlowControlPaused: 0.002}
	}
	domains := map[string]uint32{"eu": 1, "us": 2, "apac": 3}
	channel := func(source string, lag float64, behind uint64) snapshot.Channel {
		return snapshot.Channel{
			Connection: source, SourceRegion: source, SourceNode: source + "-1",
			SourceAddr: fmt.Sprintf("127.0.0.1:%d", 40001+100*domains[source]),
			IORunning:  "Yes", SQLRunning: true,
			SecondsBehindMaster: ptr(int64(lag)), LagSeconds: ptr(lag),
			GTIDLag: map[uint32]uint64{domains[source]: behind},
		}
	}
	node := func(name, region string, gtid string) snapshot.Node {
		return snapshot.Node{
			Name: name, Region: region, Cluster: region + "-galera", ClusterKind: "galera", Role: "galera",
			Writable: true, Up: true, ProbedAt: at.Add(-40 * time.Millisecond), ProbeRTT: 1400 * time.Microsecond,
			GTIDBinlog: gtid, GTIDCurrent: gtid, GTIDSlave: gtid,
			Galera: galera(3), Replication: []snapshot.Channel{},
		}
	}
	const gtid = "1-101-48213,2-201-39120,3-301-20211"

	eu1 := node("eu-1", "eu", gtid)
	eu1.Replication = []snapshot.Channel{channel("us", 0.0831, 0), channel("apac", 0.1242, 1)}
	eu2 := node("eu-2", "eu", gtid)
	eu3 := node("eu-3", "eu", "")
	eu3.Up, eu3.Galera = false, nil
	eu3.ProbeRTT = 2 * time.Second
	eu3.Error = "dial tcp 127.0.0.1:40103: connect: connection refused"
	for _, n := range []*snapshot.Node{&eu1, &eu2} {
		n.Galera.ClusterSize = 2
	}

	us1 := node("us-1", "us", "1-101-48102,2-201-39120,3-301-20211")
	broken := channel("eu", 0, 111)
	broken.IORunning = "Connecting"
	broken.LagSeconds, broken.SecondsBehindMaster = nil, nil
	broken.LastIOErrno = 2003
	broken.LastIOError = `error reconnecting to master 'repl@127.0.0.1:40101' - retry-time: 10  maximum-retries: 86400  message: Can't connect to server on '127.0.0.1' (111 "Connection refused")`
	us1.Replication = []snapshot.Channel{broken, channel("apac", 0.1913, 0)}

	apac1 := node("apac-1", "apac", "1-101-48213,2-201-38877,3-301-20211")
	apac1.Replication = []snapshot.Channel{channel("eu", 0.1305, 0), channel("us", 2.4, 243)}

	return snapshot.Snapshot{
		At: at, Topology: "ecommerce", Architecture: "active-active", ControllerRegion: "eu",
		Interval: time.Second,
		Regions: []snapshot.Region{
			{Name: "eu", Location: "Frankfurt", Domain: 1, Writable: true, LinkNode: "eu-1"},
			{Name: "us", Location: "Virginia", Domain: 2, Writable: true, LinkNode: "us-1"},
			{Name: "apac", Location: "Singapore", Domain: 3, Writable: true, LinkNode: "apac-1"},
		},
		Nodes: []snapshot.Node{
			eu1, eu2, eu3,
			us1, node("us-2", "us", "1-101-48102,2-201-39120,3-301-20211"), node("us-3", "us", "1-101-48102,2-201-39120,3-301-20211"),
			apac1, node("apac-2", "apac", "1-101-48213,2-201-38877,3-301-20211"), node("apac-3", "apac", "1-101-48213,2-201-38877,3-301-20211"),
		},
		WAN: []snapshot.WANLink{
			{From: "eu", To: "us", RTTSeconds: ptr(0.0812)},
			{From: "eu", To: "apac", RTTSeconds: ptr(0.2456)},
		},
	}
}
