package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/meridian-geo/meridian/internal/census"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/mariadbd"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

// RestoreOptions say which backup goes where.
type RestoreOptions struct {
	Topology *topology.Topology
	// Backup is the backup's directory.
	Backup string
	// NodeDir is the new node's directory: its data directory (NodeDir/data,
	// as the sandbox lays nodes out) must not exist yet.
	NodeDir string
	// Region is the new node's region: it must be the backup's.
	Region string
	// ServerID is the new node's server_id.
	ServerID uint32
	// Suppression adds entries to the region's suppression list (read from
	// the estate's meridian.erasures, which outlives any backup).
	Suppression []residency.Erased
	// Replicating: the node will catch up by replication from the backup's
	// position, which replays the erasures made after the backup; those
	// are left to it (deleting them first would stop replication on a
	// missing row). Without it every erasure is applied here.
	Replicating bool
	Logger      *slog.Logger
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	Datadir  string
	Manifest Manifest
	// Erased are the suppressed users whose rows the restore deleted;
	// Deferred those left to replication.
	Erased, Deferred []int64
}

// Restore copies a backup into a new node's data directory and re-applies
// the suppression list, with a temporary server on a free loopback port
// that it stops again; the node is then ready to start and to replicate
// from the backup's GTID position (gtid_slave_pos is set to it).
func Restore(ctx context.Context, o RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m, err := ReadManifest(o.Backup)
	if err != nil {
		return res, fmt.Errorf("restore: %s is not a Meridian backup: %w", o.Backup, err)
	}
	res.Manifest = m
	if m.Region != o.Region {
		return res, fmt.Errorf("restore refused: the backup holds region %s's personal data; it may only be restored into a node of %s, not %s", m.Region, m.Region, o.Region)
	}
	datadir := filepath.Join(o.NodeDir, "data")
	if _, err := os.Stat(datadir); !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("restore: %s already exists: a restore goes into a new node", datadir)
	}
	tool, err := exec.LookPath("mariadb-backup")
	if err != nil {
		return res, fmt.Errorf("restore: mariadb-backup is not installed (Debian: apt-get install mariadb-backup): %w", err)
	}
	if err := os.MkdirAll(o.NodeDir, 0o750); err != nil {
		return res, err
	}
	if err := mariadbd.GrantTraversal(o.NodeDir); err != nil {
		return res, err
	}
	if out, err := exec.CommandContext(ctx, tool, "--copy-back", "--target-dir="+o.Backup, "--datadir="+datadir).CombinedOutput(); err != nil {
		return res, fmt.Errorf("restore: mariadb-backup --copy-back: %w\n%s", err, tail(out))
	}
	res.Datadir = datadir
	suppression, err := suppressionList(o)
	if err != nil {
		return res, err
	}
	backupPos, _ := gtid.Parse(m.GTID)

	bins, err := mariadbd.FindBinaries()
	if err != nil {
		return res, err
	}
	ports, err := mariadbd.FreePorts(1)
	if err != nil {
		return res, err
	}
	inst, err := mariadbd.Start(ctx, bins, mariadbd.Config{Name: "restore", Dir: o.NodeDir, Port: ports[0], Settings: map[string]string{
		"server_id": strconv.FormatUint(uint64(o.ServerID), 10), "skip_slave_start": "", "skip_log_bin": "",
		"innodb_immediate_scrub_data_uncompressed": "ON",
	}})
	if err != nil {
		return res, fmt.Errorf("restore: start a temporary server on %s: %w", datadir, err)
	}
	defer func() {
		if err := inst.Stop(time.Minute); err != nil {
			o.Logger.Error("restore: stop the temporary server", "pid", inst.Pid(), "err", err)
		}
	}()
	c, err := node.Open(ctx, node.Endpoint{Name: "restored", Socket: inst.Socket(), User: "root"})
	if err != nil {
		return res, err
	}
	defer c.Close()
	for _, e := range suppression {
		if o.Replicating && e.GTID != "" && !inBackup(backupPos, e.GTID) {
			res.Deferred = append(res.Deferred, e.UserID)
			continue
		}
		if err := erase(ctx, o.Topology, c, e); err != nil {
			return res, err
		}
		res.Erased = append(res.Erased, e.UserID)
	}
	if m.GTID != "" {
		if err := c.SetGlobal(ctx, "gtid_slave_pos", m.GTID); err != nil {
			return res, fmt.Errorf("restore: set gtid_slave_pos to the backup's %s: %w", m.GTID, err)
		}
	}
	o.Logger.Info("restored", "backup", o.Backup, "datadir", datadir, "gtid", m.GTID, "erased", len(res.Erased), "deferred", len(res.Deferred))
	return res, nil
}

// inBackup reports whether the erasure's GTID is already in the backup
// position (then the backup does not hold the user: nothing to replay
// either, and deleting again is a no-op).
func inBackup(backup gtid.Position, erasure string) bool {
	g, err := gtid.ParseGTID(erasure)
	if err != nil {
		return false
	}
	return backup.Contains(gtid.Position{g.Domain: g})
}

// suppressionList is the region's suppression file joined with the given
// entries.
func suppressionList(o RestoreOptions) ([]residency.Erased, error) {
	var data []byte
	if dir := o.Topology.BackupDir(o.Region); dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, residency.SuppressionFile))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("restore: read the suppression list: %w", err)
		}
		data = b
	}
	for _, e := range o.Suppression {
		line, err := e.Line()
		if err != nil {
			return nil, err
		}
		data = append(data, line...)
	}
	return residency.ParseSuppression(data)
}

// erase deletes a suppressed user's rows on the restored server.
func erase(ctx context.Context, t *topology.Topology, c *node.Client, e residency.Erased) error {
	tables, err := census.BaseTables(ctx, c)
	if err != nil {
		return err
	}
	stmts := []string{}
	for _, ut := range residency.UserTables(t, tables) {
		stmts = append(stmts, "DELETE "+ut.Where(e.UserID))
	}
	// A backup older than the directory has neither table.
	if slices.Contains(tables, residency.DirectoryTable) {
		stmts = append(stmts, "DELETE "+residency.UserRows{Table: residency.DirectoryTable, Column: "user_id"}.Where(e.UserID))
	}
	if slices.Contains(tables, residency.ErasuresTable) {
		stmts = append(stmts, fmt.Sprintf("REPLACE INTO %s (user_id, email_hash, data_region, erased_at, gtid) VALUES (%d, %s, %s, %s, %s)",
			residency.ErasuresTable, e.UserID, node.QuoteString(e.EmailHash), node.QuoteString(e.Region),
			node.QuoteString(e.At.UTC().Format("2006-01-02 15:04:05.000000")), node.QuoteString(e.GTID)))
	}
	for _, s := range stmts {
		if _, err := c.DB().ExecContext(ctx, s); err != nil {
			return fmt.Errorf("restore: suppress user %d: %s: %w", e.UserID, s, err)
		}
	}
	return nil
}
