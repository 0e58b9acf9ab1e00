package failover

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Takeover is the plan for a lost Galera link node's async links: which
// Synced member should carry them, and whether it may.
type Takeover struct {
	From string `json:"from"`
	// To is the member that should carry the links ("" when no member is
	// up and Synced).
	To   string `json:"to"`
	Safe bool   `json:"safe"`
	// Reason says why the takeover is safe, or why it must be refused.
	Reason string `json:"reason"`
	// NewPrimaries is Finding.Primaries with To carrying the cluster's links.
	NewPrimaries topology.Primaries `json:"new_primaries"`
}

// takeover plans moving the lost link node's channels to another member.
//
// A member may take them over only if it holds everything the lost node
// logged (as last seen) and everything the lost node's replicas elsewhere
// received from it: they resume from their gtid_slave_pos, and a position
// the new source lacks fails (strict mode) or skips transactions.
//
// Equal GTIDs must also mean equal transactions, and with MariaDB 10.11 and
// Galera 26.4 they may not: once a member applies an inbound async link,
// later local transactions were seen numbered differently on different
// members (the same insert 1-11-8 on one, 1-11-9 on another). So when the
// cluster applies links from other regions and its outbound links carry its
// own domain, a downstream replica's position means something else on
// another member, and the takeover is refused with that reason.
func (r round) takeover(c topology.Cluster, members []snapshot.Node, from string) *Takeover {
	tk := &Takeover{From: from}
	var synced []snapshot.Node
	for _, m := range members {
		if m.Name != from && m.Up && m.Galera != nil && m.Galera.LocalState == "Synced" && m.Galera.ClusterStatus == "Primary" {
			synced = append(synced, m)
		}
	}
	// Members in the cluster's own region first: the links stay where they were.
	slices.SortStableFunc(synced, func(a, b snapshot.Node) int { return boolOrder(a.Region != c.Region, b.Region != c.Region) })
	if len(synced) == 0 {
		tk.Reason = fmt.Sprintf("no other member of %s is up and Synced", c.Name)
		return tk
	}
	need, err := r.takeoverNeeds(c, from)
	tk.To = synced[0].Name
	if err == nil {
		for _, m := range synced {
			if has, err := gtid.Parse(m.GTIDBinlog); err == nil && has.Contains(need) {
				tk.To = m.Name
				break
			}
		}
	}
	tk.NewPrimaries = withPrimary(r.p, c.Name, tk.To)
	to := r.node(tk.To)
	domain := r.clusterDomain(c)
	switch has, parseErr := gtid.Parse(to.GTIDBinlog); {
	case len(r.inbound(c)) > 0 && r.outboundCarries(from, c, domain):
		tk.Reason = fmt.Sprintf("%s applies async links from %s: its members may number the same local transaction differently, "+
			"so equal GTIDs in domain %d do not prove equal transactions; move the links by hand once the replicas' positions are checked",
			c.Name, strings.Join(r.inbound(c), ", "), domain)
	case err != nil:
		tk.Reason = err.Error()
	case parseErr != nil:
		tk.Reason = fmt.Sprintf("%s: %v", tk.To, parseErr)
	case !has.Contains(need):
		tk.Reason = fmt.Sprintf("%s lacks what %s or its replicas may hold: %s", tk.To, from, ranges(need.Subtract(has)))
	default:
		tk.Safe = true
		tk.Reason = fmt.Sprintf("%s is Synced and holds everything %s last logged and its replicas received (%s)", tk.To, from, need)
	}
	return tk
}

func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// takeoverNeeds is what a new link node must hold: the lost node's last
// known binlog position, and each outbound replica's gtid_slave_pos in the
// domains its channel from the lost node carries.
func (r round) takeoverNeeds(c topology.Cluster, from string) (gtid.Position, error) {
	lostNode := r.node(from)
	if lostNode.GTIDBinlog == "" {
		return nil, fmt.Errorf("the last position of %s is unknown: nothing proves another member holds what it sent", from)
	}
	need, err := gtid.Parse(lostNode.GTIDBinlog)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	for _, ch := range r.layout.Channels {
		if ch.Source != from || slices.Contains(memberNames(c), ch.Replica) {
			continue
		}
		replica := r.node(ch.Replica)
		got, err := gtid.Parse(replica.GTIDSlave)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", replica.Name, err)
		}
		for d, g := range got {
			if (len(ch.DoDomainIDs) == 0 || slices.Contains(ch.DoDomainIDs, d)) && g.Seq > need.Seq(d) {
				need[d] = g
			}
		}
	}
	return need, nil
}

// inbound are the sources, outside the cluster, of the layout's channels
// into its members.
func (r round) inbound(c topology.Cluster) []string {
	var sources []string
	members := memberNames(c)
	for _, ch := range r.layout.Channels {
		if slices.Contains(members, ch.Replica) && !slices.Contains(members, ch.Source) && !slices.Contains(sources, ch.Source) {
			sources = append(sources, ch.Source)
		}
	}
	return sources
}

// outboundCarries reports whether a channel from the link node to a node
// outside the cluster carries domain.
func (r round) outboundCarries(from string, c topology.Cluster, domain uint32) bool {
	for _, ch := range r.layout.Channels {
		if ch.Source == from && !slices.Contains(memberNames(c), ch.Replica) && (len(ch.DoDomainIDs) == 0 || slices.Contains(ch.DoDomainIDs, domain)) {
			return true
		}
	}
	return false
}

// clusterDomain is the domain of the cluster's transactions
// (wsrep_gtid_domain_id): its region's.
func (r round) clusterDomain(c topology.Cluster) uint32 {
	reg, _ := r.topo.Region(c.Region)
	return reg.GTIDDomainID
}

// withPrimary is p with node as the cluster's primary; p is not changed.
func withPrimary(p topology.Primaries, cluster, node string) topology.Primaries {
	out := topology.Primaries{Region: p.Region, Nodes: maps.Clone(p.Nodes)}
	if out.Nodes == nil {
		out.Nodes = map[string]string{}
	}
	out.Nodes[cluster] = node
	return out
}

// ranges prints ranges comma-separated ("1-8..9, 2-5").
func ranges(rs []gtid.Range) string {
	var parts []string
	for _, rg := range rs {
		parts = append(parts, rg.String())
	}
	return strings.Join(parts, ", ")
}
