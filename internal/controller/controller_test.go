package controller_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/api/browsertest"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
)

// TestControllerOnSandbox runs the sandbox's controller against real
// servers and looks at what an operator sees: the web page in a real
// headless browser, and the Prometheus metrics.
func TestControllerOnSandbox(t *testing.T) {
	ctx := context.Background()
	sb := sandboxtest.Up(t, "active-passive.yaml", func(o *sandbox.Options) { o.Controller = true })
	info, err := sb.Info()
	if err != nil || info.API == "" {
		t.Fatalf("sandbox.json has no api URL (%v)", err)
	}

	dom := waitDOM(t, info.API+"/", func(dom string) bool {
		return strings.Contains(dom, `data-node="us-1"`) && !strings.Contains(dom, `class="link broken`)
	})
	for _, region := range []string{"eu", "us"} {
		if !strings.Contains(dom, `data-region="`+region+`"`) {
			t.Errorf("region %s is not drawn", region)
		}
	}
	for _, n := range []string{"eu-1", "eu-2", "us-1"} {
		if !strings.Contains(dom, `data-node="`+n+`"`) {
			t.Errorf("node %s is not drawn", n)
		}
	}

	metrics := get(t, info.API+"/metrics")
	for _, want := range []string{
		`meridian_node_up{node="us-1",region="us"} 1`,
		`meridian_replication_sql_running{connection="eu",node="us-1",source_region="eu",target_region="us"} 1`,
		`# TYPE meridian_replication_lag_seconds gauge`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// A stopped replica shows as broken, on the page and in the metrics.
	dr, err := node.Open(ctx, sandbox.Endpoints(info, sb.Topology(), sb.Credentials()).Admin("us-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	if err := dr.StopReplicaSQL(ctx, "eu"); err != nil {
		t.Fatal(err)
	}
	broken := regexp.MustCompile(`<g class="link[^"]*\bbroken\b[^"]*" data-link="us-1/eu"`)
	waitDOM(t, info.API+"/", broken.MatchString)
	if m := get(t, info.API+"/metrics"); !strings.Contains(m, `meridian_replication_sql_running{connection="eu",node="us-1",source_region="eu",target_region="us"} 0`) {
		t.Error("metrics do not show us-1's SQL thread stopped")
	}
}

func waitDOM(t *testing.T, url string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var dom string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var err error
		dom, err = browsertest.DumpDOM(ctx, url)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if ok(dom) {
			return dom
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("the page at %s never showed what was expected; last DOM:\n%s", url, dom)
	return ""
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
