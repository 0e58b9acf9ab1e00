package failover

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/monitor"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Kind classifies a cluster in one round.
type Kind string

const (
	Healthy Kind = "healthy"
	// PrimaryUnreachable: the controller cannot reach the primary, but a
	// witness still receives from it (or cannot tell): it is alive, maybe
	// far away or cut off from the controller. Never recovered
	// (orchestrator's UnreachableMaster; GitHub's 2018 partition).
	PrimaryUnreachable Kind = "primary-unreachable"
	// PrimaryDead: unreachable from the controller, and every witness that
	// can tell says it is gone.
	PrimaryDead Kind = "primary-dead"
	// RegionLost: the primary is dead and so is every node of its region.
	RegionLost Kind = "region-lost"
	// GaleraNodeLost: members of a Galera cluster are lost while others
	// still run it. No cross-region action: when the lost member carried the
	// region's async links, Finding.Takeover says which Synced member should
	// carry them now, and whether that is safe.
	GaleraNodeLost Kind = "galera-node-lost"
)

// failed reports whether a kind calls for a recovery once confirmed.
func (k Kind) failed() bool { return k == PrimaryDead || k == RegionLost || k == GaleraNodeLost }

// Verdict is what one witness says of a source.
type Verdict string

const (
	SaysAlive Verdict = "alive"
	SaysGone  Verdict = "gone"
	// NoWitness: down itself, or with no channel from the source.
	NoWitness Verdict = "none"
)

// Witness is one node's view of a primary, from the same snapshot: a
// replica of it (in its region or another), or a fellow Galera member.
type Witness struct {
	Node    string  `json:"node"`
	Region  string  `json:"region"`
	Verdict Verdict `json:"verdict"`
	Says    string  `json:"says"`
}

// Finding is the state of one cluster in one round.
type Finding struct {
	Cluster string `json:"cluster"`
	Region  string `json:"region"` // the cluster's region
	Kind    Kind   `json:"kind"`
	// Primary is the cluster's primary under Primaries: the writer of a
	// primary-replica cluster, the single node, or the Galera member that
	// carries the region's async links.
	Primary string `json:"primary"`
	// Lost are the Galera members lost (GaleraNodeLost), in cluster order.
	Lost []string `json:"lost,omitempty"`
	// FailedIntervals is how many consecutive rounds the controller could not
	// reach the failed node (the primary, or for GaleraNodeLost the link node
	// when lost, else the member lost most recently); Since is the first of
	// them. Confirmed once it reaches DetectorConfig.Confirmations, for the
	// kinds that call for a recovery.
	FailedIntervals int       `json:"failed_intervals"`
	Since           time.Time `json:"since,omitzero"`
	Confirmed       bool      `json:"confirmed"`
	Reasons         []string  `json:"reasons,omitempty"`
	Witnesses       []Witness `json:"witnesses,omitempty"`
	// Takeover is set for GaleraNodeLost when the lost member carried the
	// region's async links.
	Takeover *Takeover `json:"takeover,omitempty"`
	// Primaries is what the finding was made under; Choose starts from it.
	Primaries topology.Primaries `json:"primaries"`
}

// Defaults of DetectorConfig.
const (
	DefaultConfirmations = 3
	// DefaultStaleIntervals: a heartbeat older than this many snapshot
	// intervals (plus the witness's round trip to the source) is stale.
	DefaultStaleIntervals = 3
)

// DetectorConfig tunes a Detector; zero (or negative) fields take defaults.
type DetectorConfig struct {
	// Confirmations is how many consecutive failed rounds confirm a failure
	// (default 3).
	Confirmations int
	// HeartbeatStaleAfter is the age past which a witness's heartbeat says
	// its source is gone, before adding the round trip between the witness's
	// region and the source's (default 3 × the snapshot's interval).
	HeartbeatStaleAfter time.Duration
}

// Detector classifies clusters round after round and counts how long each
// node has been unreachable. Not safe for concurrent use: one controller
// loop feeds it.
type Detector struct {
	topo    *topology.Topology
	cfg     DetectorConfig
	lastAt  time.Time
	streaks map[string]streak // node -> its current run of lost rounds
	// streams are what each replica had received on each channel in the
	// last snapshot counted; previous, in the one before it.
	streams, previous map[string]stream
}

// stream is how far a channel's received stream had got: the source's
// replication heartbeats and the GTIDs its IO thread received.
type stream struct {
	heartbeats uint64
	ioPos      string
}

func streamKey(replica, source string) string { return replica + "<" + source }

