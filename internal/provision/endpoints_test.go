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

	// With personal tables, another region's replica reads through the
	// source's relay; a replica of the same region reads the node itself.
	withRelays := parseTopology(t, `
name: relayed
architecture: active-active
regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]
clusters:
  - {name: eu-main, kind: primary-replica, region: eu, nodes: [{name: eu-1, address: "10.0.0.1:3306", relay: "10.0.0.1:3307"}, {name: eu-2, address: "10.0.0.2:3306", relay: "10.0.0.2:3307"}]}
  - {name: us-main, kind: single, region: us, nodes: [{name: us-1, address: "10.1.0.1:3306", relay: "10.1.0.1:3307"}]}
links: [{between: [eu, us], rtt: 80ms}]
tables: [{match: crm.customers, owner: eu, personal: true}]
`)
	rep, err := NewStaticEndpoints(withRelays, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	if host, port, err := rep.SourceAddr("us-1", "eu-2"); host != "10.0.0.2" || port != 3307 || err != nil {
		t.Errorf("cross-region SourceAddr = %s %d %v, want eu-2's relay", host, port, err)
	}
	if host, port, err := rep.SourceAddr("eu-2", "eu-1"); host != "10.0.0.1" || port != 3306 || err != nil {
		t.Errorf("in-region SourceAddr = %s %d %v, want eu-1 itself", host, port, err)
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
