package recovery

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/topology"
)

// sourceAddr says where a replica reaches a source (provision.Endpoints).
type sourceAddr func(replica, source string) (host string, port int, err error)

// channelWork is what one node's replication connections need to match a
// layout.
type channelWork struct {
	// Remove are connections the layout does not want: stop, RESET SLAVE ALL.
	Remove []string
	// Configure are the layout's channels that are missing or point
	// elsewhere: (re)written from the layout and started.
	Configure []topology.Channel
	// Start are connections configured as wanted but stopped.
	Start []string
}

func (w channelWork) empty() bool {
	return len(w.Remove) == 0 && len(w.Configure) == 0 && len(w.Start) == 0
}

// planChannels compares a node's connections (have) with the layout's
// channels into it. A connection is kept when it has the channel's name
// (MariaDB compares names case-insensitively), reaches the source's address,
// uses slave_pos and carries the same domains; anything else is rewritten.
func planChannels(name string, layout topology.Layout, have []node.ReplicaStatus, addr sourceAddr) (channelWork, error) {
	var w channelWork
	wanted := map[string]bool{}
	for _, ch := range layout.Channels {
		if ch.Replica != name {
			continue
		}
		wanted[strings.ToLower(ch.Connection)] = true
		host, port, err := addr(ch.Replica, ch.Source)
		if err != nil {
			return channelWork{}, fmt.Errorf("node %s: connection '%s': address of source %s: %w", name, ch.Connection, ch.Source, err)
		}
		i := slices.IndexFunc(have, func(r node.ReplicaStatus) bool { return strings.EqualFold(r.Connection, ch.Connection) })
		switch {
		case i < 0:
			w.Configure = append(w.Configure, ch)
		case !sameChannel(have[i], ch, host, port):
			w.Configure = append(w.Configure, ch)
		case have[i].IORunning == "No" || !have[i].SQLRunning:
			w.Start = append(w.Start, have[i].Connection)
		}
	}
	for _, r := range have {
		if !wanted[strings.ToLower(r.Connection)] {
			w.Remove = append(w.Remove, r.Connection)
		}
	}
	return w, nil
}

func sameChannel(r node.ReplicaStatus, ch topology.Channel, host string, port int) bool {
	return r.SourceHost == host && r.SourcePort == port && strings.EqualFold(r.UsingGTID, "Slave_Pos") &&
		slices.Equal(sortedDomains(r.DoDomainIDs), sortedDomains(ch.DoDomainIDs))
}

func sortedDomains(ids []uint32) []uint32 { return slices.Compact(slices.Sorted(slices.Values(ids))) }

// writers are the nodes a layout makes writable, in topology order.
func writers(t *topology.Topology, l topology.Layout) []string {
	var out []string
	for _, n := range t.Nodes() {
		if l.Writable[n.Name] {
			out = append(out, n.Name)
		}
	}
	return out
}

// without is names minus drop, order kept.
func without(names, drop []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(drop, n) {
			out = append(out, n)
		}
	}
	return out
}

// ranges prints GTID ranges as strings ("1-7..9").
func ranges(rs []gtid.Range) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// rejoinVerdict compares a returning node's GTIDs (everything it holds:
// binlog and replica positions) with its new sources' binlogs. It returns
// the node's errant ranges (transactions only it has: lost to the estate)
// and, when the sequence numbers agree but the histories do not (the same
// last sequence number written by different servers), why it cannot rejoin.
func rejoinVerdict(have node.GTIDState, sources gtid.Position) (errant []string, diverged string) {
	holds := gtid.Furthest(have.Binlog, have.Slave, have.Current)
	if e := gtid.Errant(holds, sources, nil); len(e) > 0 {
		return ranges(e), ""
	}
	for _, d := range holds.Domains() {
		if mine, theirs := holds[d], sources[d]; mine.Seq == theirs.Seq && mine.Server != theirs.Server {
			return []string{mine.String()}, fmt.Sprintf("domain %d: it ends with %s where its source has %s: the histories diverged", d, mine, theirs)
		}
	}
	return nil, ""
}

// switchoverRefusal says why a candidate may not take over from the old
// primary, "" when it may: errant transactions (what it holds that the old
// primary lacks) would be lost or replayed everywhere.
func switchoverRefusal(candidate string, have node.GTIDState, old string, oldBinlog gtid.Position) string {
	holds := gtid.Furthest(have.Binlog, have.Slave, have.Current)
	if e := gtid.Errant(holds, oldBinlog, nil); len(e) > 0 {
		return fmt.Sprintf("%s has errant transactions %s that %s lacks", candidate, strings.Join(ranges(e), ", "), old)
	}
	return ""
}
