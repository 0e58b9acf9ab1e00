package failover

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Action is what a Decision asks the recovery to do.
type Action string

const (
	// Promote makes the candidate its cluster's primary and, for a
	// cross-region failover, moves the primary region to it.
	Promote Action = "promote"
	// MoveLinks makes a Synced Galera member carry the lost member's links.
	MoveLinks Action = "move-links"
	// Refuse: nothing is done; Reasons say why.
	Refuse Action = "refuse"
)

// Policy limits which nodes may be promoted.
type Policy struct {
	// NoPromotion names nodes never promoted (MaxScale's servers_no_promotion).
	NoPromotion []string
	// PreventCrossRegion keeps promotions inside the failed primary's region
	// (orchestrator's PreventCrossRegionMasterFailover).
	PreventCrossRegion bool
	// RegionOrder is the order of preference between regions; nodes of
	// regions it leaves out are refused. Default: the failed primary's
	// region, then the architecture's next choice (the other region of the
	// active-passive pair, the follow-the-sun schedule's next windows), then
	// the remaining regions in file order.
	RegionOrder []string
}

// Refusal is a node that was not chosen, with the reason.
type Refusal struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// Decision is what to do about one finding, with every reason.
type Decision struct {
	Cluster string `json:"cluster"`
	Kind    Kind   `json:"kind"`
	// Failed is the node that failed: the dead primary or the lost link node.
	Failed    string `json:"failed"`
	Action    Action `json:"action"`
	Candidate string `json:"candidate,omitempty"`
	Region    string `json:"region,omitempty"` // the candidate's
	// Reasons say why this candidate, or why nothing is done.
	Reasons []string `json:"reasons"`
	// Refusals are every other node considered, each with its reason.
	Refusals []Refusal `json:"refusals,omitempty"`
	// WaitFor is the position the candidate has received but not applied:
	// its relay log must be applied (MASTER_GTID_WAIT) before it is promoted.
	// "" when nothing is pending.
	WaitFor string `json:"wait_for,omitempty"`
	// AtRisk are the transactions the failed primary had logged at its last
	// probe that the candidate never received: lost unless it comes back.
	// It may have logged more after that probe; the exact loss is known
	// when it returns (its errant transactions).
	AtRisk []string `json:"at_risk,omitempty"`
	// Warnings are survivors refused for a reason other than their data
	// that hold transactions the candidate lacks: they will not rejoin
	// under it as they are.
	Warnings []string `json:"warnings,omitempty"`
	// NewPrimaries is what topology.LayoutFor must be given after acting.
	NewPrimaries topology.Primaries `json:"new_primaries"`
	// Affects are the clusters whose primary changes: the recovery records
	// each in the Guard.
	Affects []string `json:"affects,omitempty"`
}

// Refusal reasons that carry no detail.
const (
	ReasonDown           = "down"
	ReasonNotReplicating = "not replicating from the dead primary"
	ReasonExcluded       = "excluded by policy"
)

// Choose decides what to do about a finding.
//
// For a confirmed dead primary (or lost region) the candidates are the
// nodes that replicated from it: up, using GTID, without errant
// transactions, not excluded by policy, in a region the policy allows, a
// Galera member only when Synced, replication not stopped on an error. Of
// those, the one to promote must hold, in every domain, everything every
// other candidate received (Gtid_IO_Pos, else what it holds): domains are
// compared one by one, never summed. Among equally advanced candidates the
// region order decides, then the topology's order. A candidate that has
// received more than it applied is still the best; WaitFor says what its
// relay log must apply first.
//
// A Galera finding becomes MoveLinks when its takeover is safe.
//
// relays holds, per node, the SHOW SLAVE STATUS of its channel from the
// failed primary as read just before deciding: the snapshot carries neither
// Using_Gtid nor Gtid_IO_Pos. A node missing from it is taken to use
// slave_pos (Meridian lays out only slave_pos channels) and to have received
// what it holds. A forced failover passes its finding with Confirmed set.
func Choose(t *topology.Topology, s snapshot.Snapshot, f Finding, policy Policy, relays map[string]node.ReplicaStatus) Decision {
	d := Decision{Cluster: f.Cluster, Kind: f.Kind, Failed: f.Primary, Action: Refuse, NewPrimaries: f.Primaries}
	switch {
	case !f.Kind.failed():
		d.Reasons = []string{fmt.Sprintf("%s: nothing to recover", f.Kind)}
		return d
	case !f.Confirmed:
		d.Reasons = []string{fmt.Sprintf("%s not confirmed yet (%d failed intervals)", f.Kind, f.FailedIntervals)}
		return d
	case f.Kind == GaleraNodeLost:
		return moveLinks(t, d, f)
	}
	c := chooser{topo: t, s: s, f: f, policy: policy, relays: relays, dead: f.Primary, deadRegion: t.NodeRegion(f.Primary)}
	c.order = c.regionOrder()
	return c.choose(d)
}

