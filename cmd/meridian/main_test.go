package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/sandbox"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meridian-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "meridian")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build meridian: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startSandbox runs `meridian sandbox up` as a child process and waits for
// sandbox.json; the cleanup stops it by pid whatever happens in the test.
func startSandbox(t *testing.T, dir string) (*exec.Cmd, *sandbox.Info, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary, "sandbox", "up", "-f", "examples/active-passive.yaml", "--dir", dir, "--fresh")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
		}
		sandbox.Down(dir, 20*time.Second)
	})
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if info, err := sandbox.ReadInfo(dir); err == nil {
			return cmd, info, out
		}
		select {
		case <-exited:
			t.Fatalf("sandbox up exited early:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("sandbox not ready after 2 minutes:\n%s", out.String())
	return nil, nil, nil
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func pids(info *sandbox.Info) []int {
	var out []int
	for _, n := range info.Nodes {
		out = append(out, n.Pid)
	}
	return out
}

func waitGone(t *testing.T, what string, pids []int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("%s: pid %d still running", what, pid)
		}
	}
}

func meridian(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("meridian %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestSandboxSIGTERMStopsEverything(t *testing.T) {
	dir := t.TempDir()
	cmd, info, out := startSandbox(t, dir)
	if !strings.Contains(out.String(), "Sandbox ready") {
		t.Errorf("no human summary printed:\n%s", out)
	}
	if info.Credentials.User != "app" || info.Credentials.Password == "" || len(info.Nodes) == 0 || info.Nodes[0].Port == 0 {
		t.Errorf("sandbox.json incomplete: %+v", info)
	}

	// The chaos verbs reach the running sandbox through its control socket.
	victim := info.Nodes[len(info.Nodes)-1]
	meridian(t, "sandbox", "kill", victim.Name, "--dir", dir)
	waitGone(t, "sandbox kill", []int{victim.Pid}, 10*time.Second)
	meridian(t, "sandbox", "start", victim.Name, "--dir", dir)
	restarted, err := sandbox.ReadInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := restarted.Node(victim.Name); !n.Running || n.Pid == victim.Pid || !alive(n.Pid) {
		t.Errorf("node %s not restarted: %+v", victim.Name, n)
	}
	// The operator's commands reach the sandbox's controller.
	if out, err := exec.Command(binary, "failover", "--region", "us", "--sandbox", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "switchover") {
		t.Errorf("failover of a live primary without --force: %v\n%s", err, out)
	}
	meridian(t, "switchover", "--to", "us", "--sandbox", dir)
	if plan := meridian(t, "plan", "--sandbox", dir); !strings.Contains(plan, "No changes") {
		t.Errorf("plan after a switchover must keep the controller's primaries:\n%s", plan)
	}
	if audit := meridian(t, "audit", "--sandbox", dir); !strings.Contains(audit, "switchover") {
		t.Errorf("audit after a switchover:\n%s", audit)
	}
	meridian(t, "ack", "eu-main", "--sandbox", dir)
	meridian(t, "sandbox", "partition", info.Nodes[0].Region, victim.Region, "--dir", dir)
	meridian(t, "sandbox", "heal", "--dir", dir)
	meridian(t, "sandbox", "latency", info.Nodes[0].Region, victim.Region, "120ms", "--dir", dir)
	if status := meridian(t, "status", "--sandbox", dir); !strings.Contains(status, victim.Name) {
		t.Errorf("status does not list %s:\n%s", victim.Name, status)
	}
	if plan := meridian(t, "plan", "--sandbox", dir); !strings.Contains(plan, "No changes") {
		t.Errorf("plan on a converged sandbox:\n%s", plan)
	}

	all := pids(restarted)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "after SIGTERM", append(all, cmd.Process.Pid), 40*time.Second)
	if _, err := os.Stat(filepath.Join(dir, sandbox.InfoFile)); !os.IsNotExist(err) {
		t.Errorf("sandbox.json left behind after SIGTERM (err %v)", err)
	}
}

func TestSandboxDownAfterKill9(t *testing.T) {
	dir := t.TempDir()
	cmd, info, _ := startSandbox(t, dir)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "owner after kill -9", []int{cmd.Process.Pid}, 10*time.Second)
	meridian(t, "sandbox", "down", "--dir", dir)
	waitGone(t, "after sandbox down", pids(info), 30*time.Second)
	if _, err := sandbox.ReadInfo(dir); err == nil {
		t.Error("sandbox.json still present after down")
	}
}
