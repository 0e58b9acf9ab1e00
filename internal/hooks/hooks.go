// Package hooks tells the outside world about failovers and switchovers, as
// the seed's Slack message and DNS update did: a command (an argv list, the
// event as JSON on stdin and in MERIDIAN_* variables) and an HTTP webhook
// (the event as a JSON POST). Each is bounded by a timeout; a failure is
// logged and audited and never holds recovery up beyond that timeout.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Event is what a hook is told.
type Event struct {
	Event      string    `json:"event"` // "failover", "switchover", "rejoin", ...
	Cluster    string    `json:"cluster"`
	OldPrimary string    `json:"old_primary"`
	NewPrimary string    `json:"new_primary"`
	Region     string    `json:"region"` // the new primary's
	LostGTIDs  []string  `json:"lost_gtids"`
	At         time.Time `json:"at"`
	Reasons    []string  `json:"reasons"`
}

// env is the event as environment variables, for scripts that do not parse
// JSON.
func (e Event) env() []string {
	return []string{
		"MERIDIAN_EVENT=" + e.Event,
		"MERIDIAN_CLUSTER=" + e.Cluster,
		"MERIDIAN_OLD_PRIMARY=" + e.OldPrimary,
		"MERIDIAN_NEW_PRIMARY=" + e.NewPrimary,
		"MERIDIAN_REGION=" + e.Region,
		"MERIDIAN_LOST_GTIDS=" + strings.Join(e.LostGTIDs, ","),
		"MERIDIAN_AT=" + e.At.UTC().Format(time.RFC3339Nano),
	}
}

// DefaultTimeout bounds each hook when the configuration sets none.
const DefaultTimeout = 5 * time.Second

// WebhookURLEnv holds the webhook URL; it wins over the topology's.
const WebhookURLEnv = "MERIDIAN_WEBHOOK_URL"

// webhookAttempts is how often a webhook is tried: a couple of retries ride
// out a receiver's restart, all inside the one timeout.
const webhookAttempts = 3

// Config is what the hooks run.
type Config struct {
	Command    []string // argv; empty: no command
	WebhookURL string   // "": no webhook
	Timeout    time.Duration
}

// ConfigFromTopology resolves the topology's hooks section: the webhook URL
// comes from MERIDIAN_WEBHOOK_URL, else the file hooks.webhook_file names
// (relative to the topology file), else hooks.webhook.
func ConfigFromTopology(t *topology.Topology) (Config, error) {
	h := t.Hooks
	cfg := Config{Command: h.Command, WebhookURL: h.Webhook, Timeout: h.Timeout.Duration}
	switch {
	case os.Getenv(WebhookURLEnv) != "":
		cfg.WebhookURL = os.Getenv(WebhookURLEnv)
	case h.WebhookFile != "":
		path := h.WebhookFile
		if t.Source != "" && !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(t.Source), path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("hooks.webhook_file: %w", err)
		}
		cfg.WebhookURL = strings.TrimSpace(string(data))
		if cfg.WebhookURL == "" {
			return Config{}, fmt.Errorf("hooks.webhook_file: %s is empty", path)
		}
	}
	return cfg, nil
}

// Hooks runs the configured hooks. A nil *Hooks runs nothing.
type Hooks struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	audit  *audit.Log
}

// New returns hooks running cfg; failures go to log and to the audit log.
func New(cfg Config, log *slog.Logger, a *audit.Log) *Hooks {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if log == nil {
		log = slog.Default()
	}
	return &Hooks{cfg: cfg, client: &http.Client{}, log: log, audit: a}
}

// Notify runs the command and the webhook side by side and returns when
// both are done, at most the timeout after it was called. Failures are
// logged, audited and returned joined (for the caller's information: there
// is nothing to undo).
func (h *Hooks) Notify(ctx context.Context, e Event) error {
	if h == nil {
		return nil
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("hook payload: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	if len(h.cfg.Command) > 0 {
		wg.Go(func() { errs[0] = h.report(e, "command", h.runCommand(ctx, e, payload)) })
	}
	if h.cfg.WebhookURL != "" {
		wg.Go(func() { errs[1] = h.report(e, "webhook", h.post(ctx, payload)) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (h *Hooks) report(e Event, which string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s hook for %s of %s: %w", which, e.Event, e.Cluster, err)
	h.log.Warn("hook failed", "hook", which, "event", e.Event, "cluster", e.Cluster, "err", err)
	if aerr := h.audit.Record(audit.Entry{Kind: audit.KindHook, Cluster: e.Cluster, Step: which, Detail: e, Error: err.Error()}); aerr != nil {
		h.log.Error("audit", "err", aerr)
	}
	return err
}

// outputLimit keeps a chatty hook's output from filling memory; the tail
// is what explains a failure.
const outputLimit = 4096

// runCommand runs the command in its own process group; on timeout the
// group (the command's pid) is killed, so a script's children go too.
func (h *Hooks) runCommand(ctx context.Context, e Event, payload []byte) error {
	argv := h.cfg.Command
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(payload)
	cmd.Env = append(os.Environ(), e.env()...)
	out := &tailBuffer{limit: outputLimit}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Output pipes held open by a grandchild must not outlast the timeout.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() != nil && err != nil:
		return fmt.Errorf("%s: killed after %s: %w (output: %q)", argv[0], h.cfg.Timeout, err, out.String())
	case err != nil:
		return fmt.Errorf("%s: %w (output: %q)", argv[0], err, out.String())
	}
	return nil
}

// post sends the payload, retrying a failed attempt (network error or 5xx)
// while the timeout allows. The URL is never shown: it may hold a token.
func (h *Hooks) post(ctx context.Context, payload []byte) error {
	var last error
	for attempt := range webhookAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("after %d attempts: %w", attempt, last)
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		retry, err := h.postOnce(ctx, payload)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			break
		}
	}
	return last
}

func (h *Hooks) postOnce(ctx context.Context, payload []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.WebhookURL, bytes.NewReader(payload))
	if err != nil {
		return false, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) {
			err = uerr.Unwrap() // url.Error prints the URL
		}
		return true, fmt.Errorf("POST: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
		fmt.Errorf("POST: %s: %q", resp.Status, body)
}

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
