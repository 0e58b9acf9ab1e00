package failover

import (
	"fmt"
	"sync"
	"time"
)

// DefaultBlockPeriod is how long automatic failovers of a cluster wait
// after one (orchestrator's RecoveryPeriodBlockSeconds).
const DefaultBlockPeriod = time.Hour

// Guard keeps automatic failovers from flapping: after a failover of a
// cluster, further automatic ones wait BlockPeriod unless an operator
// acknowledges. The zero value is ready to use. Safe for concurrent use
// (acknowledgements come from the API while the controller decides).
type Guard struct {
	// BlockPeriod is 0 for DefaultBlockPeriod; negative disables blocking.
	BlockPeriod time.Duration

	mu   sync.Mutex
	last map[string]time.Time // cluster -> its latest unacknowledged failover
}

func (g *Guard) period() time.Duration {
	if g.BlockPeriod == 0 {
		return DefaultBlockPeriod
	}
	return g.BlockPeriod
}

// Allow says whether a failover of cluster may run at now, and why. Manual
// failovers always may: an operator is the acknowledgement.
func (g *Guard) Allow(cluster string, now time.Time, automatic bool) (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	last, blocked := g.last[cluster]
	until := last.Add(g.period())
	switch {
	case !automatic:
		return true, "manual failover: not subject to the block period"
	case !blocked:
		return true, fmt.Sprintf("no unacknowledged failover of %s", cluster)
	case g.period() < 0 || !now.Before(until):
		return true, fmt.Sprintf("the last failover of %s, at %s, is older than the block period %s", cluster, last.UTC().Format(time.RFC3339), g.period())
	}
	return false, fmt.Sprintf("%s failed over at %s: automatic failovers are blocked until %s unless an operator acknowledges (meridian ack %s)",
		cluster, last.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339), cluster)
}

// Record notes a failover of cluster at now.
func (g *Guard) Record(cluster string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil {
		g.last = map[string]time.Time{}
	}
	g.last[cluster] = now
}

// Ack is an operator's acknowledgement: the next automatic failover of
// cluster may run at once.
func (g *Guard) Ack(cluster string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.last, cluster)
}
