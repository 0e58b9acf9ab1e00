package mariadbd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const recordedStopWait = 10 * time.Second

// StopRecorded stops servers left running under dir by an owner that died (kill -9):
// it finds every mariadbd.pid below dir and stops the recorded process, but only if
// its command line names that node directory, so a recycled pid is never signalled.
// SIGTERM first, SIGKILL after 10 s. It returns the pids it stopped.
func StopRecorded(dir string) ([]int, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var pids []int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a server removed its pid file while we walked
			}
			return err
		}
		if d.IsDir() && d.Name() == dataDirName && exists(cnfPath(filepath.Dir(path))) {
			return fs.SkipDir // a node's data directory: the server's files, no node dirs
		}
		if d.IsDir() || d.Name() != pidName {
			return nil
		}
		pid, ok := ourServer(filepath.Dir(path))
		if ok {
			pids = append(pids, pid)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stop recorded servers under %s: %w", root, err)
	}
	var errs []error
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("SIGTERM pid %d: %w", pid, err))
		}
	}
	deadline := time.Now().Add(recordedStopWait)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(pollInterval)
		}
		if alive(pid) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("SIGKILL pid %d: %w", pid, err))
			}
		}
	}
	return pids, errors.Join(errs...)
}

// ourServer reads the pid recorded in a node dir and confirms it is mariadbd
// started for that dir.
func ourServer(nodeDir string) (int, bool) {
	data, err := os.ReadFile(pidPath(nodeDir))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0, false
	}
	return pid, cmdlineMentions(pid, cnfPath(nodeDir))
}

func cmdlineMentions(pid int, path string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	for _, arg := range bytes.Split(cmdline, []byte{0}) {
		if strings.HasSuffix(string(arg), "="+path) || string(arg) == path {
			return true
		}
	}
	return false
}

// alive reports whether pid exists and is not a zombie: the orphan's reaper is
// init, which may lag.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may contain spaces.
	end := bytes.LastIndexByte(stat, ')')
	return end < 0 || end+2 >= len(stat) || stat[end+2] != 'Z'
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
