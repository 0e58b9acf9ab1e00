package provision

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestStaticEndpoints(t *testing.T) {
	topo := parseTopology(t, fmt.Sprintf(activeActiveRealYAML, 3306, 3307))
	ep, err := NewStaticEndpoints(topo, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	if a := ep.Admin("us-1"); a.Addr != "127.0.0.1:3307" || a.User != "meridian" || a.Password != "admin-secret" || a.Name != "us-1" {
		t.Errorf("Admin(us-1) = %+v", a)
	}
	if host, port, err := ep.SourceAddr("us-1", "eu-1"); host != "127.0.0.1" || port != 3306 || err != nil {
		t.Errorf("SourceAddr = %s %d %v", host, port, err)
	}

	if _, err := NewStaticEndpoints(parseTopology(t, activePassiveYAML), testCreds); err == nil ||
		!strings.Contains(err.Error(), "node eu-1 has no address: this topology is for the sandbox; use --sandbox DIR") {
		t.Errorf("sandbox topology: err = %v", err)
	}
}

// A stopped node is recorded as unreachable, with its name and address,
// while the others are observed and planned.
func TestObserveUnreachable(t *testing.T) {
	e := startEstate(t, activeActiveRealYAML, 2, nil)
	e.converge(t, noon)
	if err := e.instances["us-1"].Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	obs, err := Observe(context.Background(), e.topo, e.ep, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Nodes["eu-1"].Err; err != nil {
		t.Fatalf("eu-1: %v", err)
	}
	want := fmt.Sprintf("node us-1 (127.0.0.1:%d)", e.ports["us-1"])
	if err := obs.Nodes["us-1"].Err; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("us-1: Err = %v, want it to name %q", err, want)
	}
	p, err := Diff(e.topo, noon, e.ep, testCreds, obs)
	if err == nil || !strings.Contains(err.Error(), "node us-1 is unreachable, not planned: "+want) {
		t.Errorf("Diff err = %v", err)
	}
	if !p.Empty() { // eu-1's connection to us-1 keeps retrying: it runs
		t.Errorf("plan for eu-1:\n%s", p)
	}
}
