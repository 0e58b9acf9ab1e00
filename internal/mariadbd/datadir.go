package mariadbd

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// serverUser is the account mariadbd runs as when we are root: mariadbd refuses to
// run as root, and Galera's rsync SST fails under --user=root.
const serverUser = "mysql"

// owner is who mariadbd runs as: nil means the current user.
type owner struct{ uid, gid int }

func serverOwner() (*owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("running as root, mariadbd must run as the %s user: %w", serverUser, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", serverUser, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", serverUser, u.Gid, err)
	}
	return &owner{uid: uid, gid: gid}, nil
}

// templates builds each template at most once per process; the lock file in
// buildTemplate covers parallel processes (test binaries run in parallel).
var templates struct {
	sync.Mutex
	built map[string]*templateOnce
}

type templateOnce struct {
	once sync.Once
	err  error
}

// templatePath names the cache after the server binary so that an upgrade of
// mariadbd gets a fresh template.
func templatePath(b Binaries) (string, error) {
	if b.TemplateCache != "" {
		return b.TemplateCache, nil
	}
	st, err := os.Stat(b.Mariadbd)
	if err != nil {
		return "", fmt.Errorf("mariadbd binary: %w", err)
	}
	name := fmt.Sprintf("meridian-template-%d-%d-%d", os.Geteuid(), st.ModTime().Unix(), st.Size())
	return filepath.Join(os.TempDir(), name), nil
}

// ensureTemplate returns the path of an initialised data directory to copy.
func ensureTemplate(b Binaries, own *owner) (string, error) {
	path, err := templatePath(b)
	if err != nil {
		return "", err
	}
	templates.Lock()
	if templates.built == nil {
		templates.built = map[string]*templateOnce{}
	}
	t, ok := templates.built[path]
	if !ok {
		t = &templateOnce{}
		templates.built[path] = t
	}
	templates.Unlock()
	t.once.Do(func() { t.err = buildTemplate(b, own, path) })
	return path, t.err
}

func buildTemplate(b Binaries, own *owner, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("template cache: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("template lock: %w", err)
	}
	defer lock.Close() // releases the flock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("template lock %s: %w", lock.Name(), err)
	}
	// The template appears only by rename, so an existing one is complete.
	if exists(filepath.Join(path, "mysql")) {
		return nil
	}
	building := path + ".building"
	if err := os.RemoveAll(building); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	args := []string{
		"--no-defaults",
		"--datadir=" + building,
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--innodb-log-file-size=" + redoLogSize,
	}
	if own != nil {
		args = append(args, "--user="+serverUser)
	}
	var out bytes.Buffer
	cmd := exec.Command(b.InstallDB, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %v: %w\n%s", b.InstallDB, args, err, tailLines(out.Bytes(), 20))
	}
	if err := os.Rename(building, path); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	return nil
}

// createDataDir gives dir a data directory copied from the template unless it has
// one already (a restart keeps its data). The copy appears by rename, so an
// interrupted copy is never mistaken for a data directory.
func createDataDir(b Binaries, own *owner, dir string) error {
	data := dataDir(dir)
	if exists(filepath.Join(data, "mysql")) {
		return nil
	}
	if exists(data) {
		return fmt.Errorf("%s exists but holds no mysql system schema: remove it or choose another dir", data)
	}
	tpl, err := ensureTemplate(b, own)
	if err != nil {
		return fmt.Errorf("initialise data directory template: %w", err)
	}
	partial := data + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return err
	}
	if err := copyTree(tpl, partial); err != nil {
		return fmt.Errorf("copy template %s to %s: %w", tpl, partial, err)
	}
	return os.Rename(partial, data)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type().IsRegular():
			return copyFile(path, target, info.Mode().Perm())
		default:
			return fmt.Errorf("%s: unexpected file type %v", path, d.Type())
		}
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// chownTree hands the node directory to the server user.
func chownTree(dir string, own *owner) error {
	if own == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, own.uid, own.gid)
	})
}

// checkTraversable fails when the server user cannot reach dir: every ancestor
// needs search (x) permission for it.
func checkTraversable(dir string, own *owner) error {
	if own == nil {
		return nil
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no ownership information", p)
		}
		mode := st.Mode().Perm()
		canSearch := mode&0o001 != 0 ||
			int(sys.Uid) == own.uid && mode&0o100 != 0 ||
			int(sys.Gid) == own.gid && mode&0o010 != 0
		if !canSearch {
			return fmt.Errorf("mariadbd runs as the %s user, which cannot enter %s (mode %v): "+
				"run chmod o+x %s (see GrantTraversal) or use a directory it can reach", serverUser, p, mode, p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// GrantTraversal adds search permission for others (o+x, not read) to dir and to
// each of its ancestors lacking it, so that mariadbd running as the mysql user can
// reach node directories under dir. Tests need it: t.TempDir() makes 0700 dirs.
func GrantTraversal(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if mode := st.Mode(); mode.Perm()&0o001 == 0 {
			keep := mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			if err := os.Chmod(p, keep|0o001); err != nil {
				return fmt.Errorf("grant traversal: %w", err)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
