package monitor

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// observation is what one probe of a node read. Nothing changes it once the
// probe has finished.
type observation struct {
	at time.Time // wall clock when the probe began
	// begun, queried and finished are monotonic: when the probe began (a
	// reconnection included), when its first query left, when its last
	// answer arrived.
	begun, queried, finished time.Time
	err                      error
	timedOut                 bool
	// answered is set on a failed probe that heard from the node all the
	// same (bytes arrived, the server did not refuse): a reconnection or a
	// slow answer, not a node lost.
	answered bool

	readOnly               bool
	binlog, slave, current gtid.Position
	replicas               []node.ReplicaStatus
	// heartbeats is the age of each domain's heartbeat row by the node's
	// own clock (NOW(6) - ts).
	heartbeats map[uint32]time.Duration
	galera     *snapshot.Galera
	// ping is the round trip of the probe's first query on an open connection.
	ping time.Duration
}

// probeState is what a round knows of one node's probes.
type probeState struct {
	last         *observation // the latest finished probe, failed or not
	good, before *observation // the latest two successful probes, newest first
	// running is when the probe still in progress began (monotonic, with its
	// wall clock in runningAt); zero when none is. connecting says it is
	// still opening its connections.
	running, runningAt time.Time
	connecting         bool
	// answering is set while the probe in progress has heard from the node.
	answering bool
}

// current is the node's latest probe if it succeeded and no later one is
// overdue, nil otherwise. A probe that finished late, in the next round, is
// still the latest word from the node, and counts.
func (p probeState) current() *observation {
	if p.last == nil || p.last.err != nil || !p.running.IsZero() {
		return nil
	}
	return p.last
}

// round is everything a snapshot is built from. Building it is pure.
type round struct {
	topo      *topology.Topology
	primaries topology.Primaries // who writes: the layout's
	at        time.Time          // wall clock: the layout and the snapshot's time
	mono      time.Time          // monotonic now, to age probes still running
	region    string
	interval  time.Duration
	probes    map[string]probeState
	// previousErrant is each node's errant verdict in the previous snapshot,
	// kept when this round cannot check.
	previousErrant map[string][]string
	// sourceAddr is how replica reaches source (provision.Endpoints), to
	// recognise a channel that the layout does not name.
	sourceAddr func(replica, source string) (host string, port int, err error)
}

func (r round) snapshot() snapshot.Snapshot {
	t := r.topo
	layout := t.LayoutFor(r.at, r.primaries)
	writable := t.WritableRegionsFor(r.at, r.primaries)
	beating := map[uint32]bool{}
	s := snapshot.Snapshot{
		At: r.at, Topology: t.Name, Architecture: string(t.Architecture),
		ControllerRegion: r.region, Interval: r.interval, Primaries: r.primaries,
		Regions: []snapshot.Region{}, Nodes: []snapshot.Node{}, WAN: r.wan(),
	}
	for _, reg := range t.Regions {
		w := slices.Contains(writable, reg.Name)
		if w {
			beating[reg.GTIDDomainID] = true
		}
		s.Regions = append(s.Regions, snapshot.Region{Name: reg.Name, Location: reg.Location, Domain: reg.GTIDDomainID, Writable: w, LinkNode: t.LinkNodeFor(reg.Name, r.primaries)})
	}
	for _, ref := range t.Nodes() {
		s.Nodes = append(s.Nodes, r.node(ref, layout, beating))
	}
	return s
}

// role is what the layout makes of a node.
func role(ref topology.NodeRef, layout topology.Layout) string {
	switch {
	case ref.ClusterKind == topology.Galera:
		return "galera"
	case layout.Writable[ref.Name]:
		return "primary"
	default:
		return "replica"
	}
}

// node reports one node. A node that is not up keeps the read-only flag
// and GTID positions of its last successful probe, and its last errant
// verdict; its channels and Galera state are unknown.
func (r round) node(ref topology.NodeRef, layout topology.Layout, beating map[uint32]bool) snapshot.Node {
	n := snapshot.Node{
		Name: ref.Name, Region: ref.Region, Cluster: ref.Cluster, ClusterKind: string(ref.ClusterKind),
		Role: role(ref, layout), Writable: layout.Writable[ref.Name], Replication: []snapshot.Channel{},
		Errant: r.previousErrant[ref.Name],
	}
	p := r.probes[ref.Name]
	if known := p.good; known != nil {
		n.ReadOnly = known.readOnly
		n.GTIDBinlog, n.GTIDSlave, n.GTIDCurrent = known.binlog.String(), known.slave.String(), known.current.String()
	}
	switch {
	case p.last == nil && !p.running.IsZero():
		n.ProbedAt, n.ProbeRTT = p.runningAt, r.mono.Sub(p.running)
		n.Error = "first probe still running"
		if p.connecting {
			n.Error += " (connecting)"
		}
		n.Answering = p.answering
		return n
	case p.last == nil:
		n.Error = "not probed yet"
		return n
	case p.last.err != nil:
		n.ProbedAt, n.ProbeRTT = p.last.at, p.last.finished.Sub(p.last.begun)
		n.Error = p.last.err.Error()
		n.Answering = p.last.answered || p.answering
		return n
	}
	// The latest probe read the node; one still running has not reached
	// its deadline (it would have failed), so the node is up on that word.
	obs := p.last
	n.ProbedAt, n.ProbeRTT = obs.at, obs.finished.Sub(obs.begun)
	n.Up = true
	n.Galera = obs.galera
	for _, rs := range obs.replicas {
		n.Replication = append(n.Replication, r.channel(ref.Name, obs, rs, layout, beating))
	}
	if errant, ok := r.errant(ref.Name, n.Replication, r.owned(ref.Name, layout)); ok {
		n.Errant = errant
	}
	return n
}

