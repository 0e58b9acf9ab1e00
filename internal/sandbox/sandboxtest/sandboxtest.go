// Package sandboxtest starts example sandboxes for the tests of other
// packages: real mariadbd processes, stopped by pid when the test ends.
package sandboxtest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/sandbox"
)

// Up starts the sandbox of an example topology ("active-passive.yaml") in a
// fresh temporary directory, logging warnings to the test, and closes it
// when the test ends, pass or fail. configure may change the options
// (directory, topology, controller) before the start.
func Up(t testing.TB, example string, configure ...func(*sandbox.Options)) *sandbox.Sandbox {
	t.Helper()
	topo, _, err := estate.LoadTopology("examples/" + example)
	if err != nil {
		t.Fatal(err)
	}
	opts := sandbox.Options{Topology: topo, Dir: t.TempDir(), Fresh: true, Logger: Logger(t)}
	for _, c := range configure {
		c(&opts)
	}
	// A few minutes cover the examples on a loaded machine; a caller that
	// asks for a longer start (a benchmark's large estate) gets it.
	ctx, cancel := context.WithTimeout(context.Background(), max(4*time.Minute, opts.StartTimeout))
	defer cancel()
	started := time.Now()
	sb, err := sandbox.Up(ctx, opts)
	if err != nil {
		t.Fatalf("sandbox up %s: %v", example, err)
	}
	t.Cleanup(func() {
		if err := sb.Close(); err != nil {
			t.Errorf("sandbox close: %v", err)
		}
	})
	t.Logf("sandbox %s up in %s", example, time.Since(started).Round(time.Millisecond))
	return sb
}

// Logger writes warnings and errors into the test's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Partition cuts the WAN link between regions a and b until heal is
// called, or the test ends: a failed test never leaves a region cut off
// for the cleanup that follows.
func Partition(t testing.TB, sb *sandbox.Sandbox, a, b string) (heal func()) {
	t.Helper()
	if err := sb.Partition(a, b); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	heal = func() {
		once.Do(func() {
			if err := sb.Heal(a, b); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(heal)
	return heal
}

// Admin is an admin client of a sandbox node, closed when the test ends.
func Admin(t testing.TB, sb *sandbox.Sandbox, name string) *node.Client {
	t.Helper()
	info, err := sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	c, err := node.Open(context.Background(), sandbox.Endpoints(info, sb.Topology(), sb.Credentials()).Admin(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
