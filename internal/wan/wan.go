// Package wan simulates WAN links between regions on loopback: a client in one region
// reaches a server in another region through an in-process toxiproxy proxy that adds
// the inter-region latency and can black-hole traffic to simulate a partition.
//
// Each proxy carries one toxic of our own ("wan_link", see toxic.go), added before the
// proxy accepts its first connection and never replaced: latency changes and partitions
// only flip the shared state that toxic reads for every chunk. Adding and removing
// toxiproxy toxics on live connections races inside toxiproxy (seen here: an index out
// of range panic in ToxicLink.AddToxic when a connection closed during the change).
package wan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Links owns every WAN proxy of a sandbox. It is safe for concurrent use.
type Links struct {
	rtt    func(a, b string) time.Duration
	server *toxiproxy.ApiServer

	mu          sync.Mutex
	closed      bool
	proxies     map[route]*toxiproxy.Proxy
	latency     map[pair]time.Duration // SetLatency overrides of rtt
	partitioned map[pair]bool
	// state is what the toxics of a pair's proxies read on every chunk.
	state map[pair]*linkState

	// watches are the running Watches, read by the toxics on every chunk.
	watches atomic.Pointer[[]*Watch]
	watchMu sync.Mutex
}

// LinkState describes the proxies carrying traffic from clients in region From to
// servers in region To.
type LinkState struct {
	From, To    string
	RTT         time.Duration
	Partitioned bool
	Proxies     int
}

// route identifies one proxy: proxies are per client region, so two regions reaching
// the same server get independent latency and partitions.
type route struct{ from, to, target string }

// pair is an unordered pair of regions.
type pair struct{ a, b string }

func pairOf(a, b string) pair {
	if b < a {
		a, b = b, a
	}
	return pair{a, b}
}

func (r route) pair() pair { return pairOf(r.from, r.to) }

// New returns Links whose proxies add rtt(from, to) of round-trip latency.
func New(rtt func(a, b string) time.Duration) *Links {
	return &Links{
		rtt:         rtt,
		server:      toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		proxies:     make(map[route]*toxiproxy.Proxy),
		latency:     make(map[pair]time.Duration),
		partitioned: make(map[pair]bool),
		state:       make(map[pair]*linkState),
	}
}

// Route returns the loopback address ("127.0.0.1:port") that a client located in region
// from must dial to reach target (host:port) in region to. Same region: target itself.
// Otherwise a proxy is created on first use (one per from-region/target pair) adding
// rtt(from,to)/2 latency in each direction.
func (l *Links) Route(from, to, target string) (string, error) {
	if from == "" || to == "" {
		return "", fmt.Errorf("wan route to %s: empty region (from %q, to %q)", target, from, to)
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return "", fmt.Errorf("wan route %s->%s: target %q is not host:port: %w", from, to, target, err)
	}
	if from == to {
		return target, nil
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return "", fmt.Errorf("wan route %s->%s %s: links are closed", from, to, target)
	}
	r := route{from, to, target}
	if p, ok := l.proxies[r]; ok {
		return p.Listen, nil
	}
	p, err := l.startProxy(r)
	if err != nil {
		return "", err
	}
	l.proxies[r] = p
	return p.Listen, nil
}

// startProxy creates the proxy of r with its link toxics in place before it accepts a
// connection, so even the first client sees the link's latency or partition.
func (l *Links) startProxy(r route) (*toxiproxy.Proxy, error) {
	name := fmt.Sprintf("%s->%s %s", r.from, r.to, r.target)
	p := toxiproxy.NewProxy(l.server, name, "127.0.0.1:0", r.target)
	st := l.stateOf(r.pair())
	for _, stream := range streams {
		if err := addToxic(p, stream, st.id, r); err != nil {
			return nil, err
		}
	}
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("wan proxy %s: start: %w", name, err)
	}
	// Start has replaced the :0 listen address with the bound one.
	return p, nil
}

// stateOf returns the shared state of a pair of regions, creating it with the pair's
// current latency and partition.
func (l *Links) stateOf(k pair) *linkState {
	st, ok := l.state[k]
	if !ok {
		st = newLinkState(&l.watches)
		st.setRTT(l.rttOf(route{from: k.a, to: k.b}))
		st.partitioned.Store(l.partitioned[k])
		l.state[k] = st
	}
	return st
}

