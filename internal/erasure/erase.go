// Package erasure carries out a right-to-erasure request on the servers:
// it finds the user's data region through the users directory, deletes the
// user's rows from every personal table there and the directory entry
// everywhere, and proves it: rows left per node, and which files (binary
// logs, relay logs, Galera caches, InnoDB files) still hold the user's row
// images, purged on request once every replica is past them. The user goes
// on the suppression list that restores re-apply, and the erasure is
// audited.
package erasure

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/backup"
	"github.com/meridian-geo/meridian/internal/bytescan"
	"github.com/meridian-geo/meridian/internal/census"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Options say whom to erase, where, and how far to go.
type Options struct {
	Topology  *topology.Topology
	Endpoints provision.Endpoints
	// EndpointsIn, when set, is how a process placed in a region reaches
	// the nodes: once the user's region is known the erasure acts from
	// there, so reading the user's rows moves no personal byte across a
	// link.
	EndpointsIn func(region string) (provision.Endpoints, error)
	// Primaries are the controller's (after a failover the region's
	// primary is not the file's).
	Primaries topology.Primaries
	// Email or UserID names the user.
	Email  string
	UserID int64
	// PurgeLogs rotates and purges the logs that hold the user's row
	// images, once every replica is past them, and overwrites what InnoDB
	// and Galera keep of them.
	PurgeLogs bool
	// Datadirs are the nodes' data directories where this process can read
	// them (a sandbox's), for the file search; other nodes' files are
	// reported as not inspected.
	Datadirs map[string]string
	// WaitTimeout bounds each wait: for the erasure to reach every node,
	// for a replica to pass a log (default 2 minutes).
	WaitTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Report proves an erasure: it names no personal value, only the user's id
// and email hash, and fingerprints of the values it searched for.
type Report struct {
	UserID    int64     `json:"user_id"`
	EmailHash string    `json:"email_hash"`
	Region    string    `json:"region"`
	Primary   string    `json:"primary"`
	At        time.Time `json:"at"`
	// GTID is the erasure's transaction.
	GTID string `json:"gtid"`
	// AlreadyErased: the user was on the suppression list already.
	AlreadyErased bool `json:"already_erased,omitempty"`
	// Deleted counts the rows deleted, by table.
	Deleted map[string]int64 `json:"deleted"`
	// Searched are fingerprints of the values searched for in files.
	Searched []string     `json:"searched"`
	Nodes    []NodeReport `json:"nodes"`
	// Backups are the region's backups taken before the erasure: they
	// still hold the user; restores re-apply the suppression list.
	Backups []string `json:"backups_predating"`
	// Suppression is the suppression list the user was added to.
	Suppression string        `json:"suppression_list,omitempty"`
	Duration    time.Duration `json:"duration"`
}

// NodeReport is one node after the erasure.
type NodeReport struct {
	Node   string `json:"node"`
	Region string `json:"region"`
	// Applied: the erasure's transaction reached the node.
	Applied bool `json:"applied"`
	// RowsLeft counts the user's rows still there, by table (the
	// directory included); all must be 0.
	RowsLeft map[string]int64 `json:"rows_left"`
	// Files are the files that held the user's values before any purge.
	Files []FileReport `json:"files"`
	// Inspected: the node's files could be searched.
	Inspected bool     `json:"inspected"`
	Purge     []string `json:"purge,omitempty"`
	Problem   string   `json:"problem,omitempty"`
}

// FileReport is one file that held the user's values.
type FileReport struct {
	Path string `json:"path"`
	Kind string `json:"kind"`
	// Gone: after the purge the file no longer holds any of them.
	Gone bool `json:"gone"`
}

// Clean reports whether the erasure is proven everywhere: every node
// applied it, holds no row and (when its files were searched and a purge
// was asked) no file holding the user's values.
func (r Report) Clean(purged bool) bool {
	for _, n := range r.Nodes {
		if !n.Applied || n.Problem != "" {
			return false
		}
		for _, rows := range n.RowsLeft {
			if rows != 0 {
				return false
			}
		}
		for _, f := range n.Files {
			if purged && !f.Gone {
				return false
			}
		}
	}
	return true
}

// user is the directory's entry of the user to erase.
type user struct {
	id        int64
	emailHash string
	region    string
}

// Erase carries out the erasure and returns its report. An error means the
// erasure did not happen (the user is unknown, the region's primary cannot
// be reached); problems after the deletion are in the report.
func Erase(ctx context.Context, o Options) (*Report, error) {
	t := o.Topology
	if t.Users == nil {
		return nil, errors.New("erase: the topology declares no users table (users: {table, id, email, country})")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = 2 * time.Minute
	}
	started := time.Now()
	u, erased, err := findUser(ctx, o)
	if err != nil {
		return nil, err
	}
	if o.EndpointsIn != nil {
		if o.Endpoints, err = o.EndpointsIn(u.region); err != nil {
			return nil, err
		}
	}
	r := &Report{UserID: u.id, EmailHash: u.emailHash, Region: u.region, At: o.Now(), Deleted: map[string]int64{}}
	if erased != nil {
		r.AlreadyErased, r.GTID, r.At = true, erased.GTID, erased.At
	}
	r.Primary = t.LinkNodeFor(u.region, o.Primaries)
	if r.Primary == "" {
		return nil, fmt.Errorf("erase: region %q of user %d has no cluster in the topology", u.region, u.id)
	}
	primary, err := o.open(ctx, r.Primary)
	if err != nil {
		return nil, fmt.Errorf("erase: the primary of region %s: %w", u.region, err)
	}
	defer primary.Close()
	tables, err := userTables(ctx, t, primary)
	if err != nil {
		return nil, err
	}
	needles, err := readValues(ctx, primary, tables, u.id, o.Email)
	if err != nil {
		return nil, err
	}
	for _, n := range needles {
		r.Searched = append(r.Searched, residency.Fingerprint(n))
	}
	if o.PurgeLogs {
		// Deleted rows are zeroed when InnoDB purges them only if this is on
		// before the delete (plan/apply sets it when personal tables exist).
		forEachNode(ctx, o, u.region, func(c *node.Client) error {
			return c.SetGlobal(ctx, "innodb_immediate_scrub_data_uncompressed", "ON")
		})
	}
	if !r.AlreadyErased {
		if r.GTID, err = deleteUser(ctx, primary, tables, u, r.Deleted); err != nil {
			return nil, err
		}
		r.At = o.Now()
	}
	pos, err := gtid.Parse(r.GTID)
	if err != nil {
		pos = nil
	}
	r.Nodes = observe(ctx, o, tables, u.id, pos, needles)
	if o.PurgeLogs {
		purgeAll(ctx, o, r, needles)
	}
	r.Backups = backupsBefore(t.BackupDir(u.region), r.At, o.Logger)
	if !r.AlreadyErased {
		r.Suppression = record(o, u, r)
	}
	r.Duration = time.Since(started)
	return r, nil
}

// findUser looks the user up in the directory of the first node that
// answers, and on the suppression list (meridian.erasures) when the
// directory no longer has them.
func findUser(ctx context.Context, o Options) (user, *residency.Erased, error) {
	var where string
	var arg any
	switch {
	case o.Email != "":
		where, arg = "email_hash = ?", residency.EmailHash(o.Email)
	case o.UserID != 0:
		where, arg = "user_id = ?", o.UserID
	default:
		return user{}, nil, errors.New("erase: give an email or a user id")
	}
	var problems []error
	for _, ref := range o.Topology.Nodes() {
		c, err := node.Open(ctx, o.Endpoints.Admin(ref.Name))
		if err != nil {
			problems = append(problems, err)
			continue
		}
		u, erased, err := lookup(ctx, c, where, arg)
		c.Close()
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if u.id == 0 {
			return user{}, nil, fmt.Errorf("erase: no such user in %s (nor in %s)", residency.DirectoryTable, residency.ErasuresTable)
		}
		return u, erased, nil
	}
	return user{}, nil, fmt.Errorf("erase: no node could look the user up: %w", errors.Join(problems...))
}

func lookup(ctx context.Context, c *node.Client, where string, arg any) (user, *residency.Erased, error) {
	var u user
	err := c.DB().QueryRowContext(ctx, "SELECT user_id, email_hash, data_region FROM "+residency.DirectoryTable+" WHERE "+where+" LIMIT 1", arg).
		Scan(&u.id, &u.emailHash, &u.region)
	if err == nil {
		return u, nil, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return u, nil, fmt.Errorf("node %s: %w", c.Name(), err)
	}
	var e residency.Erased
	err = c.DB().QueryRowContext(ctx, "SELECT user_id, email_hash, data_region, erased_at, gtid FROM "+residency.ErasuresTable+" WHERE "+where+" LIMIT 1", arg).
		Scan(&e.UserID, &e.EmailHash, &e.Region, &e.At, &e.GTID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return user{}, nil, nil
	case err != nil:
		return u, nil, fmt.Errorf("node %s: %w", c.Name(), err)
	}
	return user{id: e.UserID, emailHash: e.EmailHash, region: e.Region}, &e, nil
}

// userTables are the personal tables of the region's primary holding a
// user's rows.
func userTables(ctx context.Context, t *topology.Topology, c *node.Client) ([]residency.UserRows, error) {
	names, err := census.BaseTables(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("erase: %w", err)
	}
	return residency.UserTables(t, names), nil
}

// readValues reads the user's rows for the file search; the values stay
// in memory, never in the report.
func readValues(ctx context.Context, c *node.Client, tables []residency.UserRows, id int64, email string) ([][]byte, error) {
	values := []string{email}
	for _, ut := range tables {
		rows, err := c.DB().QueryContext(ctx, "SELECT * "+ut.Where(id))
		if err != nil {
			return nil, fmt.Errorf("erase: read the user's rows of %s: %w", ut.Table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			raw := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range raw {
				ptrs[i] = &raw[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, err
			}
			for _, v := range raw {
				values = append(values, string(v))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return residency.Needles(values), nil
}

// deleteUser deletes the user's rows, the directory entry and records the
// erasure in one transaction on the region's primary, and returns its GTID.
func deleteUser(ctx context.Context, c *node.Client, tables []residency.UserRows, u user, deleted map[string]int64) (string, error) {
	conn, err := c.DB().Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	for _, ut := range tables {
		res, err := tx.ExecContext(ctx, "DELETE "+ut.Where(u.id))
		if err != nil {
			return "", fmt.Errorf("erase: delete from %s: %w", ut.Table, err)
		}
		n, _ := res.RowsAffected()
		deleted[ut.Table] = n
	}
	for _, stmt := range []string{
		"DELETE FROM " + residency.DirectoryTable + " WHERE user_id = ?",
		"REPLACE INTO " + residency.ErasuresTable + " (user_id, email_hash, data_region) VALUES (?, ?, ?)",
	} {
		args := []any{u.id}
		if strings.HasPrefix(stmt, "REPLACE") {
			args = append(args, u.emailHash, u.region)
		}
		if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
			return "", fmt.Errorf("erase: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("erase: commit: %w", err)
	}
	var last string
	if err := conn.QueryRowContext(ctx, "SELECT @@session.last_gtid").Scan(&last); err != nil {
		return "", fmt.Errorf("erase: read the erasure's GTID: %w", err)
	}
	// The GTID is known only after the commit: a second, tiny transaction
	// writes it beside the entry, for restores to compare with a backup's.
	if _, err := conn.ExecContext(ctx, "UPDATE "+residency.ErasuresTable+" SET gtid = ? WHERE user_id = ?", last, u.id); err != nil {
		return "", fmt.Errorf("erase: record the erasure's GTID: %w", err)
	}
	return last, nil
}

// observe checks every node: the erasure applied, no row left, and which
// files hold the user's values.
func observe(ctx context.Context, o Options, tables []residency.UserRows, id int64, pos gtid.Position, needles [][]byte) []NodeReport {
	refs := o.Topology.Nodes()
	out := make([]NodeReport, len(refs))
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Go(func() {
			out[i] = observeNode(ctx, o, ref, tables, id, pos, needles)
		})
	}
	wg.Wait()
	return out
}

func observeNode(ctx context.Context, o Options, ref topology.NodeRef, tables []residency.UserRows, id int64, pos gtid.Position, needles [][]byte) NodeReport {
	nr := NodeReport{Node: ref.Name, Region: ref.Region, RowsLeft: map[string]int64{}}
	c, err := node.Open(ctx, o.Endpoints.Admin(ref.Name))
	if err != nil {
		nr.Problem = err.Error()
		return nr
	}
	defer c.Close()
	if nr.Applied, err = waitApplied(ctx, c, pos, o.WaitTimeout); err != nil {
		nr.Problem = err.Error()
		return nr
	}
	for _, ut := range append(tables, residency.UserRows{Table: residency.DirectoryTable, Column: "user_id"}) {
		var n int64
		if err := c.DB().QueryRowContext(ctx, "SELECT COUNT(*) "+ut.Where(id)).Scan(&n); err != nil {
			nr.Problem = fmt.Sprintf("count the rows left in %s: %v", ut.Table, err)
			return nr
		}
		nr.RowsLeft[ut.Table] = n
	}
	dir := o.Datadirs[ref.Name]
	if dir == "" {
		return nr
	}
	files, err := holding(dir, needles)
	if err != nil {
		nr.Problem = err.Error()
		return nr
	}
	nr.Inspected = true
	for _, f := range files {
		nr.Files = append(nr.Files, FileReport{Path: f, Kind: residency.FileKind(f)})
	}
	return nr
}

// holding lists the files under dir holding any of the needles.
func holding(dir string, needles [][]byte) ([]string, error) {
	hits, err := bytescan.Dir(dir, needles)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, h := range hits {
		if len(files) == 0 || files[len(files)-1] != h.Path {
			files = append(files, h.Path)
		}
	}
	return files, nil
}

// waitApplied waits until the node holds pos (in its binlog or as a
// replica: a relayed transaction can arrive empty and never be logged).
func waitApplied(ctx context.Context, c *node.Client, pos gtid.Position, timeout time.Duration) (bool, error) {
	if len(pos) == 0 {
		return true, nil
	}
	deadline := time.Now().Add(timeout)
	for {
		st, err := c.GTIDState(ctx)
		if err != nil {
			return false, err
		}
		if gtid.Furthest(st.Binlog, st.Slave).Contains(pos) {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// forEachNode runs fn on every reachable node of region, logging failures.
func forEachNode(ctx context.Context, o Options, region string, fn func(*node.Client) error) {
	for _, ref := range o.Topology.Nodes() {
		if ref.Region != region {
			continue
		}
		c, err := node.Open(ctx, o.Endpoints.Admin(ref.Name))
		if err != nil {
			o.Logger.Warn("erase: node unreachable", "node", ref.Name, "err", err)
			continue
		}
		if err := fn(c); err != nil {
			o.Logger.Warn("erase", "node", ref.Name, "err", err)
		}
		c.Close()
	}
}

// record appends the user to the region's suppression list and the
// erasure to the region's erasure audit, both in the region's backup
// directory; it returns the list's path ("" when the region declares no
// backup directory: the erasures table alone then keeps the list).
func record(o Options, u user, r *Report) string {
	dir := o.Topology.BackupDir(u.region)
	if dir == "" {
		o.Logger.Warn("erase: region has no backup directory (regions[].backups): the suppression list lives in " + residency.ErasuresTable + " only")
		return ""
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		o.Logger.Error("erase: suppression list not written", "err", err)
		return ""
	}
	path := filepath.Join(dir, residency.SuppressionFile)
	line, err := residency.Erased{UserID: u.id, EmailHash: u.emailHash, Region: u.region, At: r.At, GTID: r.GTID}.Line()
	if err == nil {
		err = appendLine(path, line)
	}
	if err != nil {
		o.Logger.Error("erase: suppression list not written", "path", path, "err", err)
		return ""
	}
	log, err := audit.Open(filepath.Join(dir, AuditFile), 1)
	if err == nil {
		err = log.Record(audit.Entry{Time: r.At, Kind: "erasure", Detail: auditDetail(r)})
		log.Close()
	}
	if err != nil {
		o.Logger.Error("erase: erasure not audited", "err", err)
	}
	return path
}

// AuditFile is the erasure audit in a region's backup directory.
const AuditFile = "erasure-audit.jsonl"

func auditDetail(r *Report) map[string]any {
	return map[string]any{"user_id": r.UserID, "email_hash": r.EmailHash, "region": r.Region, "gtid": r.GTID,
		"deleted": r.Deleted, "primary": r.Primary}
}

func appendLine(path string, line []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// backupsBefore lists the region's backups taken before the erasure: they
// still hold the user, and restores re-apply the suppression list.
func backupsBefore(dir string, at time.Time, log *slog.Logger) []string {
	entries, err := backup.List(dir)
	if err != nil {
		log.Warn("erase: list the region's backups", "dir", dir, "err", err)
	}
	out := []string{}
	for _, e := range entries {
		if e.Manifest.TakenAt.Before(at) {
			out = append(out, e.Path)
		}
	}
	return out
}

// open connects to a node for statements that may wait long (the deletion
// of a user with many rows, InnoDB's purge, a log resize): the endpoint's
// read timeout, meant for probes, is raised to the erasure's wait bound.
func (o Options) open(ctx context.Context, name string) (*node.Client, error) {
	e := o.Endpoints.Admin(name)
	e.Timeout = max(e.Timeout, o.WaitTimeout)
	return node.Open(ctx, e)
}
