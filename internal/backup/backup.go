// Package backup takes a region's backups with mariadb-backup into the
// region's own backup directory, and restores one into a new node of the
// same region, re-applying the erasure suppression list so that no erased
// user comes back. Placement keeps other regions' personal rows off the
// region's nodes, so a backup of one region never holds them; the backup
// records the residency census of the node it was taken from as evidence.
package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/census"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

// ManifestFile describes a backup, beside its files.
const ManifestFile = "meridian-backup.json"

// Manifest says what a backup holds.
type Manifest struct {
	Region  string    `json:"region"`
	Node    string    `json:"node"`
	TakenAt time.Time `json:"taken_at"`
	// GTID is the position the backup is consistent at (from
	// mariadb_backup_binlog_info, or the node's position at the end of
	// the copy when it had none).
	GTID string `json:"gtid"`
	// Census is the residency audit of the node when the backup was taken:
	// its personal rows by the region they belong in.
	Census residency.NodeAudit `json:"census"`
	Tool   string              `json:"tool"`
}

// Entry is one backup found in a backup directory.
type Entry struct {
	Path     string
	Manifest Manifest
}

// List returns the backups under dir, oldest first; a missing directory
// holds none.
func List(dir string) ([]Entry, error) {
	items, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, it := range items {
		if !it.IsDir() {
			continue
		}
		path := filepath.Join(dir, it.Name())
		m, err := ReadManifest(path)
		if err != nil {
			continue // not a backup (or an unfinished one)
		}
		out = append(out, Entry{Path: path, Manifest: m})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Manifest.TakenAt.Before(out[b].Manifest.TakenAt) })
	return out, nil
}

// ReadManifest reads the manifest of the backup in dir.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return m, nil
}

// Options say which region to back up, from where.
type Options struct {
	Topology  *topology.Topology
	Endpoints provision.Endpoints
	Primaries topology.Primaries
	Region    string
	// Node is the node to copy; default: a member of the region's home
	// cluster other than its primary, else the primary.
	Node string
	// Datadirs are the nodes' data directories on this host: mariadb-backup
	// copies files, so it runs beside the node it backs up.
	Datadirs map[string]string
	// Dir is where the backup goes; default: the region's backup directory.
	Dir    string
	Logger *slog.Logger
	Now    func() time.Time
}

