package topology

import (
	"reflect"
	"testing"
	"time"
)

func TestGeneratedIDs(t *testing.T) {
	ecommerce := loadExample(t, "ecommerce.yaml")
	passive := loadExample(t, "active-passive.yaml")
	explicit := parse(t, doc(
		"name: t",
		"architecture: active-active",
		"regions: [{name: eu1, gtid_domain_id: 1}, {name: eu2, gtid_domain_id: 2}]",
		"clusters:",
		"  - name: g",
		"    kind: galera",
		"    region: eu1",
		"    nodes: [{name: g1, server_id: 42, gtid_domain_id: 77}, {name: g2}, {name: g3, region: eu2}]",
		"links: [{between: [eu1, eu2], rtt: 2ms}]"))
	cases := []struct {
		topo             *Topology
		node             string
		serverID, domain uint32
	}{
		{ecommerce, "eu-1", 101, 1001},
		{ecommerce, "us-3", 203, 2003},
		{ecommerce, "apac-2", 302, 3002},
		{passive, "eu-1", 101, 1},
		{passive, "eu-2", 102, 1},
		{passive, "us-1", 201, 2},
		{explicit, "g1", 42, 77},
		{explicit, "g2", 102, 1002},
		{explicit, "g3", 103, 1003}, // placed in eu2, numbered by its cluster's region
		{explicit, "nobody", 0, 0},
	}
	for _, c := range cases {
		if got := c.topo.ServerID(c.node); got != c.serverID {
			t.Errorf("%s: ServerID(%s) = %d, want %d", c.topo.Name, c.node, got, c.serverID)
		}
		if got := c.topo.NodeDomain(c.node); got != c.domain {
			t.Errorf("%s: NodeDomain(%s) = %d, want %d", c.topo.Name, c.node, got, c.domain)
		}
	}
	if got := explicit.NodeRegion("g3"); got != "eu2" {
		t.Errorf("NodeRegion(g3) = %q, want eu2", got)
	}
	if got := explicit.NodeRegion("g2"); got != "eu1" {
		t.Errorf("NodeRegion(g2) = %q, want eu1", got)
	}
	if got := explicit.LinkNode("eu2"); got != "" {
		t.Errorf("LinkNode(eu2) = %q, want \"\": eu2 has no home cluster", got)
	}
}

func TestLookups(t *testing.T) {
	topo := loadExample(t, "hub-and-spoke.yaml")

	wantNodes := []NodeRef{
		{Name: "us-1", Region: "us", Cluster: "us-hub", ClusterKind: Single, Position: 1},
		{Name: "eu-1", Region: "eu", Cluster: "eu-spoke", ClusterKind: Single, Position: 1},
		{Name: "apac-1", Region: "apac", Cluster: "apac-spoke", ClusterKind: Single, Position: 1},
	}
	if got := topo.Nodes(); !reflect.DeepEqual(got, wantNodes) {
		t.Errorf("Nodes:\n got %+v\nwant %+v", got, wantNodes)
	}

	n, c, ok := topo.Node("eu-1")
	if !ok || n.Name != "eu-1" || c.Name != "eu-spoke" {
		t.Errorf("Node(eu-1) = %+v, %+v, %v", n, c.Name, ok)
	}
	if _, _, ok := topo.Node("nobody"); ok {
		t.Error("Node(nobody) found")
	}
	if r, ok := topo.Region("apac"); !ok || r.GTIDDomainID != 3 || r.Location != "Singapore" {
		t.Errorf("Region(apac) = %+v, %v", r, ok)
	}
	if _, ok := topo.Region("mars"); ok {
		t.Error("Region(mars) found")
	}
	if c, ok := topo.HomeCluster("us"); !ok || c.Name != "us-hub" {
		t.Errorf("HomeCluster(us) = %q, %v", c.Name, ok)
	}
	if got := topo.LinkNode("apac"); got != "apac-1" {
		t.Errorf("LinkNode(apac) = %q", got)
	}

	rtts := []struct {
		a, b string
		want time.Duration
	}{
		{"eu", "us", 80 * time.Millisecond},
		{"us", "eu", 80 * time.Millisecond},
		{"apac", "us", 180 * time.Millisecond},
		{"eu", "apac", 250 * time.Millisecond},
		{"eu", "eu", 0},
		{"eu", "mars", 0},
	}
	for _, r := range rtts {
		if got := topo.RTT(r.a, r.b); got != r.want {
			t.Errorf("RTT(%s, %s) = %s, want %s", r.a, r.b, got, r.want)
		}
	}
}
