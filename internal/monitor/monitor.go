// Package monitor watches a Meridian estate: it probes every node in
// parallel each interval, writes heartbeats on the writable regions' link
// nodes, measures replication lag (from the heartbeats, to the microsecond),
// GTID lag per domain, errant transactions, Galera state and the WAN round
// trips, publishes each round as a Snapshot and keeps a lag history.
//
// Effects stay at the edges: probers read servers, heartbeaters and the
// historian write them, and a snapshot is built from the probes' plain
// observations by pure functions (assemble.go).
//
// Lag comes from a heartbeat table, meridian.heartbeat, holding one row per
// region domain. The link node of every writable region rewrites its row
// every heartbeat interval with its own NOW(6); replication carries the row
// everywhere, and on any replica NOW(6) minus the row's time is how far
// behind that region's writes the replica is, per domain, to the
// microsecond, whether the link is idle or not and whatever
// Seconds_Behind_Master says. Writer and reader clocks must agree (NTP); a
// negative difference (skew) reads as 0.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Monitor probes an estate until its Run returns.
type Monitor struct {
	cfg          Config
	probers      []*prober
	heartbeaters []*heartbeater
	historian    *historian
	tally        *tally
	// done receives the round number of every finished probe.
	done chan uint64
	// soon starts the next round before the interval is over (ProbeNow).
	soon    chan struct{}
	started atomic.Bool

	// primaries is who takes writes now: the layout every round and the
	// heartbeat writers follow.
	primaries atomic.Pointer[topology.Primaries]
	latest    atomic.Pointer[snapshot.Snapshot]
	first     chan struct{} // closed by the first snapshot
	firstOnce sync.Once

	mu          sync.Mutex
	subscribers map[chan snapshot.Snapshot]struct{}
	stopped     bool
}

// New checks cfg and prepares a monitor; nothing is contacted before Run.
func New(cfg Config) (*Monitor, error) {
	cfg, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	t := newTally(cfg)
	m := &Monitor{
		cfg:         cfg,
		probers:     newProbers(cfg, t),
		historian:   newHistorian(cfg, t),
		tally:       t,
		first:       make(chan struct{}),
		soon:        make(chan struct{}, 1),
		subscribers: map[chan snapshot.Snapshot]struct{}{},
	}
	m.primaries.Store(&cfg.Primaries)
	m.done = make(chan uint64, 2*len(m.probers))
	for _, r := range cfg.Topology.Regions {
		if cfg.Topology.LinkNode(r.Name) != "" {
			m.heartbeaters = append(m.heartbeaters, newHeartbeater(cfg, r, t, m.Primaries))
		}
	}
	return m, nil
}

// SetPrimaries makes p who takes writes (after a failover or switchover):
// from the next round on, the snapshots' layout (writable nodes, expected
// channels, link nodes) is topology.LayoutFor(now, p), and the heartbeat
// writers move to the writable regions' link nodes under p.
func (m *Monitor) SetPrimaries(p topology.Primaries) {
	p.Nodes = maps.Clone(p.Nodes)
	m.primaries.Store(&p)
}

// Primaries is who the monitor takes to be writing now.
func (m *Monitor) Primaries() topology.Primaries {
	p := *m.primaries.Load()
	p.Nodes = maps.Clone(p.Nodes)
	return p
}

func newProbers(cfg Config, t *tally) []*prober {
	var probers []*prober
	for _, ref := range cfg.Topology.Nodes() {
		probers = append(probers, newProber(cfg, ref, t.nodes[ref.Name]))
	}
	return probers
}

// Run probes, writes heartbeats and records history until ctx is done, then
// closes its connections and every subscription. It returns nil once
// stopped, and an error if called twice.
func (m *Monitor) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("monitor: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range m.probers {
		wg.Go(func() { m.probeLoop(ctx, p) })
	}
	for _, h := range m.heartbeaters {
		wg.Go(func() { h.run(ctx) })
	}
	wg.Go(func() { m.historian.run(ctx, m.first, m.Snapshot) })
	m.cfg.Logger.Info("monitor started", "topology", m.cfg.Topology.Name, "region", m.cfg.Region,
		"interval", m.cfg.Interval, "probe_timeout", m.cfg.ProbeTimeout, "heartbeat_interval", m.cfg.HeartbeatInterval)
	m.rounds(ctx)
	cancel()
	wg.Wait()
	m.mu.Lock()
	m.stopped = true
	for ch := range m.subscribers {
		close(ch)
	}
	clear(m.subscribers)
	m.mu.Unlock()
	return nil
}