func (l *Links) rttOf(r route) time.Duration {
	if rtt, ok := l.latency[r.pair()]; ok {
		return rtt
	}
	return l.rtt(r.from, r.to)
}

// SetLatency changes the round-trip time between regions a and b, in both directions,
// for existing connections and future proxies.
func (l *Links) SetLatency(a, b string, rtt time.Duration) error {
	if a == b {
		return fmt.Errorf("wan set latency %s-%s: same region has no WAN link", a, b)
	}
	if rtt < 0 {
		return fmt.Errorf("wan set latency %s-%s: negative rtt %s", a, b, rtt)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := pairOf(a, b)
	l.latency[k] = rtt
	l.stateOf(k).setRTT(rtt)
	return nil
}

// Partition black-holes all traffic between regions a and b, both directions, on
// existing connections and on new ones: a client still connects at TCP level but no
// byte flows, as in a real network partition.
func (l *Links) Partition(a, b string) error {
	if a == b {
		return fmt.Errorf("wan partition %s-%s: same region has no WAN link", a, b)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := pairOf(a, b)
	l.partitioned[k] = true
	l.stateOf(k).cut()
	return nil
}

// Heal undoes the partition between regions a and b and restores their latency.
// Connections that lived through the partition are closed: toxiproxy dropped their
// bytes, so their streams are corrupt and clients must reconnect.
func (l *Links) Heal(a, b string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.heal(pairOf(a, b))
}

// HealAll heals every partition.
func (l *Links) HealAll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for k := range l.partitioned {
		errs = append(errs, l.heal(k))
	}
	return errors.Join(errs...)
}

func (l *Links) heal(k pair) error {
	if !l.partitioned[k] {
		return nil
	}
	delete(l.partitioned, k)
	// The proxies keep listening: a client that reconnects at once, as a
	// replica's IO thread does, must not find the port closed and wait its
	// whole connect retry.
	l.stateOf(k).heal()
	return nil
}

// Close stops every proxy, closing their connections and freeing their ports.
func (l *Links) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for r, p := range l.proxies {
		p.Stop()
		delete(l.proxies, r)
	}
	for k, st := range l.state {
		st.release()
		delete(l.state, k)
	}
}

// Snapshot reports every link that has proxies, a partition or a latency override,
// sorted by from then to. A pair without proxies is reported once, in name order.
func (l *Links) Snapshot() []LinkState {
	l.mu.Lock()
	defer l.mu.Unlock()
	type direction struct{ from, to string }
	states := make(map[direction]*LinkState)
	covered := make(map[pair]bool)
	for r := range l.proxies {
		d := direction{r.from, r.to}
		s, ok := states[d]
		if !ok {
			s = &LinkState{From: r.from, To: r.to, RTT: l.rttOf(r), Partitioned: l.partitioned[r.pair()]}
			states[d] = s
		}
		s.Proxies++
		covered[r.pair()] = true
	}
	for k, rtt := range l.latency {
		if !covered[k] {
			states[direction{k.a, k.b}] = &LinkState{From: k.a, To: k.b, RTT: rtt, Partitioned: l.partitioned[k]}
		}
	}
	for k := range l.partitioned {
		if !covered[k] {
			states[direction{k.a, k.b}] = &LinkState{From: k.a, To: k.b, RTT: l.rttOf(route{from: k.a, to: k.b}), Partitioned: true}
		}
	}
	out := make([]LinkState, 0, len(states))
	for _, s := range states {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		return out[i].To < out[j].To
	})
	return out
}

// streams are toxiproxy's two directions: client to server, server to client.
var streams = [...]string{"upstream", "downstream"}

func addToxic(p *toxiproxy.Proxy, stream string, link int64, r route) error {
	body, err := json.Marshal(map[string]any{
		"name":     linkToxicType + "_" + stream,
		"type":     linkToxicType,
		"stream":   stream,
		"toxicity": 1.0,
		"attributes": map[string]any{"link": link, "downstream": stream == "downstream",
			"from": r.from, "to": r.to, "target": r.target},
	})
	if err != nil {
		return fmt.Errorf("wan proxy %s: encode %s toxic: %w", p.Name, stream, err)
	}
	if _, err := p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		return fmt.Errorf("wan proxy %s: add %s toxic: %w", p.Name, stream, err)
	}
	return nil
}
