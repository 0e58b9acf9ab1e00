package hooks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/topology"
)

var event = Event{
	Event: "failover", Cluster: "eu-main", OldPrimary: "eu-1", NewPrimary: "eu-2", Region: "eu",
	LostGTIDs: []string{"1-7..9"}, At: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Reasons: []string{"eu-1 dead"},
}

func TestCommandGetsJSONAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	// A fixed script; the data reaches it only through stdin and the environment.
	script := `cat > "$1.json"; printf '%s|%s|%s|%s|%s' "$MERIDIAN_EVENT" "$MERIDIAN_CLUSTER" "$MERIDIAN_NEW_PRIMARY" "$MERIDIAN_LOST_GTIDS" "$MERIDIAN_REGION" > "$1.env"`
	h := New(Config{Command: []string{"/bin/sh", "-c", script, "hook", out}, Timeout: 5 * time.Second}, nil, nil)
	if err := h.Notify(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var got Event
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.NewPrimary != "eu-2" || got.LostGTIDs[0] != "1-7..9" || !got.At.Equal(event.At) {
		t.Errorf("payload %s", data)
	}
	if env, _ := os.ReadFile(out + ".env"); string(env) != "failover|eu-main|eu-2|1-7..9|eu" {
		t.Errorf("environment %q", env)
	}
}

func TestCommandKilledOnTimeoutAndAudited(t *testing.T) {
	log, _ := audit.Open("", 0)
	h := New(Config{Command: []string{"/bin/sh", "-c", "echo started; sleep 30 & wait"}, Timeout: 300 * time.Millisecond}, nil, log)
	begin := time.Now()
	err := h.Notify(context.Background(), event)
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Notify took %s with a 300ms timeout", took)
	}
	if err == nil || !strings.Contains(err.Error(), "killed after 300ms") || !strings.Contains(err.Error(), "started") {
		t.Fatalf("error %v", err)
	}
	entries := log.Entries()
	if len(entries) != 1 || entries[0].Kind != audit.KindHook || entries[0].Step != "command" || entries[0].Error == "" {
		t.Errorf("audit %+v", entries)
	}
}

func TestWebhookRetriesAndHidesItsURL(t *testing.T) {
	var calls atomic.Int32
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
	}))
	defer srv.Close()
	h := New(Config{WebhookURL: srv.URL + "/hook?token=s3cret"}, nil, nil)
	if err := h.Notify(context.Background(), event); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || !strings.Contains(body.Load().(string), `"new_primary":"eu-2"`) {
		t.Errorf("%d calls, body %v", calls.Load(), body.Load())
	}

	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer refused.Close()
	h = New(Config{WebhookURL: refused.URL + "/hook?token=s3cret"}, nil, nil)
	err := h.Notify(context.Background(), event)
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v", err)
	}
	refused.Close()
	err = h.Notify(context.Background(), event)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v", err)
	}
}

func TestConfigFromTopology(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "webhook"), []byte("https://hooks.example.com/x?token=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	topo := &topology.Topology{Source: filepath.Join(dir, "t.yaml"), Hooks: topology.Hooks{
		Command: []string{"/bin/true"}, WebhookFile: "webhook", Timeout: topology.Duration{Duration: 2 * time.Second}}}
	cfg, err := ConfigFromTopology(topo)
	if err != nil || cfg.WebhookURL != "https://hooks.example.com/x?token=1" || cfg.Timeout != 2*time.Second {
		t.Fatalf("%+v, %v", cfg, err)
	}
	t.Setenv(WebhookURLEnv, "https://env.example.com/")
	if cfg, _ := ConfigFromTopology(topo); cfg.WebhookURL != "https://env.example.com/" {
		t.Errorf("environment did not win: %+v", cfg)
	}
	t.Setenv(WebhookURLEnv, "")
	topo.Hooks.WebhookFile = "missing"
	if _, err := ConfigFromTopology(topo); err == nil || !strings.Contains(err.Error(), "hooks.webhook_file") {
		t.Errorf("error %v", err)
	}
	var none *Hooks
	if err := none.Notify(context.Background(), event); err != nil {
		t.Error(err)
	}
}