func moveLinks(t *topology.Topology, d Decision, f Finding) Decision {
	tk := f.Takeover
	switch {
	case tk == nil:
		d.Reasons = []string{fmt.Sprintf("the async links stay on %s: nothing to move", f.Primary)}
	case !tk.Safe:
		d.Candidate, d.Reasons = tk.To, []string{tk.Reason}
		if tk.To != "" {
			d.Refusals = []Refusal{{Node: tk.To, Reason: tk.Reason}}
		}
	default:
		d.Action, d.Candidate, d.Region = MoveLinks, tk.To, t.NodeRegion(tk.To)
		d.Reasons, d.NewPrimaries, d.Affects = []string{tk.Reason}, tk.NewPrimaries, []string{f.Cluster}
	}
	return d
}

// chooser holds one Choose call's inputs.
type chooser struct {
	topo             *topology.Topology
	s                snapshot.Snapshot
	f                Finding
	policy           Policy
	relays           map[string]node.ReplicaStatus
	dead, deadRegion string
	order            []string
}

// candidate is a node that passed every check but the comparison of data,
// or (with its refusal) one refused despite sound data.
type candidate struct {
	n                 snapshot.Node
	received, applied gtid.Position
	refusal           string
}

func (c chooser) choose(d Decision) Decision {
	// sidelined are replicas of the dead primary with sound data refused by
	// policy or state: their data may still be ahead of the chosen one's.
	var candidates, sidelined []candidate
	for _, n := range c.s.Nodes {
		if n.Name == c.dead {
			continue
		}
		applied, received, err := c.positions(n)
		reason := c.refusal(n)
		switch {
		case reason == "" && err != nil:
			reason = err.Error()
		case reason == "":
			candidates = append(candidates, candidate{n: n, received: received, applied: applied})
			continue
		case err == nil && n.Up && channelFrom(n, c.dead) != nil && len(n.Errant) == 0:
			sidelined = append(sidelined, candidate{n: n, received: received, refusal: reason})
		}
		d.Refusals = append(d.Refusals, Refusal{Node: n.Name, Reason: reason})
	}
	var best []candidate
	for _, a := range candidates {
		if reason := lagsBehind(a, candidates); reason != "" {
			d.Refusals = append(d.Refusals, Refusal{Node: a.n.Name, Reason: reason})
			continue
		}
		best = append(best, a)
	}
	switch {
	case len(candidates) == 0:
		d.Reasons = []string{fmt.Sprintf("no candidate: every node that could replace %s was refused", c.dead)}
		return d
	case len(best) == 0:
		d.Reasons = []string{"no candidate holds everything the others received: promoting any would lose transactions another survivor has"}
		return d
	}
	slices.SortStableFunc(best, func(a, b candidate) int { return c.rank(a.n.Region) - c.rank(b.n.Region) })
	chosen := best[0]
	for _, other := range best[1:] {
		reason := fmt.Sprintf("as advanced as %s, which comes first in the region order", chosen.n.Name)
		if other.n.Region == chosen.n.Region {
			reason = fmt.Sprintf("as advanced as %s, which comes first in the topology", chosen.n.Name)
		}
		d.Refusals = append(d.Refusals, Refusal{Node: other.n.Name, Reason: reason})
	}
	return c.promote(d, chosen, sidelined)
}

func (c chooser) promote(d Decision, chosen candidate, sidelined []candidate) Decision {
	n := chosen.n
	d.Action, d.Candidate, d.Region = Promote, n.Name, n.Region
	d.Reasons = append(d.Reasons, fmt.Sprintf("%s replicated from %s and received %s: in every domain, as much as any other candidate", n.Name, c.dead, chosen.received))
	if n.Region == c.deadRegion {
		d.Reasons = append(d.Reasons, fmt.Sprintf("in the failed primary's region %s", n.Region))
	} else {
		d.Reasons = append(d.Reasons, fmt.Sprintf("in region %s (region order: %s)", n.Region, strings.Join(c.order, ", ")))
	}
	if pending := chosen.received.Subtract(chosen.applied); len(pending) > 0 {
		wait := gtid.Position{}
		for _, rg := range pending {
			wait[rg.Domain] = chosen.received[rg.Domain]
		}
		d.WaitFor = wait.String()
		d.Reasons = append(d.Reasons, fmt.Sprintf("wait for relay log: %s received but not applied", ranges(pending)))
	}
	if last, err := gtid.Parse(c.node(c.dead).GTIDBinlog); err == nil {
		for _, rg := range last.Subtract(chosen.received) {
			d.AtRisk = append(d.AtRisk, rg.String())
		}
	}
	for _, o := range sidelined {
		if extra := o.received.Subtract(chosen.received); len(extra) > 0 {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s (%s) received %s that %s lacks: it cannot rejoin under it as it is", o.n.Name, o.refusal, ranges(extra), n.Name))
		}
	}
	_, cl, _ := c.topo.Node(n.Name)
	cluster := cl.Name
	d.NewPrimaries = withPrimary(c.f.Primaries, cluster, n.Name)
	if n.Region != c.deadRegion {
		d.NewPrimaries.Region = n.Region
	}
	d.Affects = []string{c.f.Cluster}
	if cluster != c.f.Cluster {
		d.Affects = append(d.Affects, cluster)
	}
	return d
}

