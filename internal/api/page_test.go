package api_test

import (
	"context"
	"flag"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/api/browsertest"
	"github.com/meridian-geo/meridian/internal/snapshot"
)

var screenshot = flag.String("screenshot", "", "also write a 1400×900 screenshot of the page to this PNG file")

// TestPageInBrowser loads the page in headless Chromium and checks the
// drawing from the DOM the page's script built: every region and node is
// there, the stopped replica's arrow is broken, the down node is marked down.
func TestPageInBrowser(t *testing.T) {
	srv := httptest.NewServer(api.New(live{estate(time.Now())}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	dom, err := browsertest.DumpDOM(ctx, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`<body[^>]*\bdata-updated="[^"]+"`).MatchString(dom) {
		t.Fatalf("the page never rendered a snapshot (no data-updated on body); DOM:\n%s", dom)
	}
	for _, region := range []string{"eu", "us", "apac"} {
		if classes(t, dom, "data-region", region) == nil {
			t.Errorf("region %s is not drawn", region)
		}
	}
	for _, tc := range []struct {
		node, role string
		down       bool
	}{
		{"eu-1", "role-galera", false}, {"eu-3", "role-galera", true},
		{"us-1", "role-galera", false}, {"apac-3", "role-galera", false},
	} {
		c := classes(t, dom, "data-node", tc.node)
		if !c["node"] || !c[tc.role] || c["down"] != tc.down {
			t.Errorf("node %s has classes %v, want node %s down=%v", tc.node, c, tc.role, tc.down)
		}
	}
	for _, tc := range []struct {
		link  string
		state string
	}{
		{"us-1/eu", "broken"}, {"apac-1/us", "lagging"}, {"eu-1/us", ""}, {"us-1/apac", ""},
	} {
		c := classes(t, dom, "data-link", tc.link)
		if !c["link"] || c["broken"] != (tc.state == "broken") || c["lagging"] != (tc.state == "lagging") {
			t.Errorf("link %s has classes %v, want link %s", tc.link, c, tc.state)
		}
	}
	if !strings.Contains(dom, "Connection refused") {
		t.Error("the stopped replica's IO error is not shown on the page")
	}

	if *screenshot != "" {
		if err := browsertest.Screenshot(ctx, srv.URL+"/", *screenshot, 1400, 900); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s", *screenshot)
	}
}

// live serves its snapshot as if it had just been taken.
type live struct{ snap snapshot.Snapshot }

func (l live) Snapshot() snapshot.Snapshot {
	s := l.snap
	s.At = time.Now()
	return s
}

// classes returns the classes of the element whose attribute attr is value,
// nil when there is none.
func classes(t *testing.T, dom, attr, value string) map[string]bool {
	t.Helper()
	tag := regexp.MustCompile(`<[a-z]+\b[^>]*\b` + attr + `="` + regexp.QuoteMeta(value) + `"[^>]*>`).FindString(dom)
	if tag == "" {
		return nil
	}
	set := map[string]bool{}
	if m := regexp.MustCompile(`\bclass="([^"]*)"`).FindStringSubmatch(tag); m != nil {
		for _, c := range strings.Fields(m[1]) {
			set[c] = true
		}
	}
	return set
}
