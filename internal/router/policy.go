package router

import (
	"errors"
	"time"
)

var (
	errNoPrimary = errors.New("no primary is available")
	errNoReplica = errors.New("no replica is fresh enough and master_accept_reads is off")
)

// policy is how a readwritesplit service picks a node for a read. Its
// methods are pure: they see a View and the router's own load figures.
type policy struct {
	region            string
	maxLag            time.Duration // 0: no bound
	masterAcceptReads bool
}

// Load is what one node is busy with, as this router sees it.
type Load struct {
	Outstanding int64 // requests sent and not yet answered
	Sessions    int64 // open backend connections
}

// eligible reports whether name may serve reads: a replica of the
// service's region, up, not fenced, and (when a bound is set) with a known
// lag within it.
func (p policy) eligible(v View, name string) bool {
	n, ok := v.Nodes[name]
	if !ok || name == v.Primary || !n.Up || n.Fenced || n.Region != p.region {
		return false
	}
	return withinLag(n, p.maxLag)
}

// withinLag reports whether a node trails by no more than max (0: any
// lag); an unknown lag is never within a bound.
func withinLag(n NodeView, max time.Duration) bool {
	return max == 0 || (n.LagSeconds != nil && *n.LagSeconds <= max.Seconds())
}

// chooseReplica picks the eligible replica with the fewest outstanding
// requests, then the fewest connections, then by name; "" when none is
// eligible.
func (p policy) chooseReplica(v View, load func(node string) Load) string {
	best, bestLoad := "", Load{}
	for name := range v.Nodes {
		if !p.eligible(v, name) {
			continue
		}
		l := load(name)
		if best == "" || l.Outstanding < bestLoad.Outstanding ||
			(l.Outstanding == bestLoad.Outstanding && (l.Sessions < bestLoad.Sessions ||
				(l.Sessions == bestLoad.Sessions && name < best))) {
			best, bestLoad = name, l
		}
	}
	return best
}

// readNode is the node a read goes to: the session's replica while it stays
// eligible (a session sticks to one replica), else the least loaded
// eligible one, else the primary when it may serve reads.
func (p policy) readNode(v View, current string, load func(node string) Load) (string, error) {
	if current != "" && p.eligible(v, current) {
		return current, nil
	}
	if name := p.chooseReplica(v, load); name != "" {
		return name, nil
	}
	if !p.masterAcceptReads {
		return "", errNoReplica
	}
	if !primaryUsable(v) {
		return "", errNoPrimary
	}
	return v.Primary, nil
}

// primaryUsable reports whether the view names a primary the router may
// send to.
func primaryUsable(v View) bool {
	n, ok := v.Nodes[v.Primary]
	return ok && !n.Fenced && n.Addr != ""
}

// current reports whether an open connection to node at addr may go on
// serving: the node is still in the view at that address and not fenced.
func current(v View, node, addr string) bool {
	n, ok := v.Nodes[node]
	return ok && n.Addr == addr && !n.Fenced
}
