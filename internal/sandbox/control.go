package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// The chaos verbs of the CLI reach the running sandbox over a unix socket in
// its directory: only local users with access to the directory can use it.
type controlServer struct {
	srv  *http.Server
	path string
}

func startControl(path string, s *Sandbox) (*controlServer, error) {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	mux := http.NewServeMux()
	verb := func(pattern string, do func(r *http.Request, q url.Values) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := do(r, r.URL.Query()); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			io.WriteString(w, "ok\n")
		})
	}
	verb("POST /kill", func(_ *http.Request, q url.Values) error { return s.Kill(q.Get("target")) })
	verb("POST /start", func(r *http.Request, q url.Values) error { return s.Start(r.Context(), q.Get("target")) })
	verb("POST /partition", func(_ *http.Request, q url.Values) error { return s.Partition(q.Get("a"), q.Get("b")) })
	verb("POST /heal", func(_ *http.Request, q url.Values) error { return s.Heal(q.Get("a"), q.Get("b")) })
	verb("POST /latency", func(_ *http.Request, q url.Values) error {
		rtt, err := time.ParseDuration(q.Get("rtt"))
		if err != nil {
			return fmt.Errorf("latency %q: %w", q.Get("rtt"), err)
		}
		return s.SetLatency(q.Get("a"), q.Get("b"), rtt)
	})
	cs := &controlServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, path: path}
	go cs.srv.Serve(l)
	return cs, nil
}

func (c *controlServer) close() {
	c.srv.Close()
	os.Remove(c.path)
}

// Control is the client side of a running sandbox's control socket.
type Control struct {
	http *http.Client
}

// Dial returns a client for the sandbox running in dir.
func Dial(dir string) (*Control, error) {
	info, err := ReadInfo(dir)
	if err != nil {
		return nil, err
	}
	if _, alive := ownerAlive(dir); !alive {
		return nil, fmt.Errorf("the sandbox in %s is not running (its owner pid %d is gone): clean up with `meridian sandbox down --dir %s`", dir, info.Owner, dir)
	}
	sock := info.Control
	return &Control{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}}, nil
}

func (c *Control) call(ctx context.Context, verb string, q url.Values) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sandbox/"+verb+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox control: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(strings.TrimSpace(string(body)))
	}
	return nil
}

// Kill crashes a node or every node of a region.
func (c *Control) Kill(ctx context.Context, target string) error {
	return c.call(ctx, "kill", url.Values{"target": {target}})
}

// Start restarts a node or the stopped nodes of a region.
func (c *Control) Start(ctx context.Context, target string) error {
	return c.call(ctx, "start", url.Values{"target": {target}})
}

// Partition cuts the link between two regions.
func (c *Control) Partition(ctx context.Context, a, b string) error {
	return c.call(ctx, "partition", url.Values{"a": {a}, "b": {b}})
}

// Heal restores the link between two regions, or all links when a and b are empty.
func (c *Control) Heal(ctx context.Context, a, b string) error {
	return c.call(ctx, "heal", url.Values{"a": {a}, "b": {b}})
}

// Latency sets the RTT between two regions.
func (c *Control) Latency(ctx context.Context, a, b string, rtt time.Duration) error {
	return c.call(ctx, "latency", url.Values{"a": {a}, "b": {b}, "rtt": {rtt.String()}})
}