// Take backs the region up and returns the backup's path and manifest.
func Take(ctx context.Context, o Options) (string, Manifest, error) {
	t := o.Topology
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if _, ok := t.Region(o.Region); !ok {
		return "", Manifest{}, fmt.Errorf("backup: no region %q in the topology", o.Region)
	}
	dir := o.Dir
	if dir == "" {
		dir = t.BackupDir(o.Region)
	}
	if dir == "" {
		return "", Manifest{}, fmt.Errorf("backup: region %s has no backup directory: set regions[].backups", o.Region)
	}
	name := o.Node
	if name == "" {
		name = sourceNode(t, o.Region, o.Primaries)
	}
	if ref, ok := nodeRef(t, name); !ok || ref.Region != o.Region {
		return "", Manifest{}, fmt.Errorf("backup: node %q is not in region %s: a region's backup is taken inside it", name, o.Region)
	}
	datadir := o.Datadirs[name]
	if datadir == "" {
		return "", Manifest{}, fmt.Errorf("backup: the data directory of %s is not on this host: run the backup beside the node (--datadir)", name)
	}
	tool, err := exec.LookPath("mariadb-backup")
	if err != nil {
		return "", Manifest{}, fmt.Errorf("backup: mariadb-backup is not installed (Debian: apt-get install mariadb-backup): %w", err)
	}
	m := Manifest{Region: o.Region, Node: name, TakenAt: o.Now().UTC()}
	m.Census = census.AuditNode(ctx, t, o.Endpoints.Admin(name), o.Region)
	if m.Census.Problem != "" {
		return "", m, fmt.Errorf("backup: census of %s: %s", name, m.Census.Problem)
	}
	if report := residency.Judge(m.TakenAt, []residency.NodeAudit{m.Census}); len(report.Violations) > 0 {
		return "", m, fmt.Errorf("backup refused: %s holds personal data of another region (%s): a backup of %s must not carry it",
			name, report.Violations[0], o.Region)
	}
	target := filepath.Join(dir, o.Region+"-"+m.TakenAt.Format("20060102T150405.000Z"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", m, err
	}
	admin := o.Endpoints.Admin(name)
	defaults, cleanup, err := clientDefaults(admin)
	if err != nil {
		return "", m, err
	}
	defer cleanup()
	if out, err := exec.CommandContext(ctx, tool, "--defaults-extra-file="+defaults, "--backup",
		"--target-dir="+target, "--datadir="+datadir).CombinedOutput(); err != nil {
		return "", m, fmt.Errorf("backup: mariadb-backup --backup of %s: %w\n%s", name, err, tail(out))
	}
	if out, err := exec.CommandContext(ctx, tool, "--prepare", "--target-dir="+target).CombinedOutput(); err != nil {
		return "", m, fmt.Errorf("backup: mariadb-backup --prepare: %w\n%s", err, tail(out))
	}
	if m.GTID, err = backupGTID(ctx, target, admin); err != nil {
		return "", m, err
	}
	if version, err := exec.CommandContext(ctx, tool, "--version").CombinedOutput(); err == nil {
		m.Tool = strings.TrimSpace(string(version))
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", m, err
	}
	if err := os.WriteFile(filepath.Join(target, ManifestFile), append(data, '\n'), 0o600); err != nil {
		return "", m, err
	}
	o.Logger.Info("backup taken", "region", o.Region, "node", name, "path", target, "gtid", m.GTID)
	return target, m, nil
}

// sourceNode is the node a region's backup is taken from: a member that is
// not the primary (the backup's reads then do not compete with writes),
// else the primary.
func sourceNode(t *topology.Topology, region string, p topology.Primaries) string {
	c, ok := t.HomeCluster(region)
	if !ok {
		return ""
	}
	primary := t.ClusterPrimary(c.Name, p)
	for _, n := range c.Nodes {
		if n.Name != primary {
			return n.Name
		}
	}
	return primary
}

func nodeRef(t *topology.Topology, name string) (topology.NodeRef, bool) {
	for _, ref := range t.Nodes() {
		if ref.Name == name {
			return ref, true
		}
	}
	return topology.NodeRef{}, false
}

// clientDefaults writes the admin account into a 0600 option file, so the
// password is never on a command line.
func clientDefaults(e node.Endpoint) (string, func(), error) {
	f, err := os.CreateTemp("", "meridian-backup-*.cnf")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.Remove(f.Name()) }
	host, port, _ := strings.Cut(e.Addr, ":")
	text := "[client]\nuser=" + e.User + "\npassword=\"" + strings.ReplaceAll(e.Password, `"`, `\"`) + "\"\n"
	if e.Socket != "" {
		text += "socket=" + e.Socket + "\n"
	} else {
		text += "host=" + host + "\nport=" + port + "\nprotocol=tcp\n"
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		cleanup()
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}

// backupGTID is the GTID position the backup is consistent at. The
// binlog coordinates mariadb-backup records are exact; its GTID column is
// gtid_current_pos, which on a Galera node misses the cluster's own
// domain (written under another member's server id), so the position is
// asked of the node for those coordinates (BINLOG_GTID_POS).
func backupGTID(ctx context.Context, target string, admin node.Endpoint) (string, error) {
	var file, pos string
	for _, name := range []string{"mariadb_backup_binlog_info", "xtrabackup_binlog_info"} {
		data, err := os.ReadFile(filepath.Join(target, name))
		if err != nil {
			continue
		}
		if fields := strings.Fields(string(data)); len(fields) >= 2 {
			file, pos = fields[0], fields[1]
			break
		}
	}
	if file == "" {
		return "", fmt.Errorf("backup: %s records no binlog position: is log_bin on?", target)
	}
	c, err := node.Open(ctx, admin)
	if err != nil {
		return "", err
	}
	defer c.Close()
	var gtidPos sql.NullString
	if err := c.DB().QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", file, pos).Scan(&gtidPos); err != nil || !gtidPos.Valid {
		return "", fmt.Errorf("backup: the GTID position of %s:%s on %s: %v", file, pos, admin.Name, err)
	}
	return gtidPos.String, nil
}

func tail(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