// probeLoop runs the probes of one node, one at a time.
func (m *Monitor) probeLoop(ctx context.Context, p *prober) {
	defer p.close()
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-p.start:
			o := p.probe(ctx)
			m.tally.count(o)
			p.record(o)
			select {
			case m.done <- n:
			case <-ctx.Done():
				return
			}
		}
	}
}

// rounds starts a round every interval and publishes its snapshot as soon
// as every probe of the round has finished, or when the probe timeout has
// passed: a hung node never delays the snapshot, it is reported as timed
// out, and is not probed again while its probe still runs. The first round
// also waits for the first connections (each bounded by its connect
// timeout), so that the first snapshot does not report nodes still
// connecting over a long link as timed out.
func (m *Monitor) rounds(ctx context.Context) {
	ticker := time.NewTicker(m.cfg.Interval)
	defer ticker.Stop()
	for n := uint64(1); ; n++ {
		wait := m.cfg.ProbeTimeout
		if n == 1 {
			// No probe has run yet: the probers' timing is theirs to read.
			for _, p := range m.probers {
				wait = max(wait, p.connectTimeout()+p.queryTimeout())
			}
		}
		pending := 0
		for _, p := range m.probers {
			if p.begin() {
				p.start <- n
				pending++
			} else {
				m.tally.probesSkipped.Add(1)
			}
		}
		// Started after every probe began: a probe still running at the
		// deadline has run for the whole probe timeout.
		deadline := time.NewTimer(wait)
	collect:
		for pending > 0 {
			select {
			case <-ctx.Done():
				deadline.Stop()
				return
			case <-deadline.C:
				break collect
			case done := <-m.done:
				if done == n {
					pending--
				}
			}
		}
		deadline.Stop()
		m.publish(buildRound(m.cfg, m.Primaries(), m.probers, m.latest.Load()).snapshot())
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-m.soon:
			ticker.Reset(m.cfg.Interval)
		}
	}
}

// ProbeNow starts the next round at once, or as soon as the current one
// has been published: after a failover or switchover the routers' view
// should not wait for the interval to show the new primary.
func (m *Monitor) ProbeNow() {
	select {
	case m.soon <- struct{}{}:
	default:
	}
}

// buildRound gathers what the probers know now.
func buildRound(cfg Config, p topology.Primaries, probers []*prober, previous *snapshot.Snapshot) round {
	r := round{
		topo: cfg.Topology, primaries: p, at: cfg.Now(), mono: time.Now(), region: cfg.Region,
		interval: cfg.Interval,
		probes:   map[string]probeState{}, previousErrant: map[string][]string{},
		sourceAddr: cfg.Endpoints.SourceAddr,
	}
	for _, p := range probers {
		r.probes[p.name] = p.snapshot()
	}
	if previous != nil {
		for _, node := range previous.Nodes {
			r.previousErrant[node.Name] = node.Errant
		}
	}
	return r
}

func (m *Monitor) publish(s snapshot.Snapshot) {
	previous := m.latest.Swap(&s)
	m.tally.rounds.Add(1)
	m.logChanges(previous, &s)
	m.firstOnce.Do(func() { close(m.first) })
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch := range m.subscribers {
		// Only publish sends, under mu: after emptying the buffer the send
		// cannot block, and a slow subscriber gets the latest snapshot.
		select {
		case <-ch:
		default:
		}
		ch <- s.Clone()
	}
}

// logChanges logs new errant transactions (probers log nodes going down
// and coming back).
func (m *Monitor) logChanges(previous, current *snapshot.Snapshot) {
	for _, n := range current.Nodes {
		var before snapshot.Node
		if previous != nil {
			before, _ = previous.Node(n.Name)
		}
		if len(n.Errant) > 0 && !slices.Equal(n.Errant, before.Errant) {
			m.cfg.Logger.Warn("errant transactions", "node", n.Name, "region", n.Region, "gtids", n.Errant)
		}
	}
}

// Snapshot is the latest snapshot, the caller's to keep; its At is zero
// before the first round.
func (m *Monitor) Snapshot() snapshot.Snapshot {
	s := m.latest.Load()
	if s == nil {
		return snapshot.Snapshot{}
	}
	return s.Clone()
}

