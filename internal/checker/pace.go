package checker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
)

// load is what throttling reads of one node.
type load struct {
	node string
	// lag is the furthest-behind running replication connection's
	// Seconds_Behind_Master; nil when the node replicates nothing or every
	// reading is NULL (unknown: not a reason to pause forever).
	lag     *time.Duration
	running int
}

// pauseReason says why the checker should wait before its next chunk: a
// node's replication lags more than maxLag, or more than maxRunning threads
// run on it. "" means go on.
func pauseReason(loads []load, maxLag time.Duration, maxRunning int) string {
	var reasons []string
	for _, l := range loads {
		if maxLag > 0 && l.lag != nil && *l.lag > maxLag {
			reasons = append(reasons, fmt.Sprintf("%s lags %s (max %s)", l.node, *l.lag, maxLag))
		}
		if maxRunning > 0 && l.running > maxRunning {
			reasons = append(reasons, fmt.Sprintf("%s runs %d threads (max %d)", l.node, l.running, maxRunning))
		}
	}
	return strings.Join(reasons, "; ")
}

// readLoad reads every member's lag and running threads in parallel.
func readLoad(ctx context.Context, members []*member) ([]load, error) {
	return fromEach(members, func(m *member) (load, error) { return m.load(ctx) })
}

// fromEach asks every member at once and answers their answers in the
// members' order, or their errors joined.
func fromEach[T any](members []*member, ask func(*member) (T, error)) ([]T, error) {
	out := make([]T, len(members))
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { out[i], errs[i] = ask(m) })
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (m *member) load(ctx context.Context) (load, error) {
	l := load{node: m.name}
	replicas, err := m.client.Replicas(ctx)
	if err != nil {
		return l, err
	}
	for _, r := range replicas {
		if r.SQLRunning && r.SecondsBehind != nil {
			lag := time.Duration(*r.SecondsBehind) * time.Second
			if l.lag == nil || lag > *l.lag {
				l.lag = &lag
			}
		}
	}
	status, err := m.client.GlobalStatus(ctx, "Threads_running")
	if err != nil {
		return l, err
	}
	if l.running, err = strconv.Atoi(status["threads_running"]); err != nil {
		return l, fmt.Errorf("node %s: Threads_running %q: %w", m.name, status["threads_running"], err)
	}
	return l, nil
}

// throttle paces the walk: before a chunk it reads the members' load (at
// most once per interval) and waits while pauseReason finds one.
type throttle struct {
	maxLag     time.Duration
	maxRunning int
	interval   time.Duration
	last       time.Time
	paused     func(reason string)
}

// throttleInterval is how often load is read while the walk goes on; a
// paused walk reads it again every pauseRecheck.
const (
	throttleInterval = time.Second
	pauseRecheck     = 500 * time.Millisecond
)

func (t *throttle) wait(ctx context.Context, members []*member) error {
	if time.Since(t.last) < t.interval {
		return nil
	}
	for {
		loads, err := readLoad(ctx, members)
		if err != nil {
			return err
		}
		t.last = time.Now()
		reason := pauseReason(loads, t.maxLag, t.maxRunning)
		t.paused(reason)
		if reason == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pauseRecheck):
		}
	}
}

// catchUp waits until every member holds every transaction of the
// replicated domains that any member held when it was called: afterwards a
// write that was in flight between them has landed everywhere. It answers
// the members that had not caught up when timeout passed.
func catchUp(ctx context.Context, members []*member, domains []uint32, timeout time.Duration) ([]string, error) {
	positions, err := fromEach(members, func(m *member) (gtid.Position, error) { return m.binlogPos(ctx) })
	if err != nil {
		return nil, err
	}
	target := gtid.Position{}
	for d, g := range gtid.Furthest(positions...) {
		// Only the regions' domains replicate; a Galera member's local
		// domain, or an errant transaction, would be waited for in vain.
		if slices.Contains(domains, d) {
			target[d] = g
		}
	}
	var behind []*member
	for i, m := range members {
		if !positions[i].Contains(target) {
			behind = append(behind, m)
		}
	}
	lagging, err := fromEach(behind, func(m *member) (bool, error) { return m.waitFor(ctx, target, timeout) })
	if err != nil {
		return nil, err
	}
	var names []string
	for i, m := range behind {
		if lagging[i] {
			names = append(names, m.name)
		}
	}
	return names, nil
}

// waitFor polls the member's binlog position until it contains target;
// true when timeout passed first. MASTER_GTID_WAIT is no use here: it
// watches gtid_slave_pos, which a Galera member does not advance for its
// cluster's transactions, nor any server for its own writes.
func (m *member) waitFor(ctx context.Context, target gtid.Position, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for {
		pos, err := m.binlogPos(ctx)
		if err != nil {
			return false, err
		}
		if pos.Contains(target) {
			return false, nil
		}
		if time.Now().After(deadline) {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}