// channel reports one replication connection of a node probed in the round.
func (r round) channel(replica string, obs *observation, rs node.ReplicaStatus, layout topology.Layout, beating map[uint32]bool) snapshot.Channel {
	c := snapshot.Channel{
		Connection: rs.Connection,
		SourceAddr: net.JoinHostPort(rs.SourceHost, strconv.Itoa(rs.SourcePort)),
		IORunning:  rs.IORunning, SQLRunning: rs.SQLRunning,
		LastIOErrno: rs.LastIOErrno, LastIOError: rs.LastIOError,
		LastSQLErrno: rs.LastSQLErrno, LastSQLError: rs.LastSQLError,
		UsingGTID: rs.UsingGTID, GTIDIOPos: rs.GTIDIOPos.String(), ReceivedHeartbeats: rs.ReceivedHeartbeats,
	}
	if rs.SecondsBehind != nil {
		behind := *rs.SecondsBehind
		c.SecondsBehindMaster = &behind
	}
	c.SourceRegion, c.SourceNode = attribute(r.topo, layout, replica, rs, r.sourceAddr)
	if reg, ok := r.topo.Region(c.SourceRegion); ok {
		c.LagSeconds = heartbeatLag(obs.heartbeats, reg.GTIDDomainID, rs, beating)
	}
	if src := r.probes[c.SourceNode].current(); src != nil {
		c.GTIDLag = gtidLag(src.binlog, held(obs), rs)
	}
	return c
}

// attribute finds where a replication connection comes from: the layout's
// channel of that replica and connection name, else the node the replica
// would reach at the connection's address. The region is the connection's
// name when it names one (Meridian names connections after their source
// region), else the source node's.
func attribute(t *topology.Topology, layout topology.Layout, replica string, rs node.ReplicaStatus,
	sourceAddr func(replica, source string) (string, int, error)) (region, source string) {
	for _, ch := range layout.Channels {
		if ch.Replica == replica && ch.Connection == rs.Connection {
			source = ch.Source
			break
		}
	}
	if source == "" {
		for _, ref := range t.Nodes() {
			if ref.Name == replica {
				continue
			}
			host, port, err := sourceAddr(replica, ref.Name)
			if err == nil && host == rs.SourceHost && port == rs.SourcePort {
				source = ref.Name
				break
			}
		}
	}
	if _, ok := t.Region(rs.Connection); ok {
		return rs.Connection, source
	}
	return t.NodeRegion(source), source
}

// carries reports whether a connection replicates domain d, by its filters.
func carries(rs node.ReplicaStatus, d uint32) bool {
	if len(rs.DoDomainIDs) > 0 {
		return slices.Contains(rs.DoDomainIDs, d)
	}
	return !slices.Contains(rs.IgnoreDomainIDs, d)
}

// heartbeatLag is a channel's lag in seconds, read from the replica's
// heartbeat rows: the age of the source region's row when that region
// writes heartbeats now. When it does not (an intra-region replica of a
// read-only region, say), the channel still carries the heartbeats of the
// writable regions upstream, and the oldest of those is how far the replica
// trails the writes, end to end. Nil when no such row has arrived yet: a
// region that writes no heartbeats has only an old row, whose age would be
// mistaken for lag.
func heartbeatLag(ages map[uint32]time.Duration, source uint32, rs node.ReplicaStatus, beating map[uint32]bool) *float64 {
	if beating[source] && carries(rs, source) {
		return ageSeconds(ages, source)
	}
	var oldest *float64
	for d := range beating {
		if v := ageSeconds(ages, d); v != nil && carries(rs, d) && (oldest == nil || *v > *oldest) {
			oldest = v
		}
	}
	return oldest
}

