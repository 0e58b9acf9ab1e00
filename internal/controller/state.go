package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/meridian-geo/meridian/internal/atomicfile"
	"github.com/meridian-geo/meridian/internal/topology"
)

// State is what the controller decided that the topology file does not
// say, kept in a file so that a restarted controller goes on from it: who
// is primary now, which failed primaries are still to be fenced and
// rejoined when they come back, and which were kept out with the
// transactions only they hold.
type State struct {
	Primaries topology.Primaries `json:"primaries"`
	// Returning are old primaries replaced while down: when one is seen up
	// again it is fenced at once, then rejoined.
	Returning []string `json:"returning,omitempty"`
	// KeptOut are nodes refused at rejoin, with their errant transactions
	// (the transactions the failover lost).
	KeptOut map[string][]string `json:"kept_out,omitempty"`
}

func (s State) clone() State {
	s.Primaries.Nodes = maps.Clone(s.Primaries.Nodes)
	s.Returning = slices.Clone(s.Returning)
	s.KeptOut = maps.Clone(s.KeptOut)
	return s
}

// LoadState reads the state file; a missing file (or path "") is the
// initial state.
func LoadState(path string) (State, error) {
	if path == "" {
		return State{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("controller state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("controller state %s: %w", path, err)
	}
	return s, nil
}

// LoadPrimaries reads the primaries a controller saved in its state file,
// for the commands that lay the estate out again (sandbox start, plan,
// apply): after a failover or switchover they are not the file's, and
// laying the file's out would make the old primary writable beside the
// new one. A saved primary the topology does not know is refused, not
// replaced by the file's, for the same reason.
func LoadPrimaries(path string, t *topology.Topology) (topology.Primaries, error) {
	st, err := LoadState(path)
	if err != nil {
		return topology.Primaries{}, err
	}
	for cluster, name := range st.Primaries.Nodes {
		if t.ClusterPrimary(cluster, st.Primaries) != name {
			return topology.Primaries{}, fmt.Errorf("controller state %s: primaries.nodes.%s: %q is not a member of cluster %q in the topology (fix or remove the file)", path, cluster, name, cluster)
		}
	}
	return st.Primaries, nil
}

// saveState writes the state atomically (a crash leaves the old or the new
// file, never half of one).
func saveState(path string, s State) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("controller state: %w", err)
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("controller state: %w", err)
	}
	return nil
}
