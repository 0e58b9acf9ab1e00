package api_test

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/snapshot"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestTopologyBeforeFirstSnapshot(t *testing.T) {
	res, body := get(t, api.New(&source{}), "/api/v1/topology")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct{ Error string }
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Errorf("body %q is not a JSON error (%v)", body, err)
	}
}

func TestTopologyServesTheLastSnapshot(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	src := &source{snap: estate(at)}
	h := api.New(src)

	res, body := get(t, h, "/api/v1/topology")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var got snapshot.Snapshot
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if want := estate(at); !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot did not survive the round trip:\ngot  %+v\nwant %+v", got, want)
	}
	// The page reads these names: they are part of the contract.
	for _, field := range []string{
		`"at":"2026-03-14T09:26:53Z"`, `"controller_region":"eu"`, `"link_node":"eu-1"`,
		`"cluster_kind":"galera"`, `"role":"galera"`, `"read_only":false`, `"gtid_current_pos":`,
		`"io_running":"Connecting"`, `"sql_running":true`, `"lag_seconds":null`, `"lag_seconds":2.4`,
		`"seconds_behind_master":null`, `"gtid_lag":{"2":243}`, `"last_io_errno":2003`,
		`"rtt_seconds":0.0812`, `"cluster_size":3`, `"error":"dial tcp`,
	} {
		if !strings.Contains(body, field) {
			t.Errorf("JSON lacks %s", field)
		}
	}

	later := estate(at.Add(time.Second))
	later.Nodes = later.Nodes[:1]
	src.set(later)
	if _, body := get(t, h, "/api/v1/topology"); !strings.Contains(body, `"at":"2026-03-14T09:26:54Z"`) || strings.Contains(body, `"name":"us-1"`) {
		t.Errorf("the handler did not serve the newer snapshot: %s", body)
	}
}

func TestHealthz(t *testing.T) {
	res, body := get(t, api.New(&source{}), "/healthz")
	if res.StatusCode != http.StatusOK || body != "ok" {
		t.Errorf("status %d body %q, want 200 ok", res.StatusCode, body)
	}
}

func TestPageIsServedFromEmbeddedFiles(t *testing.T) {
	h := api.New(&source{})
	for path, want := range map[string]string{
		"/":          "text/html",
		"/app.js":    "text/javascript",
		"/style.css": "text/css",
	} {
		res, body := get(t, h, path)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), want) {
			t.Errorf("GET %s: status %d, Content-Type %q, want 200 %s", path, res.StatusCode, res.Header.Get("Content-Type"), want)
		}
		if len(body) == 0 {
			t.Errorf("GET %s: empty body", path)
		}
	}
	if res, _ := get(t, h, "/nope.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope.js: status %d, want 404", res.StatusCode)
	}
}

// TestPageLoadsNothingFromElsewhere keeps the page usable where operators
// have no Internet access: no CDN, no web fonts, no remote scripts.
func TestPageLoadsNothingFromElsewhere(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?[^#'"\s)]`)
	web := os.DirFS("web") // what go:embed packs into the binary
	err := fs.WalkDir(web, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web, path)
		if err != nil {
			return err
		}
		for _, m := range remote.FindAllString(string(b), -1) {
			if m != "http://www.w3.org" { // the SVG namespace, not a download
				t.Errorf("%s refers to %q", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
