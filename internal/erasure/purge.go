package erasure

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

// What each kind of file needs to let go of deleted row images:
//   - binary logs: rotate, then purge the old files once every replica of
//     the node has read past them;
//   - relay logs: rotate each connection's; the applier deletes the old
//     file once it has applied it (relay_log_purge);
//   - InnoDB: deleted rows are zeroed when purged
//     (innodb_immediate_scrub_data_uncompressed), then the dirty pages are
//     flushed, and the redo log, a ring that still holds the insert, is
//     rewritten by resizing it and back;
//   - the Galera cache, a ring of write sets: filler write sets go round
//     it twice (outside the binary log, so they stay in the cluster).

// purgeAll purges what holds the user's values, then searches again.
func purgeAll(ctx context.Context, o Options, r *Report, needles [][]byte) {
	targets := map[string]map[string]bool{} // node -> kinds to purge
	for _, n := range r.Nodes {
		kinds := map[string]bool{}
		switch {
		case n.Inspected:
			for _, f := range n.Files {
				kinds[f.Kind] = true
			}
		case n.Region == r.Region:
			// Files not readable from here: purge everything that may hold it.
			for _, k := range []string{residency.FileBinlog, residency.FileRelayLog, residency.FileGalera, residency.FileRedo, residency.FileTablespace} {
				kinds[k] = true
			}
		}
		if len(kinds) > 0 {
			targets[n.Node] = kinds
		}
	}
	actions := map[string][]string{}
	add := func(nodeName, action string) { actions[nodeName] = append(actions[nodeName], action) }
	for _, cluster := range galeraClusters(o.Topology, targets) {
		name, action := fillGaleraCache(ctx, o, cluster)
		add(name, action)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	layout := o.Topology.LayoutFor(o.Now(), o.Primaries)
	for nodeName, kinds := range targets {
		wg.Go(func() {
			done := purgeNode(ctx, o, layout, nodeName, kinds)
			mu.Lock()
			actions[nodeName] = append(actions[nodeName], done...)
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := range r.Nodes {
		n := &r.Nodes[i]
		n.Purge = actions[n.Node]
		dir := o.Datadirs[n.Node]
		if !n.Inspected || dir == "" {
			continue
		}
		left, err := holding(dir, needles)
		if err != nil {
			n.Problem = err.Error()
			continue
		}
		for j := range n.Files {
			n.Files[j].Gone = !slices.Contains(left, n.Files[j].Path)
		}
		for _, f := range left {
			if !slices.ContainsFunc(n.Files, func(x FileReport) bool { return x.Path == f }) {
				n.Files = append(n.Files, FileReport{Path: f, Kind: residency.FileKind(f)})
			}
		}
	}
}

// galeraClusters are the Galera clusters one of whose targets holds the
// user's values in its cache.
func galeraClusters(t *topology.Topology, targets map[string]map[string]bool) []string {
	var out []string
	for _, ref := range t.Nodes() {
		if ref.ClusterKind == topology.Galera && targets[ref.Name][residency.FileGalera] && !slices.Contains(out, ref.Cluster) {
			out = append(out, ref.Cluster)
		}
	}
	return out
}

func purgeNode(ctx context.Context, o Options, layout topology.Layout, name string, kinds map[string]bool) []string {
	c, err := o.open(ctx, name)
	if err != nil {
		return []string{"not purged: " + err.Error()}
	}
	defer c.Close()
	var done []string
	if kinds[residency.FileBinlog] {
		done = append(done, purgeBinlogs(ctx, o, layout, c))
	}
	if kinds[residency.FileRelayLog] {
		done = append(done, rotateRelayLogs(ctx, o, c))
	}
	if kinds[residency.FileTablespace] || kinds[residency.FileSystem] || kinds[residency.FileRedo] || kinds[residency.FileGalera] {
		done = append(done, scrubInnoDB(ctx, o, c)...)
	}
	return done
}

// purgeBinlogs rotates the node's binary log and purges the older files,
// once every replica the layout gives the node has everything it logged.
func purgeBinlogs(ctx context.Context, o Options, layout topology.Layout, c *node.Client) string {
	if _, err := c.DB().ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return "binary logs not purged: " + err.Error()
	}
	var file string
	var pos any
	var rest [3]any
	if err := c.DB().QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&file, &pos, &rest[0], &rest[1]); err != nil {
		return "binary logs not purged: SHOW MASTER STATUS: " + err.Error()
	}
	st, err := c.GTIDState(ctx)
	if err != nil {
		return "binary logs not purged: " + err.Error()
	}
	for _, ch := range layout.Channels {
		if ch.Source != c.Name() {
			continue
		}
		want := st.Binlog
		if len(ch.DoDomainIDs) > 0 {
			want = only(want, ch.DoDomainIDs)
		}
		rc, err := node.Open(ctx, o.Endpoints.Admin(ch.Replica))
		if err != nil {
			return fmt.Sprintf("binary logs kept: replica %s unreachable (%v): it may still need them", ch.Replica, err)
		}
		ok, err := waitApplied(ctx, rc, want, o.WaitTimeout)
		rc.Close()
		if err != nil || !ok {
			return fmt.Sprintf("binary logs kept: replica %s has not read up to %s", ch.Replica, want)
		}
	}
	// MariaDB keeps a file until its binlog checkpoint passed it (InnoDB
	// made the commits durable) and no dump thread reads it: try again for
	// a while, as both move on by themselves.
	deadline := time.Now().Add(o.WaitTimeout)
	for {
		if _, err := c.DB().ExecContext(ctx, "PURGE BINARY LOGS TO "+node.QuoteString(file)); err != nil {
			return "binary logs not purged: " + err.Error()
		}
		first, err := firstBinlog(ctx, c)
		if err != nil {
			return "binary logs purged, not confirmed: " + err.Error()
		}
		if first == file {
			return "binary logs rotated and purged up to " + file
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("binary logs kept from %s: the server still needs them (binlog checkpoint or a reader)", first)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// firstBinlog is the oldest binary log file the node keeps.
func firstBinlog(ctx context.Context, c *node.Client) (string, error) {
	rows, err := c.DB().QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		return "", errors.Join(rows.Err(), errors.New("no binary log"))
	}
	vals := make([]any, len(cols))
	var name string
	vals[0] = &name
	for i := 1; i < len(vals); i++ {
		vals[i] = new(any)
	}
	return name, rows.Scan(vals...)
}

// only keeps the domains of p in domains.
func only(p gtid.Position, domains []uint32) gtid.Position {
	out := gtid.Position{}
	for d, g := range p {
		if slices.Contains(domains, d) {
			out[d] = g
		}
	}
	return out
}

// rotateRelayLogs rotates every replication connection's relay log and
// waits for the appliers to leave (and so delete) the old files.
func rotateRelayLogs(ctx context.Context, o Options, c *node.Client) string {
	replicas, err := c.Replicas(ctx)
	if err != nil {
		return "relay logs not rotated: " + err.Error()
	}
	var rotated []string
	for _, rs := range replicas {
		before := rs.RelayLogFile
		if _, err := c.DB().ExecContext(ctx, "FLUSH RELAY LOGS "+node.QuoteString(rs.Connection)); err != nil {
			return "relay logs not rotated: " + err.Error()
		}
		deadline := time.Now().Add(o.WaitTimeout)
		for {
			now, err := c.Replicas(ctx)
			if err != nil {
				return "relay logs rotated, not confirmed: " + err.Error()
			}
			i := slices.IndexFunc(now, func(x node.ReplicaStatus) bool { return x.Connection == rs.Connection })
			if i < 0 || now[i].RelayLogFile != before {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Sprintf("relay log %s of connection '%s' still being applied", before, rs.Connection)
			}
			time.Sleep(100 * time.Millisecond)
		}
		rotated = append(rotated, "'"+rs.Connection+"'")
	}
	return "relay logs rotated: " + strings.Join(rotated, ", ")
}

// scrubInnoDB waits for InnoDB's purge (which zeroes the deleted rows),
// writes the dirty pages out, and rewrites the redo log.
func scrubInnoDB(ctx context.Context, o Options, c *node.Client) []string {
	var done []string
	if _, err := c.DB().ExecContext(ctx, "SET GLOBAL innodb_max_purge_lag_wait = 0"); err != nil {
		return append(done, "InnoDB purge not awaited: "+err.Error())
	}
	done = append(done, "InnoDB purged the deleted rows (zeroed: innodb_immediate_scrub_data_uncompressed)")
	msg, err := flushDirtyPages(ctx, o, c)
	if err != nil {
		return append(done, "dirty pages not flushed: "+err.Error())
	}
	done = append(done, msg)
	vars, err := c.Variables(ctx, "innodb_log_file_size")
	if err != nil {
		return append(done, "redo log not rewritten: "+err.Error())
	}
	size, err := strconv.ParseInt(vars["innodb_log_file_size"], 10, 64)
	if err != nil {
		return append(done, "redo log not rewritten: "+err.Error())
	}
	for _, s := range []int64{size + 1<<20, size} {
		if err := resizeRedo(ctx, o, c, s); err != nil {
			return append(done, "redo log not rewritten: "+err.Error())
		}
	}
	return append(done, "redo log rewritten (resized and back to "+strconv.FormatInt(size>>20, 10)+" MiB)")
}

// flushDirtyPages writes out every page modified before now (the zeroed
// rows among them): it lowers innodb_max_dirty_pages_pct to 0 until a
// checkpoint passes the current log sequence number. Waiting for no dirty
// page at all would never end on a node that keeps taking writes.
func flushDirtyPages(ctx context.Context, o Options, c *node.Client) (string, error) {
	target, err := statusInt(ctx, c, "Innodb_lsn_current")
	if err != nil {
		return "", err
	}
	vars, err := c.Variables(ctx, "innodb_max_dirty_pages_pct")
	if err != nil {
		return "", err
	}
	if err := c.SetGlobal(ctx, "innodb_max_dirty_pages_pct", "0"); err != nil {
		return "", err
	}
	defer c.SetGlobal(context.WithoutCancel(ctx), "innodb_max_dirty_pages_pct", vars["innodb_max_dirty_pages_pct"])
	deadline := time.Now().Add(o.WaitTimeout)
	for {
		checkpoint, err := statusInt(ctx, c, "Innodb_lsn_last_checkpoint")
		if err != nil {
			return "", err
		}
		if checkpoint >= target {
			return "pages written out (checkpoint past the purge)", nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no checkpoint past LSN %d yet", target)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func statusInt(ctx context.Context, c *node.Client, name string) (int64, error) {
	var n string
	var v int64
	if err := c.DB().QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE "+node.QuoteString(name)).Scan(&n, &v); err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return v, nil
}

// resizeRedo sets innodb_log_file_size and waits until the new file
// replaced the old one (MariaDB 10.11 resizes online).
func resizeRedo(ctx context.Context, o Options, c *node.Client, size int64) error {
	if err := c.SetGlobal(ctx, "innodb_log_file_size", strconv.FormatInt(size, 10)); err != nil {
		return err
	}
	deadline := time.Now().Add(o.WaitTimeout)
	for {
		vars, err := c.Variables(ctx, "innodb_log_file_size")
		if err != nil {
			return err
		}
		if vars["innodb_log_file_size"] == strconv.FormatInt(size, 10) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the resize to %d bytes did not finish", size)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var gcacheSize = regexp.MustCompile(`gcache\.size\s*=\s*(\d+)([KMGkmg]?)`)

// fillerChunk is the size of one filler write set: small enough that the
// ring's unused tail at a wrap is small.
const fillerChunk = 64 << 10

// fillGaleraCache writes filler through a Galera cluster until its write
// set cache has gone round twice, outside the binary log: the cache's old
// write sets, the user's among them, are overwritten on every member.
func fillGaleraCache(ctx context.Context, o Options, cluster string) (string, string) {
	var member string
	for _, ref := range o.Topology.Nodes() {
		if ref.Cluster != cluster {
			continue
		}
		if member == "" || ref.Name == o.Topology.ClusterPrimary(cluster, o.Primaries) {
			member = ref.Name
		}
	}
	c, err := o.open(ctx, member)
	if err != nil {
		return member, "Galera cache not overwritten: " + err.Error()
	}
	defer c.Close()
	vars, err := c.Variables(ctx, "wsrep_provider_options")
	if err != nil {
		return member, "Galera cache not overwritten: " + err.Error()
	}
	size := int64(128 << 20) // Galera's default
	if m := gcacheSize.FindStringSubmatch(vars["wsrep_provider_options"]); m != nil {
		size, _ = strconv.ParseInt(m[1], 10, 64)
		size <<= map[string]uint{"": 0, "k": 10, "m": 20, "g": 30}[strings.ToLower(m[2])]
	}
	conn, err := c.DB().Conn(ctx)
	if err != nil {
		return member, "Galera cache not overwritten: " + err.Error()
	}
	defer conn.Close()
	const table = "meridian.erasure_filler"
	stmts := []string{"SET SESSION sql_log_bin = 0", "DROP TABLE IF EXISTS " + table,
		"CREATE TABLE " + table + " (id INT AUTO_INCREMENT PRIMARY KEY, filler LONGBLOB) ENGINE=InnoDB"}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return member, "Galera cache not overwritten: " + err.Error()
		}
	}
	written := int64(0)
	for written < 2*size {
		if _, err := conn.ExecContext(ctx, "INSERT INTO "+table+" (filler) VALUES (RANDOM_BYTES(1024))"+
			", (REPEAT(RANDOM_BYTES(1024), ?))", fillerChunk/1024-1); err != nil {
			return member, "Galera cache not overwritten: " + err.Error()
		}
		// Each write set replaces the table's content, so the table stays small.
		if _, err := conn.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			return member, "Galera cache not overwritten: " + err.Error()
		}
		written += 2 * fillerChunk
	}
	if _, err := conn.ExecContext(ctx, "DROP TABLE "+table); err != nil {
		return member, "Galera cache overwritten, filler table left: " + err.Error()
	}
	return member, fmt.Sprintf("Galera cache of cluster %s overwritten: %d MiB of filler write sets (twice gcache.size), outside the binary log", cluster, written>>20)
}