// streamsOf records every channel's stream in s.
func streamsOf(s snapshot.Snapshot) map[string]stream {
	out := map[string]stream{}
	for _, n := range s.Nodes {
		if !n.Up {
			continue
		}
		for _, ch := range n.Replication {
			out[streamKey(n.Name, ch.SourceNode)] = stream{heartbeats: ch.ReceivedHeartbeats, ioPos: ch.GTIDIOPos}
		}
	}
	return out
}

type streak struct {
	rounds int
	since  time.Time
}

// NewDetector returns a detector for t.
func NewDetector(t *topology.Topology, cfg DetectorConfig) *Detector {
	if cfg.Confirmations <= 0 {
		cfg.Confirmations = DefaultConfirmations
	}
	return &Detector{topo: t, cfg: cfg, streaks: map[string]streak{}}
}

// Observe takes one snapshot and returns a finding per cluster, in
// topology order. A snapshot no newer than the last one observed is
// classified but not counted again.
func (d *Detector) Observe(s snapshot.Snapshot, p topology.Primaries) []Finding {
	if d.lastAt.IsZero() || s.At.After(d.lastAt) {
		d.count(s)
		d.lastAt = s.At
		d.previous, d.streams = d.streams, streamsOf(s)
	}
	stale := d.cfg.HeartbeatStaleAfter
	if stale <= 0 {
		interval := s.Interval
		if interval <= 0 {
			interval = monitor.DefaultInterval
		}
		stale = DefaultStaleIntervals * interval
	}
	r := round{
		topo: d.topo, s: s, p: p, layout: d.topo.LayoutFor(s.At, p),
		writable: d.topo.WritableRegionsFor(s.At, p), stale: stale, previous: d.previous,
	}
	var findings []Finding
	for _, c := range d.topo.Clusters {
		f := r.classify(c)
		if subject := d.subject(f); subject != "" {
			st := d.streaks[subject]
			f.FailedIntervals, f.Since = st.rounds, st.since
		}
		f.Confirmed = f.Kind.failed() && f.FailedIntervals >= d.cfg.Confirmations
		findings = append(findings, f)
	}
	return findings
}

func (d *Detector) count(s snapshot.Snapshot) {
	for _, n := range s.Nodes {
		if !lost(n) {
			delete(d.streaks, n.Name)
			continue
		}
		st := d.streaks[n.Name]
		if st.rounds == 0 {
			st.since = s.At
		}
		st.rounds++
		d.streaks[n.Name] = st
	}
}

// subject is the node whose streak a finding counts: the primary, or the
// Galera member lost most recently when the link node is not among them.
func (d *Detector) subject(f Finding) string {
	switch {
	case f.Kind == Healthy:
		return ""
	case f.Kind != GaleraNodeLost || slices.Contains(f.Lost, f.Primary):
		return f.Primary
	}
	latest := f.Lost[0]
	for _, name := range f.Lost[1:] {
		if d.streaks[name].rounds < d.streaks[latest].rounds {
			latest = name
		}
	}
	return latest
}

// lost reports whether a node is out of service: neither up nor answering
// (snapshot.Node.Answering: a reconnection is no loss), or a Galera member
// split into a non-Primary component (it can neither commit nor apply,
// though it answers).
func lost(n snapshot.Node) bool { return (!n.Up && !n.Answering) || splitGalera(n) }

func splitGalera(n snapshot.Node) bool {
	return n.Up && n.Galera != nil && n.Galera.ClusterStatus != "Primary"
}

// round is what one snapshot is classified with.
type round struct {
	topo     *topology.Topology
	s        snapshot.Snapshot
	p        topology.Primaries
	layout   topology.Layout
	writable []string
	stale    time.Duration
	// previous are the channels' streams one snapshot earlier.
	previous map[string]stream
}

func (r round) node(name string) snapshot.Node {
	n, ok := r.s.Node(name)
	if !ok { // a node the snapshot does not know is one nobody reached
		return snapshot.Node{Name: name, Region: r.topo.NodeRegion(name), Error: "not in the snapshot"}
	}
	return n
}

func (r round) classify(c topology.Cluster) Finding {
	f := Finding{Cluster: c.Name, Region: c.Region, Kind: Healthy, Primary: r.topo.ClusterPrimary(c.Name, r.p), Primaries: r.p}
	if c.Kind == topology.Galera {
		return r.galera(c, f)
	}
	switch primary := r.node(f.Primary); {
	case primary.Up:
		return f
	case primary.Answering:
		f.Reasons = append(f.Reasons, fmt.Sprintf("%s answers while its probe reconnects (%s): not lost", primary.Name, primary.Error))
		return f
	}
	return r.unreachable(f)
}