func ageSeconds(ages map[uint32]time.Duration, d uint32) *float64 {
	age, ok := ages[d]
	if !ok {
		return nil
	}
	s := age.Seconds()
	return &s
}

// held is everything a node has, per domain: what it applied as a replica
// (gtid_slave_pos) or logged (gtid_binlog_pos). gtid_slave_pos alone misses
// what the node wrote when it was a primary (follow-the-sun hands the
// primary role around), and gtid_current_pos takes the binlog only for the
// node's own server id, missing what another Galera member wrote; the
// binlog, kept with log_slave_updates, has it all.
func held(o *observation) gtid.Position { return gtid.Furthest(o.binlog, o.slave) }

// gtidLag is, per domain the connection carries, how many transactions the
// source has logged beyond what the replica holds: the domains of its
// DO_DOMAIN_IDS, or else every domain of the source's binlog that it does
// not ignore.
func gtidLag(source, replica gtid.Position, rs node.ReplicaStatus) map[uint32]uint64 {
	domains := rs.DoDomainIDs
	if len(domains) == 0 {
		for _, d := range source.Domains() {
			if carries(rs, d) {
				domains = append(domains, d)
			}
		}
	}
	behind := source.Lag(replica)
	out := make(map[uint32]uint64, len(domains))
	for _, d := range domains {
		out[d] = behind[d]
	}
	return out
}

// owned are the domains a node may write in now: its home region's when the
// layout makes it writable, none otherwise.
func (r round) owned(name string, layout topology.Layout) []uint32 {
	if !layout.Writable[name] {
		return nil
	}
	_, c, _ := r.topo.Node(name)
	reg, _ := r.topo.Region(c.Region)
	return []uint32{reg.GTIDDomainID}
}

// errant checks a node's binlog against the union of its sources' binlogs
// (max per domain); ok is false when the check cannot be made now.
//
// The two reads must be ordered: a source probed before the replica may
// miss a transaction the replica received in between, which would look
// errant. So every source must be up now, and the replica's binlog is taken
// from its latest probe that finished before any of those sources' probes
// began (usually the previous round's): whatever it had then from its
// sources, they already had.
func (r round) errant(name string, channels []snapshot.Channel, owned []uint32) ([]string, bool) {
	if len(channels) == 0 {
		return nil, true
	}
	var binlogs []gtid.Position
	var earliest time.Time
	for _, ch := range channels {
		src := r.probes[ch.SourceNode].current()
		if ch.SourceNode == "" || src == nil {
			return nil, false
		}
		binlogs = append(binlogs, src.binlog)
		if earliest.IsZero() || src.queried.Before(earliest) {
			earliest = src.queried
		}
	}
	p := r.probes[name]
	for _, o := range []*observation{p.good, p.before} {
		if o != nil && o.finished.Before(earliest) {
			return formatErrant(gtid.Errant(o.binlog, gtid.Furthest(binlogs...), owned), o.binlog), true
		}
	}
	return nil, false
}

// formatErrant prints ranges as "domain-server-seq" or
// "domain-server-from..to", the server being that of the node's latest GTID
// in the domain, so a single errant transaction reads as its exact GTID.
func formatErrant(ranges []gtid.Range, binlog gtid.Position) []string {
	var out []string
	for _, rg := range ranges {
		server := binlog[rg.Domain].Server
		if rg.From == rg.To {
			out = append(out, fmt.Sprintf("%d-%d-%d", rg.Domain, server, rg.From))
		} else {
			out = append(out, fmt.Sprintf("%d-%d-%d..%d", rg.Domain, server, rg.From, rg.To))
		}
	}
	return out
}

// wan is the round trip from the controller's region to every other region:
// the first query of the latest probe of the region's link node, else of
// any of its nodes that is up.
func (r round) wan() []snapshot.WANLink {
	links := []snapshot.WANLink{}
	if r.region == "" {
		return links
	}
	for _, reg := range r.topo.Regions {
		if reg.Name == r.region {
			continue
		}
		link := snapshot.WANLink{From: r.region, To: reg.Name}
		for _, name := range regionNodes(r.topo, reg.Name) {
			if o := r.probes[name].current(); o != nil {
				rtt := o.ping.Seconds()
				link.RTTSeconds = &rtt
				break
			}
		}
		if link.RTTSeconds == nil {
			link.Error = fmt.Sprintf("no node of region %s is up", reg.Name)
		}
		links = append(links, link)
	}
	return links
}

// regionNodes lists the nodes running in region, its link node first.
func regionNodes(t *topology.Topology, region string) []string {
	link := t.LinkNode(region)
	var names []string
	if link != "" && t.NodeRegion(link) == region {
		names = append(names, link)
	}
	for _, ref := range t.Nodes() {
		if ref.Region == region && ref.Name != link {
			names = append(names, ref.Name)
		}
	}
	return names
}
