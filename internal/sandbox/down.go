package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meridian-geo/meridian/internal/mariadbd"
)

// ownerAlive reports the pid recorded in DIR/owner.pid and whether that pid
// is still a meridian process (a recycled pid running something else is not).
func ownerAlive(dir string) (int, bool) {
	data, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return pid, false
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	self, _ := os.Executable()
	return pid, strings.Contains(string(cmdline), "sandbox") || exe == self
}

// Down stops the sandbox in dir: it asks a live owner to shut down (SIGTERM,
// the same as Ctrl-C), and stops by pid whatever a dead owner left behind.
// Data directories are kept. It returns the pids it stopped.
func Down(dir string, timeout time.Duration) ([]int, error) {
	var stopped []int
	if pid, alive := ownerAlive(dir); alive && pid != os.Getpid() {
		if err := syscall.Kill(pid, syscall.SIGTERM); err == nil {
			deadline := time.Now().Add(timeout)
			for time.Now().Before(deadline) {
				if _, still := ownerAlive(dir); !still {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if _, still := ownerAlive(dir); still {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			stopped = append(stopped, pid)
		}
	}
	leftovers, err := mariadbd.StopRecorded(dir)
	stopped = append(stopped, leftovers...)
	for _, f := range []string{InfoFile, ownerFile, controlSocket} {
		os.Remove(filepath.Join(dir, f))
	}
	return stopped, err
}