// unreachable classifies a primary the controller cannot reach by what its
// witnesses say: any that still receives keeps it alive; otherwise it is
// dead, and the region lost when none of its nodes answers either.
func (r round) unreachable(f Finding) Finding {
	primary := r.node(f.Primary)
	f.Reasons = append(f.Reasons, fmt.Sprintf("%s is unreachable from the controller: %s", primary.Name, primary.Error))
	f.Witnesses = r.replicaWitnesses(primary.Name, nil)
	alive, gone := tally(f.Witnesses)
	switch {
	case len(alive) > 0:
		f.Kind = PrimaryUnreachable
		f.Reasons = append(f.Reasons, fmt.Sprintf("alive by %s: no recovery", strings.Join(alive, ", ")))
		return f
	case len(gone) > 0:
		f.Reasons = append(f.Reasons, fmt.Sprintf("gone by %s", strings.Join(gone, ", ")))
	case len(f.Witnesses) == 0:
		f.Reasons = append(f.Reasons, fmt.Sprintf("no node replicates from %s: the controller's view alone", primary.Name))
	default:
		f.Reasons = append(f.Reasons, fmt.Sprintf("no witness of %s can tell: the controller's view alone", primary.Name))
	}
	f.Kind = PrimaryDead
	if region := primary.Region; r.regionDown(region) {
		f.Kind = RegionLost
		f.Reasons = append(f.Reasons, fmt.Sprintf("every node of region %s is unreachable", region))
	}
	return f
}

// tally names the witnesses saying alive and gone.
func tally(ws []Witness) (alive, gone []string) {
	for _, w := range ws {
		switch w.Verdict {
		case SaysAlive:
			alive = append(alive, w.Node)
		case SaysGone:
			gone = append(gone, w.Node)
		}
	}
	return alive, gone
}

func (r round) regionDown(region string) bool {
	for _, n := range r.s.Nodes {
		if n.Region == region && (n.Up || n.Answering) {
			return false
		}
	}
	return true
}

// replicaWitnesses are the nodes that replicate from source, by the layout
// or by a channel the snapshot shows, in snapshot order; members of skip
// are left out.
func (r round) replicaWitnesses(source string, skip []string) []Witness {
	expected := map[string]bool{}
	for _, ch := range r.layout.Channels {
		if ch.Source == source {
			expected[ch.Replica] = true
		}
	}
	var ws []Witness
	for _, n := range r.s.Nodes {
		ch := channelFrom(n, source)
		if n.Name == source || slices.Contains(skip, n.Name) || (ch == nil && !expected[n.Name]) {
			continue
		}
		verdict, says := r.verdict(n, ch, source)
		ws = append(ws, Witness{Node: n.Name, Region: n.Region, Verdict: verdict, Says: says})
	}
	return ws
}

// channelFrom is the node's channel whose source is source, nil if none.
func channelFrom(n snapshot.Node, source string) *snapshot.Channel {
	for i, ch := range n.Replication {
		if ch.SourceNode == source {
			return &n.Replication[i]
		}
	}
	return nil
}

// verdict is what a replica's channel says of its source. The IO thread
// leaving "Yes" means the connection is lost. While it says "Yes" the
// heartbeat decides: after a black hole the IO thread keeps saying "Yes"
// until slave_net_timeout, but no heartbeat arrives. A heartbeat only tells
// when the source's region writes them and the SQL thread applies them;
// otherwise "Yes" is taken at its word, which errs on the side of no
// failover until the IO thread notices.
func (r round) verdict(n snapshot.Node, ch *snapshot.Channel, source string) (Verdict, string) {
	switch {
	case !n.Up:
		return NoWitness, "down: no witness"
	case ch == nil:
		return NoWitness, "no replication channel from " + source
	case ch.IORunning != "Yes":
		says := "IO thread " + ch.IORunning
		if ch.LastIOErrno != 0 {
			says += fmt.Sprintf(" (error %d: %s)", ch.LastIOErrno, ch.LastIOError)
		}
		return SaysGone, says
	}
	sourceRegion := r.topo.NodeRegion(source)
	switch {
	case !slices.Contains(r.writable, sourceRegion):
		return SaysAlive, fmt.Sprintf("IO thread Yes; region %s writes no heartbeat to judge by", sourceRegion)
	case !ch.SQLRunning:
		return SaysAlive, "IO thread Yes; SQL thread stopped, so no heartbeat to judge by"
	case ch.LagSeconds == nil:
		return r.streaming(n, ch, source, "IO thread Yes but no heartbeat received")
	}
	bound := r.stale + r.topo.RTT(n.Region, sourceRegion)
	age := time.Duration(*ch.LagSeconds * float64(time.Second))
	if age >= bound {
		return r.streaming(n, ch, source, fmt.Sprintf("IO thread Yes but heartbeat %s old (stale after %s)", age.Round(time.Millisecond), bound))
	}
	return SaysAlive, fmt.Sprintf("IO thread Yes, heartbeat %s old", age.Round(time.Millisecond))
}

