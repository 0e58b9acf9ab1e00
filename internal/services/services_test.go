package services

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/lease"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/snapshot"
	"github.com/meridian-geo/meridian/internal/topology"
)

func TestFenceState(t *testing.T) {
	local := func(n string) bool { return strings.HasPrefix(n, "eu-") }
	type step struct {
		primary string
		valid   bool
		ok      bool // the effect's outcome
		want    fenceAction
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"no lease ever: nothing to fence", []step{{"", false, true, fenceAction{}}}},
		{"renewed: nothing to do", []step{{"eu-1", true, true, fenceAction{}}, {"eu-1", true, true, fenceAction{}}}},
		{"local primary lost: fenced once, lifted when granted again", []step{
			{"eu-1", true, true, fenceAction{}},
			{"", false, true, fenceAction{lost: "eu-1", node: "eu-1", readOnly: true}},
			{"", false, true, fenceAction{}},
			{"eu-1", true, true, fenceAction{node: "eu-1"}},
			{"eu-1", true, true, fenceAction{}},
		}},
		{"remote primary lost: only logged", []step{
			{"us-1", true, true, fenceAction{}},
			{"", false, true, fenceAction{lost: "us-1"}},
			{"us-1", true, true, fenceAction{}},
		}},
		{"a failed fence is not retried", []step{
			{"eu-1", true, true, fenceAction{}},
			{"", false, false, fenceAction{lost: "eu-1", node: "eu-1", readOnly: true}},
			{"", false, true, fenceAction{}},
			{"eu-1", true, true, fenceAction{}},
		}},
		{"a failed unfence is retried", []step{
			{"eu-1", true, true, fenceAction{}},
			{"", false, true, fenceAction{lost: "eu-1", node: "eu-1", readOnly: true}},
			{"eu-1", true, false, fenceAction{node: "eu-1"}},
			{"eu-1", true, true, fenceAction{node: "eu-1"}},
			{"eu-1", true, true, fenceAction{}},
		}},
		{"granted for another node: the fenced one is left alone", []step{
			{"eu-1", true, true, fenceAction{}},
			{"", false, true, fenceAction{lost: "eu-1", node: "eu-1", readOnly: true}},
			{"eu-2", true, true, fenceAction{}},
			{"eu-1", true, true, fenceAction{}},
		}},
	} {
		var s fenceState
		for i, st := range c.steps {
			got := s.next(st.primary, st.valid, local)
			if got != st.want {
				t.Errorf("%s: step %d: next(%q, %v) = %+v, want %+v", c.name, i, st.primary, st.valid, got, st.want)
			}
			if got.node != "" {
				s.done(got, st.ok)
			}
		}
	}
}

// stubController serves a snapshot and grants or refuses leases, as the
// controller's API does.
type stubController struct {
	mu       sync.Mutex
	snapshot snapshot.Snapshot
	granting bool
	requests []leaseRequest
}

func (c *stubController) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.URL.Path {
	case "/api/v1/topology":
		json.NewEncoder(w).Encode(c.snapshot)
	case "/api/v1/lease":
		var req leaseRequest
		json.NewDecoder(r.Body).Decode(&req)
		c.requests = append(c.requests, req)
		if !c.granting {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"error": "lease revoked: failover in progress"})
			return
		}
		json.NewEncoder(w).Encode(lease.Grant{Primary: "eu-1", Epoch: 1, ValidFor: time.Second})
	default:
		http.NotFound(w, r)
	}
}