func (c chooser) galeraMember(name string) bool {
	_, cl, _ := c.topo.Node(name)
	return cl.Kind == topology.Galera
}

func (c chooser) node(name string) snapshot.Node {
	n, _ := c.s.Node(name)
	return n
}

// refusal is why a node cannot replace the dead primary, "" when it can
// (before comparing data). Checked in a fixed order; the first that holds
// is the reason.
func (c chooser) refusal(n snapshot.Node) string {
	ch := channelFrom(n, c.dead)
	relay, known := c.relays[n.Name]
	switch {
	case !n.Up:
		return ReasonDown
	case ch == nil:
		return ReasonNotReplicating
	case known && relay.UsingGTID != "" && relay.UsingGTID != "Slave_Pos":
		return fmt.Sprintf("not using GTID (Using_Gtid=%s, want Slave_Pos)", relay.UsingGTID)
	case len(n.Errant) > 0:
		return "has errant transactions: " + strings.Join(n.Errant, ", ")
	case slices.Contains(c.policy.NoPromotion, n.Name):
		return ReasonExcluded
	case n.Region != c.deadRegion && c.topo.Architecture == topology.ActiveActive:
		return fmt.Sprintf("in region %s: active-active never promotes across regions", n.Region)
	case n.Region != c.deadRegion && c.policy.PreventCrossRegion:
		return fmt.Sprintf("in region %s: cross-region promotion prevented by policy", n.Region)
	case !slices.Contains(c.order, n.Region):
		return fmt.Sprintf("region %s is not in the policy's region order", n.Region)
	case c.galeraMember(n.Name) && (n.Galera == nil || n.Galera.LocalState != "Synced"):
		state := "state unknown"
		if n.Galera != nil {
			state = n.Galera.LocalState
		}
		return fmt.Sprintf("Galera member not Synced (%s)", state)
	case !ch.SQLRunning && ch.LastSQLErrno != 0:
		return fmt.Sprintf("replication stopped on SQL error %d: %s", ch.LastSQLErrno, ch.LastSQLError)
	}
	return ""
}

// positions are what a node has applied (everything it holds: binlog,
// replica and current positions, domain by domain) and what it has
// received (that, plus its channel's Gtid_IO_Pos when known).
func (c chooser) positions(n snapshot.Node) (applied, received gtid.Position, err error) {
	applied = gtid.Position{}
	for _, text := range []string{n.GTIDBinlog, n.GTIDSlave, n.GTIDCurrent} {
		p, err := gtid.Parse(text)
		if err != nil {
			return nil, nil, fmt.Errorf("unreadable GTID position: %w", err)
		}
		applied = gtid.Furthest(applied, p)
	}
	return applied, gtid.Furthest(applied, c.relays[n.Name].GTIDIOPos), nil
}

// lagsBehind names the first other candidate ahead of a in some domain.
func lagsBehind(a candidate, all []candidate) string {
	for _, b := range all {
		if ahead := b.received.Subtract(a.received); len(ahead) > 0 {
			rg := ahead[0]
			return fmt.Sprintf("lags behind %s in domain %d (seq %d < %d)", b.n.Name, rg.Domain, a.received.Seq(rg.Domain), rg.To)
		}
	}
	return ""
}

func (c chooser) rank(region string) int { return slices.Index(c.order, region) }

// regionOrder is the policy's order, or the default: the dead primary's
// region, the architecture's next choice, then file order.
func (c chooser) regionOrder() []string {
	if len(c.policy.RegionOrder) > 0 {
		return c.policy.RegionOrder
	}
	t := c.topo
	order := []string{c.deadRegion}
	add := func(region string) {
		if region != "" && !slices.Contains(order, region) {
			order = append(order, region)
		}
	}
	switch t.Architecture {
	case topology.ActivePassive:
		add(t.Roles.DR)
		add(t.Roles.Primary)
	case topology.FollowTheSun:
		_, next, start := t.WindowAt(c.s.At)
		for range t.Schedule {
			add(next.Region)
			_, next, start = t.WindowAt(start)
		}
	}
	for _, r := range t.Regions {
		add(r.Name)
	}
	return order
}