// streaming judges a witness whose Meridian heartbeat is stale or missing.
// The controller writes those heartbeats: cut off from the source, it
// stops them although the source lives on. So the replica's own stream
// decides: when the source's replication heartbeats or new GTIDs reached
// it since the previous snapshot, the source is alive and only the
// controller's path to it is lost (orchestrator's UnreachableMaster).
func (r round) streaming(n snapshot.Node, ch *snapshot.Channel, source, stale string) (Verdict, string) {
	prev, ok := r.previous[streamKey(n.Name, source)]
	switch {
	case !ok:
		return SaysGone, stale
	case ch.ReceivedHeartbeats > prev.heartbeats:
		return SaysAlive, fmt.Sprintf("%s; yet %d replication heartbeats arrived from %s since the last round", stale, ch.ReceivedHeartbeats-prev.heartbeats, source)
	case ch.GTIDIOPos != prev.ioPos:
		return SaysAlive, fmt.Sprintf("%s; yet new transactions arrived from %s since the last round (%s)", stale, source, ch.GTIDIOPos)
	}
	return SaysGone, stale + "; nothing else arrived since the last round either"
}

// galera classifies a Galera cluster. With every member down it is a dead
// primary like any other (its link node's replicas elsewhere witness).
// Otherwise lost members are a local matter; when the link node is among
// them, its fellow members and its replicas elsewhere witness, and the
// links move to a Synced member.
func (r round) galera(c topology.Cluster, f Finding) Finding {
	var members []snapshot.Node
	anyUp := false
	for _, m := range c.Nodes {
		n := r.node(m.Name)
		members = append(members, n)
		anyUp = anyUp || n.Up
		if lost(n) {
			f.Lost = append(f.Lost, n.Name)
		}
	}
	switch {
	case len(f.Lost) == 0:
		return f
	case !anyUp:
		f.Lost = nil
		return r.unreachable(f)
	}
	f.Kind = GaleraNodeLost
	for _, name := range f.Lost {
		f.Reasons = append(f.Reasons, lostReason(r.node(name)))
	}
	if !slices.Contains(f.Lost, f.Primary) {
		f.Reasons = append(f.Reasons, fmt.Sprintf("the async links stay on %s", f.Primary))
		return f
	}
	f.Witnesses = append(memberWitnesses(members, f.Primary), r.replicaWitnesses(f.Primary, memberNames(c))...)
	if alive, _ := tally(f.Witnesses); len(alive) > 0 {
		f.Kind = PrimaryUnreachable
		f.Reasons = append(f.Reasons, fmt.Sprintf("alive by %s: no recovery", strings.Join(alive, ", ")))
		return f
	}
	f.Takeover = r.takeover(c, members, f.Primary)
	return f
}

func lostReason(n snapshot.Node) string {
	if splitGalera(n) {
		return fmt.Sprintf("%s is in a %s component", n.Name, n.Galera.ClusterStatus)
	}
	return fmt.Sprintf("%s is unreachable from the controller: %s", n.Name, n.Error)
}

func memberNames(c topology.Cluster) []string {
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	return names
}

// memberWitnesses are the other members' view of a lost one. A member in
// the Primary component counts the members it is joined with: more than the
// controller can reach means a member the controller cannot reach, perhaps
// the lost one, is still in the component.
func memberWitnesses(members []snapshot.Node, lostName string) []Witness {
	reachable := 0
	for _, m := range members {
		if !lost(m) {
			reachable++
		}
	}
	var ws []Witness
	for _, m := range members {
		if m.Name == lostName || !m.Up {
			continue
		}
		w := Witness{Node: m.Name, Region: m.Region}
		switch g := m.Galera; {
		case g == nil:
			w.Verdict, w.Says = NoWitness, "no Galera status"
		case g.ClusterStatus != "Primary":
			w.Verdict, w.Says = NoWitness, fmt.Sprintf("in a %s component", g.ClusterStatus)
		case g.ClusterSize > reachable:
			w.Verdict, w.Says = SaysAlive, fmt.Sprintf("cluster size %d with %d members reachable: %s may still be a member", g.ClusterSize, reachable, lostName)
		default:
			w.Verdict, w.Says = SaysGone, fmt.Sprintf("cluster size %d: %s is no longer a member", g.ClusterSize, lostName)
		}
		ws = append(ws, w)
	}
	return ws
}