func (c *stubController) set(f func(*stubController)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

func stubSnapshot(primary string) snapshot.Snapshot {
	s := snapshot.Snapshot{At: time.Now(), ControllerRegion: "us",
		Regions: []snapshot.Region{{Name: "eu", Writable: true, LinkNode: "eu-1"}, {Name: "us", LinkNode: "us-1"}}}
	for _, n := range []string{"eu-1", "eu-2"} {
		s.Nodes = append(s.Nodes, snapshot.Node{Name: n, Region: "eu", Writable: n == primary, ReadOnly: n != primary, Up: true})
	}
	return s
}

// unreachable endpoints: the test never gets as far as a node.
type unreachable struct{}

func (unreachable) Admin(name string) node.Endpoint {
	return node.Endpoint{Name: name, Addr: "127.0.0.1:1", User: "admin", Timeout: 100 * time.Millisecond}
}
func (unreachable) SourceAddr(string, string) (string, int, error) { return "127.0.0.1", 1, nil }

func TestServicesFollowTheController(t *testing.T) {
	topo, _, err := topology.Parse("t.yaml", []byte(`
name: t
architecture: active-passive
regions: [{name: eu, gtid_domain_id: 1}, {name: us, gtid_domain_id: 2}]
clusters:
  - {name: eu-main, kind: primary-replica, region: eu, nodes: [{name: eu-1}, {name: eu-2}]}
  - {name: us-dr, kind: single, region: us, nodes: [{name: us-1}]}
links: [{between: [eu, us], rtt: 80ms}]
roles: {primary: eu, dr: us}
services:
  - {name: eu-rw, region: eu, kind: readwritesplit}
  - {name: us-rw, region: us, kind: readwritesplit}
`))
	if err != nil {
		t.Fatal(err)
	}
	stub := &stubController{snapshot: stubSnapshot("eu-1"), granting: true}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	set, err := Start(context.Background(), Config{
		Topology: topo,
		Regions:  []Region{{Name: "eu", Controller: srv.URL, Endpoints: unreachable{}}},
		Interval: 20 * time.Millisecond,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := set.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	statuses := set.Statuses()
	if len(statuses) != 1 || statuses[0].Name != "eu-rw" || statuses[0].Region != "eu" || statuses[0].Kind != "readwritesplit" ||
		!strings.HasPrefix(statuses[0].Listen, "127.0.0.1:") {
		t.Fatalf("statuses = %+v, want eu-rw alone (us-rw runs in another region) on a loopback port", statuses)
	}
	eventually(t, "the view names eu-1 with a lease", func() bool {
		st := set.Statuses()[0]
		return st.Primary == "eu-1" && st.LeaseUntil != nil
	})

	stub.set(func(c *stubController) { c.snapshot = stubSnapshot("eu-2") })
	eventually(t, "the view follows the primary to eu-2", func() bool { return set.Statuses()[0].Primary == "eu-2" })

	stub.set(func(c *stubController) { c.granting = false })
	eventually(t, "a refused renewal drops the lease", func() bool { return set.Statuses()[0].LeaseUntil == nil })
	stub.set(func(c *stubController) { c.granting = true })
	eventually(t, "the lease comes back", func() bool { return set.Statuses()[0].LeaseUntil != nil })

	stub.set(func(c *stubController) {
		if c.requests[0] != (leaseRequest{Region: "eu", Service: "eu-rw"}) {
			t.Errorf("lease request = %+v, want region eu, service eu-rw", c.requests[0])
		}
	})
	rec := httptest.NewRecorder()
	set.Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/services", nil))
	var listed []Status
	if err := json.Unmarshal(rec.Body.Bytes(), &listed); err != nil || len(listed) != 1 || listed[0].Name != "eu-rw" {
		t.Errorf("GET /api/v1/services = %s (%v), want eu-rw listed", rec.Body, err)
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Every shipped example declares services the router accepts, a
// readwritesplit one in each region.
func TestExampleServicesConfigure(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		topo, _, err := topology.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		split := map[string]bool{}
		for _, svc := range topo.Services {
			cfg, err := router.ConfigFromTopology(svc)
			if err != nil {
				t.Errorf("%s: %v", f, err)
			}
			split[svc.Region] = split[svc.Region] || cfg.Kind == router.ReadWriteSplit
		}
		for _, r := range topo.Regions {
			if !split[r.Name] {
				t.Errorf("%s: region %s has no readwritesplit service", f, r.Name)
			}
		}
	}
}
