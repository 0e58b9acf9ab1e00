package monitor

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/snapshot"
)

// TestRunWithoutServers runs a monitor whose nodes cannot be reached: every
// round is still published on time, each node reported down with its
// error, subscriptions end with Run, and Run cannot be started twice.
func TestRunWithoutServers(t *testing.T) {
	m, err := New(Config{
		Topology: example(t, "active-passive"), Endpoints: fakeEndpoints{}, Region: "eu",
		Interval: 50 * time.Millisecond, HeartbeatInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Snapshot(); !s.At.IsZero() {
		t.Fatalf("a snapshot before the first round: %+v", s)
	}
	updates, cancelUpdates := m.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var last snapshot.Snapshot
	for range 3 {
		select {
		case last = <-updates:
		case <-time.After(time.Second):
			t.Fatal("no snapshot within a second at a 50ms interval")
		}
	}
	for _, n := range last.Nodes {
		if n.Up || !strings.Contains(n.Error, "neither an address nor a socket") {
			t.Errorf("node %s: up=%v error=%q", n.Name, n.Up, n.Error)
		}
	}
	cancelUpdates()
	if _, open := <-updates; open {
		t.Error("a cancelled subscription is still open")
	}
	late, _ := m.Subscribe()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	for range late {
	}
	if _, open := <-late; open {
		t.Error("a subscription outlived Run")
	}
	if err := m.Run(context.Background()); err == nil {
		t.Error("Run started twice")
	}
	stats := m.Stats()
	if stats.Rounds < 3 || stats.ProbeFailures < 9 || stats.Nodes["us-1"].Connects < 3 || stats.HeartbeatWrites != 0 {
		t.Errorf("stats: %+v", stats)
	}
}

// TestSubscribeLatestWins publishes faster than a subscriber reads: it
// finds the latest snapshot, and publishing never blocks.
func TestSubscribeLatestWins(t *testing.T) {
	m, err := New(Config{Topology: example(t, "active-passive"), Endpoints: fakeEndpoints{}, Region: "eu", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	updates, cancel := m.Subscribe()
	defer cancel()
	for i := range 5 {
		m.publish(snapshot.Snapshot{At: t0.Add(time.Duration(i) * time.Second), Nodes: []snapshot.Node{{Name: "eu-1", Errant: []string{"1-101-1"}}}})
	}
	if s := <-updates; !s.At.Equal(t0.Add(4 * time.Second)) {
		t.Errorf("subscriber got the snapshot of %s, want the latest", s.At)
	}
	s := m.Snapshot()
	s.Nodes[0].Errant[0] = "changed"
	if again := m.Snapshot(); again.Nodes[0].Errant[0] != "1-101-1" {
		t.Error("a snapshot handed out shares memory with the monitor's")
	}
}