// Subscribe returns a channel receiving each new snapshot. A subscriber
// that falls behind finds only the latest one waiting: the monitor never
// blocks on it. cancel ends the subscription; Run's end closes the channel.
func (m *Monitor) Subscribe() (updates <-chan snapshot.Snapshot, cancel func()) {
	ch := make(chan snapshot.Snapshot, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		close(ch)
		return ch, func() {}
	}
	m.subscribers[ch] = struct{}{}
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.subscribers[ch]; ok {
			delete(m.subscribers, ch)
			close(ch)
		}
	}
}

// ProbeOnce probes every node and returns the snapshot, without writing
// heartbeats or history (`meridian status`). It probes twice in a row, the
// second time on the connections the first opened: an errant check needs
// the node read before its sources (see round.errant). A node that cannot
// be probed is reported, not returned as an error; the error is for an
// invalid cfg or a ctx done.
func ProbeOnce(ctx context.Context, cfg Config) (snapshot.Snapshot, error) {
	cfg, err := cfg.withDefaults(false)
	if err != nil {
		return snapshot.Snapshot{}, err
	}
	probers := newProbers(cfg, newTally(cfg))
	defer func() {
		for _, p := range probers {
			p.close()
		}
	}()
	var previous *snapshot.Snapshot
	for range 2 {
		var wg sync.WaitGroup
		for _, p := range probers {
			p.begin()
			wg.Go(func() { p.record(p.probe(ctx)) })
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return snapshot.Snapshot{}, fmt.Errorf("monitor: probe %s: %w", cfg.Topology.Name, err)
		}
		s := buildRound(cfg, cfg.Primaries, probers, previous).snapshot()
		previous = &s
	}
	return *previous, nil
}

// Stats are the monitor's cumulative costs, for benchmarks.
type Stats struct {
	Rounds uint64 `json:"rounds"`
	Probes uint64 `json:"probes"`
	// ProbeFailures counts failed probes, ProbeTimeouts those among them that
	// ran out of time (connecting or querying).
	ProbeFailures uint64 `json:"probe_failures"`
	ProbeTimeouts uint64 `json:"probe_timeouts"`
	// ProbesSkipped counts rounds in which a node was not probed because its
	// previous probe still ran.
	ProbesSkipped   uint64 `json:"probes_skipped"`
	HeartbeatWrites uint64 `json:"heartbeat_writes"`
	// HeartbeatSkips counts heartbeats not written because the writable
	// region's link node was read-only.
	HeartbeatSkips uint64 `json:"heartbeat_skips"`
	HistoryWrites  uint64 `json:"history_writes"`
	// Nodes is what was sent to each node: probes, heartbeats and history.
	Nodes map[string]NodeStats `json:"nodes"`
}

// NodeStats is what the monitor sent one node.
type NodeStats struct {
	Queries  uint64 `json:"queries"`
	Connects uint64 `json:"connects"`
}

// Stats returns the counts so far.
func (m *Monitor) Stats() Stats {
	t := m.tally
	s := Stats{
		Rounds: t.rounds.Load(), Probes: t.probes.Load(), ProbeFailures: t.probeFailures.Load(),
		ProbeTimeouts: t.probeTimeouts.Load(), ProbesSkipped: t.probesSkipped.Load(),
		HeartbeatWrites: t.heartbeatWrites.Load(), HeartbeatSkips: t.heartbeatSkips.Load(),
		HistoryWrites: t.historyWrites.Load(), Nodes: map[string]NodeStats{},
	}
	for _, name := range slices.Sorted(maps.Keys(t.nodes)) {
		c := t.nodes[name]
		s.Nodes[name] = NodeStats{Queries: c.queries.Load(), Connects: c.connects.Load()}
	}
	return s
}

// tally is where the monitor's goroutines count what they do.
type tally struct {
	rounds, probes, probeFailures, probeTimeouts, probesSkipped atomic.Uint64
	heartbeatWrites, heartbeatSkips, historyWrites              atomic.Uint64
	nodes                                                       map[string]*counters // fixed by New
}

func newTally(cfg Config) *tally {
	t := &tally{nodes: map[string]*counters{}}
	for _, ref := range cfg.Topology.Nodes() {
		t.nodes[ref.Name] = &counters{}
	}
	return t
}

func (t *tally) count(o *observation) {
	t.probes.Add(1)
	if o.err != nil {
		t.probeFailures.Add(1)
	}
	if o.timedOut {
		t.probeTimeouts.Add(1)
	}
}
