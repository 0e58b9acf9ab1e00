package mariadbd

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Instance is a running mariadbd started by this process.
type Instance struct {
	name, dir, socket string
	port              int
	cmd               *exec.Cmd
	exited            chan struct{}
	waitErr           error // set before exited is closed
}

const (
	pollInterval = 100 * time.Millisecond
	logTailLines = 20
)

// RootDSN is the go-sql-driver DSN for root over the unix socket, no password.
func RootDSN(socket string) string {
	c := mysql.NewConfig()
	c.User = "root"
	c.Net = "unix"
	c.Addr = socket
	c.Timeout = 2 * time.Second
	return c.FormatDSN()
}

// Start creates the node's data directory if missing, writes Dir/my.cnf, starts
// mariadbd and waits (bounded by ctx) until it accepts connections on its socket;
// a Galera node must also be Synced. On failure the process is stopped and the error
// carries the tail of error.log.
func Start(ctx context.Context, b Binaries, cfg Config) (*Instance, error) {
	inst, err := launch(b, cfg)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	if err := inst.waitReady(ctx, cfg.Galera != nil); err != nil {
		_ = inst.Stop(10 * time.Second)
		return nil, fmt.Errorf("start %s (pid %d): %w\n--- tail of %s ---\n%s",
			cfg.Name, inst.Pid(), err, logPath(cfg.Dir), logTail(logPath(cfg.Dir)))
	}
	slog.Debug("mariadbd ready", "node", cfg.Name, "pid", inst.Pid(), "port", cfg.Port)
	return inst, nil
}

func launch(b Binaries, cfg Config) (*Instance, error) {
	if cfg.Dir == "" || cfg.Port <= 0 {
		return nil, errors.New("config needs Dir and Port")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	if sock := SocketPath(dir); len(sock) >= unixSocketMax {
		return nil, fmt.Errorf("socket path %s is %d bytes, longer than the unix limit of %d: use a shorter Dir",
			sock, len(sock), unixSocketMax-1)
	}
	s, err := settings(cfg, b.GaleraLib)
	if err != nil {
		return nil, err
	}
	own, err := serverOwner()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmpPath(dir), 0o750); err != nil {
		return nil, err
	}
	if err := checkTraversable(dir, own); err != nil {
		return nil, err
	}
	if err := createDataDir(b, own, dir); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cnfPath(dir), []byte(renderConfig(s)), 0o640); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath(dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	if err := chownTree(dir, own); err != nil {
		return nil, fmt.Errorf("hand %s to the %s user: %w", dir, serverUser, err)
	}

	args := []string{"--defaults-file=" + cnfPath(dir)}
	if cfg.Galera != nil && cfg.Galera.Bootstrap {
		args = append(args, "--wsrep-new-cluster")
	}
	cmd := exec.Command(b.Mariadbd, args...)
	cmd.Dir = dir
	// Early messages and SST scripts write to stderr: keep them next to the server log.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a terminal Ctrl-C reaches only the parent, which then
		// stops its servers in order.
		Setpgid: true,
		// Safety net if the parent dies without stopping us.
		Pdeathsig: syscall.SIGKILL,
	}
	if own != nil {
		// Switch user in the child before exec rather than with mariadbd's --user:
		// a credential change inside mariadbd would clear the parent-death signal.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(own.uid), Gid: uint32(own.gid)}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Mariadbd, err)
	}
	inst := &Instance{
		name:   cfg.Name,
		dir:    dir,
		socket: SocketPath(dir),
		port:   cfg.Port,
		cmd:    cmd,
		exited: make(chan struct{}),
	}
	go func() {
		inst.waitErr = cmd.Wait()
		close(inst.exited)
	}()
	// Record the pid now rather than when mariadbd gets to it (after recovery or a
	// state transfer), so StopRecorded finds a server whose owner died early.
	if err := recordPid(dir, cmd.Process.Pid, own); err != nil {
		_ = inst.Kill()
		return nil, err
	}
	slog.Debug("mariadbd started", "node", cfg.Name, "pid", cmd.Process.Pid, "dir", dir)
	return inst, nil
}

func recordPid(dir string, pid int, own *owner) error {
	path := pidPath(dir)
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("record pid: %w", err)
	}
	// mariadbd rewrites the file as the server user.
	return chownTree(path, own)
}

func (i *Instance) waitReady(ctx context.Context, galera bool) error {
	db, err := sql.Open("mysql", RootDSN(i.socket))
	if err != nil {
		return err
	}
	defer db.Close()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last error
	for {
		last = probe(ctx, db, galera)
		if last == nil {
			return nil
		}
		select {
		case <-i.exited:
			return fmt.Errorf("mariadbd exited before it was ready: %v", i.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// probe succeeds when the server answers and, for Galera, is Synced and ready.
func probe(ctx context.Context, db *sql.DB, galera bool) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		return err
	}
	if !galera {
		return nil
	}
	var state, ready string
	err := db.QueryRowContext(pctx, `SELECT
		(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'),
		(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_READY')`).Scan(&state, &ready)
	if err != nil {
		return err
	}
	if state != "Synced" || ready != "ON" {
		return fmt.Errorf("wsrep_local_state_comment=%s wsrep_ready=%s", state, ready)
	}
	return nil
}

// Pid is the server's process id.
func (i *Instance) Pid() int { return i.cmd.Process.Pid }

// Port is the server's TCP port on 127.0.0.1.
func (i *Instance) Port() int { return i.port }

// Socket is the server's unix socket.
func (i *Instance) Socket() string { return i.socket }

// Dir is the node directory.
func (i *Instance) Dir() string { return i.dir }

// Exited is closed when the process has ended and been reaped.
func (i *Instance) Exited() <-chan struct{} { return i.exited }

// Stop asks the server to shut down (SIGTERM) and waits up to timeout, then kills
// it. It returns once the process is gone.
func (i *Instance) Stop(timeout time.Duration) error {
	if err := i.signal(i.Pid(), syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-i.exited:
		slog.Debug("mariadbd stopped", "node", i.name, "pid", i.Pid())
		return nil
	case <-time.After(timeout):
	}
	slog.Warn("mariadbd did not stop in time; killing it", "node", i.name, "pid", i.Pid(), "timeout", timeout)
	return i.Kill()
}

// Kill ends the server at once (SIGKILL), together with any state-transfer helpers
// it started, and waits until it is reaped.
func (i *Instance) Kill() error {
	// The group id is our child's pid, which cannot be recycled before we reap it.
	if err := i.signal(-i.Pid(), syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-i.exited:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", i.name, i.Pid())
	}
}

func (i *Instance) signal(pid int, sig syscall.Signal) error {
	select {
	case <-i.exited:
		return nil
	default:
	}
	err := syscall.Kill(pid, sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to %s (pid %d): %w", sig, i.name, i.Pid(), err)
	}
	return nil
}

// logTail is the end of a log file, for error messages.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const window = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		if _, err := f.Seek(-window, io.SeekEnd); err != nil {
			return err.Error()
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err.Error()
	}
	return tailLines(data, logTailLines)
}

// tailLines is the last n lines of text.
func tailLines(text []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(text, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
