// Package browsertest runs Debian's headless Chromium against a page so
// tests can check what a browser actually renders: the DOM after the page's
// scripts ran, or a screenshot.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Chromium is the browser the tests run: Debian's package "chromium".
const Chromium = "/usr/bin/chromium"

// VirtualTime is how long the page's timers and fetches may run, in the
// browser's virtual time, before the DOM is dumped or the screenshot taken.
const VirtualTime = 5 * time.Second

// DumpDOM loads url in headless Chromium and returns the serialized DOM once
// VirtualTime has elapsed in the page.
func DumpDOM(ctx context.Context, url string) (string, error) {
	out, err := run(ctx, "--dump-dom", url)
	if err != nil {
		return "", fmt.Errorf("dumping the DOM of %s: %w", url, err)
	}
	return out, nil
}

// Screenshot loads url in a width×height window and writes a PNG of it to path.
func Screenshot(ctx context.Context, url, path string, width, height int) error {
	if _, err := run(ctx, "--screenshot="+path,
		"--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height),
		"--hide-scrollbars", url); err != nil {
		return fmt.Errorf("screenshot of %s: %w", url, err)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("screenshot of %s: chromium wrote no file: %w", url, err)
	}
	return nil
}

func run(ctx context.Context, args ...string) (string, error) {
	if _, err := os.Stat(Chromium); err != nil {
		return "", fmt.Errorf("%s is missing: install the Debian package chromium (apt-get install -y chromium): %w", Chromium, err)
	}
	profile, err := os.MkdirTemp("", "meridian-chromium-")
	if err != nil {
		return "", fmt.Errorf("chromium profile directory: %w", err)
	}
	defer os.RemoveAll(profile)

	cmd := exec.CommandContext(ctx, Chromium, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile,
		"--virtual-time-budget=" + strconv.FormatInt(VirtualTime.Milliseconds(), 10),
	}, args...)...)
	// Chromium forks renderer and helper processes: give them a process
	// group of their own so a timeout stops all of them, and only them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = errors.Join(err, ctxErr)
		}
		return "", fmt.Errorf("chromium: %w; stderr:\n%s", err, tail(stderr.Bytes(), 4000))
	}
	return stdout.String(), nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
