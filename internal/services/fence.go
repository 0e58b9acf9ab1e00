package services

// fenceState is what a router did about its write lease: the primary of
// the last valid lease it saw, and the node it made read-only itself.
//
// When the lease runs out (the controller is unreachable or refuses) the
// router stops writing at once (router.View.Lease) and, when that primary
// is in its own region, makes it read-only: a controller on the other
// side of a partition will promote elsewhere once the lease has expired,
// and the old primary must not take writes from anyone meanwhile. When
// the controller grants the lease for the same node again (the partition
// healed, no failover happened), the router lifts the read_only it set.
// When the lease names another node, the old one is the controller's
// business (recovery rejoins or keeps it out).
type fenceState struct {
	held   string
	fenced string
}

// fenceAction is what to do now: lost names the primary whose lease just
// ended (to log it); node, when set, is to be made read-only or writable.
type fenceAction struct {
	lost     string
	node     string
	readOnly bool
}

// next decides from the lease now: primary is the node it names while
// valid; local reports whether a node is in the router's region.
func (s *fenceState) next(primary string, valid bool, local func(node string) bool) fenceAction {
	if valid {
		s.held = primary
		if s.fenced == primary {
			return fenceAction{node: primary}
		}
		s.fenced = ""
		return fenceAction{}
	}
	lost := s.held
	s.held = ""
	switch {
	case lost == "":
		return fenceAction{}
	case local(lost):
		return fenceAction{lost: lost, node: lost, readOnly: true}
	default:
		return fenceAction{lost: lost}
	}
}

// done records the outcome of a's effect: a failed fence is not retried
// (best effort; the lease already stopped this router's writes), a failed
// unfence is, at the next valid lease.
func (s *fenceState) done(a fenceAction, ok bool) {
	if ok {
		s.fenced = ""
		if a.readOnly {
			s.fenced = a.node
		}
	}
}
