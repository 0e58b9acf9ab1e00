// Package checker is the effects half of Meridian's consistency checker
// (`meridian check`): it reads every compared node, chunk by chunk, decides
// with internal/checksum what differs, waits between re-reads until writes
// in flight have landed everywhere, keeps a checkpoint to resume from, and
// applies the repairs internal/repair decides, auditing each statement.
package checker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/checksum"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/repair"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Options configure a check.
type Options struct {
	Topology  *topology.Topology
	Endpoints provision.Endpoints
	// Primaries are who is primary now (the controller's, after failovers).
	Primaries topology.Primaries
	// Region is where the checker runs: it plans chunks on a node there.
	Region string
	// Tables are "schema.table" patterns (wildcards * and ?; "schema"
	// alone is "schema.*"); none means every table outside the system
	// schemas.
	Tables []string
	// ChunkTime is the time a chunk should take (default 0.5 s); ChunkRows,
	// when set, fixes the rows per chunk instead.
	ChunkTime time.Duration
	ChunkRows int
	// MaxLag and MaxRunning pause the walk while a compared node's
	// replication lags more, or more threads run on it (0: no limit).
	MaxLag     time.Duration
	MaxRunning int
	// MaxWait bounds each wait for the nodes to catch up with each other
	// before a differing chunk is read again.
	MaxWait time.Duration
	// MaxRows bounds the rows listed (and repaired) per table; further
	// differing chunks are only counted.
	MaxRows int
	// Checkpoint is the file the report in progress is saved to after every
	// chunk ("": none); Resume continues the check saved there.
	Checkpoint string
	Resume     bool
	// Repair, when set, decides the repair of every differing row; Apply
	// then runs the statements, each recorded in Audit.
	Repair *repair.Options
	Apply  bool
	Audit  *audit.Log
	// Progress, when set, is called after every chunk and on pauses.
	Progress func(Progress)
	Logger   *slog.Logger
}

// Defaults, as pt-table-checksum's where it has one.
const (
	DefaultMaxLag     = time.Second
	DefaultMaxRunning = 25
	DefaultMaxWait    = 30 * time.Second
	DefaultMaxRows    = 1000
)

// maxRereads bounds the re-reads of a differing chunk: beyond them, rows
// still changing are reported unsettled.
const maxRereads = checksum.DefaultConfirmations + 6

// utc is the time zone of every checker session: TIMESTAMP values are read
// and written back in it.
const utc = "+00:00"

// Progress is where a check stands.
type Progress struct {
	Table              string
	TablesDone, Tables int
	Rows, Estimate     int64
	Chunks             int
	Differences        int
	Unsettled          int
	// Paused says why the walk waits ("" while it runs).
	Paused  string
	Elapsed time.Duration
}

// ErrNothingToResume: Resume was asked and the checkpoint holds no check.
var ErrNothingToResume = errors.New("nothing to resume")

type run struct {
	o        Options
	members  map[string]*member
	tables   map[string]*checksum.Table // the planner-side shape of each unit's table
	domains  []uint32
	writable map[string]bool
	report   *Report
	throttle *throttle
	started  time.Time
	paused   string
}

// Run checks the estate and answers the report; with a checkpoint, an
// interrupted Run saved where it stood and Resume continues from there.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	r := &run{o: o, started: time.Now(), tables: map[string]*checksum.Table{}}
	for _, reg := range o.Topology.Regions {
		r.domains = append(r.domains, reg.GTIDDomainID)
	}
	r.writable = o.Topology.LayoutFor(time.Now(), o.Primaries).Writable
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	defer r.close()
	r.throttle = &throttle{maxLag: o.MaxLag, maxRunning: o.MaxRunning, interval: throttleInterval, paused: r.setPaused}
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	for i := range r.report.Tables {
		tr := &r.report.Tables[i]
		if tr.done() {
			continue
		}
		if err := r.walk(ctx, tr); err != nil {
			return r.report, r.interrupted(err)
		}
	}
	if o.Repair != nil {
		if err := r.planRepairs(); err != nil {
			return r.report, err
		}
		if o.Apply {
			if err := r.applyRepairs(ctx); err != nil {
				return r.report, err
			}
		}
	}
	r.report.Finished = time.Now().UTC()
	if o.Checkpoint != "" {
		if err := removeCheckpoint(o.Checkpoint); err != nil {
			return r.report, err
		}
	}
	return r.report, nil
}

// interrupted saves the checkpoint of a walk that stopped on err.
func (r *run) interrupted(err error) error {
	if r.o.Checkpoint == "" {
		return err
	}
	if serr := saveCheckpoint(r.o.Checkpoint, r.report); serr != nil {
		return errors.Join(err, serr)
	}
	return fmt.Errorf("%w (the check is saved in %s: run it again with --resume to continue)", err, r.o.Checkpoint)
}

func (o *Options) defaults() error {
	if o.Topology == nil || o.Endpoints == nil {
		return errors.New("check: no estate")
	}
	if o.ChunkTime <= 0 {
		o.ChunkTime = checksum.DefaultChunkTime
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Progress == nil {
		o.Progress = func(Progress) {}
	}
	if o.Apply && o.Repair == nil {
		return errors.New("check: --apply needs --repair")
	}
	if o.Resume && o.Checkpoint == "" {
		return errors.New("check: --resume needs a checkpoint file")
	}
	for _, p := range o.Tables {
		if _, err := tablePattern(p); err != nil {
			return err
		}
	}
	return nil
}

// cutTable splits "schema.table".
func cutTable(name string) (schema, table string, ok bool) { return strings.Cut(name, ".") }

// tablePattern normalises a --tables entry to "schema.table".
func tablePattern(p string) (string, error) {
	p = strings.TrimSpace(p)
	if !strings.Contains(p, ".") {
		p += ".*"
	}
	schema, table, _ := strings.Cut(p, ".")
	if schema == "" || table == "" || strings.Contains(table, ".") {
		return "", fmt.Errorf("--tables %q: want schema.table (wildcards * and ? allowed) or a schema name", p)
	}
	if _, err := path.Match(p, ""); err != nil {
		return "", fmt.Errorf("--tables %q: %w", p, err)
	}
	return p, nil
}

// included reports whether schema.table is checked: named by a pattern, or
// with no pattern outside the system schemas.
func (o *Options) included(schema, table string) bool {
	if len(o.Tables) == 0 {
		return !slices.Contains(systemSchemas, strings.ToLower(schema))
	}
	for _, p := range o.Tables {
		p, _ = tablePattern(p)
		if (topology.TablePolicy{Match: p}).Matches(schema, table) {
			return true
		}
	}
	return false
}

// schemaIncluded reports whether schema may hold included tables.
func (o *Options) schemaIncluded(schema string) bool {
	if len(o.Tables) == 0 {
		return !slices.Contains(systemSchemas, strings.ToLower(schema))
	}
	for _, p := range o.Tables {
		p, _ = tablePattern(p)
		ps, _, _ := strings.Cut(strings.ToLower(p), ".")
		if ok, _ := path.Match(ps, strings.ToLower(schema)); ok {
			return true
		}
	}
	return false
}

// open connects to every node of the estate; a node that cannot be reached
// fails the check (a check that skipped one could not vouch for it).
func (r *run) open(ctx context.Context) error {
	refs := r.o.Topology.Nodes()
	clients := make([]*node.Client, len(refs))
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Go(func() {
			ep := r.o.Endpoints.Admin(ref.Name)
			ep.Timeout, ep.TimeZone = queryTimeout, utc
			clients[i], errs[i] = node.Open(ctx, ep)
		})
	}
	wg.Wait()
	r.members = map[string]*member{}
	for i, ref := range refs {
		if clients[i] != nil {
			r.members[ref.Name] = &member{name: ref.Name, region: r.o.Topology.NodeRegion(ref.Name), client: clients[i]}
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.close()
		return fmt.Errorf("check: every node must be reachable: %w", err)
	}
	return nil
}

func (r *run) close() {
	for _, m := range r.members {
		m.client.Close()
	}
}

// nodeNames are the estate's nodes in file order.
func (r *run) nodeNames() []string {
	var names []string
	for _, ref := range r.o.Topology.Nodes() {
		names = append(names, ref.Name)
	}
	return names
}

// prepare reads every node's tables and lays out the report: a fresh one,
// or the checkpoint's when resuming.
func (r *run) prepare(ctx context.Context) error {
	shapes, estimates, err := r.discover(ctx)
	if err != nil {
		return err
	}
	fingerprint := r.fingerprint()
	if r.o.Resume {
		saved, err := loadCheckpoint(r.o.Checkpoint)
		if err != nil {
			return err
		}
		if saved.Fingerprint != fingerprint {
			return fmt.Errorf("checkpoint %s is of another check (estate, nodes or --tables differ): run without --resume to start over", r.o.Checkpoint)
		}
		saved.Resumed++
		r.report = saved
		for i := range saved.Tables {
			tr := &saved.Tables[i]
			if tr.Status == StatusMissing || tr.Status == StatusSchema || tr.Status == StatusSkipped {
				continue
			}
			t, err := r.unitTable(tr, shapes)
			if err != nil {
				return err
			}
			r.tables[unitID(tr)] = t
		}
		return nil
	}
	r.report = &Report{
		Estate: r.o.Topology.Name, Region: r.o.Region, Fingerprint: fingerprint,
		Started: r.started.UTC(), Nodes: r.nodeNames(),
		Differences: []Difference{}, Unsettled: []Unsettled{},
	}
	for _, ref := range r.o.Topology.Nodes() {
		if _, c, ok := r.o.Topology.Node(ref.Name); ok && c.Kind == topology.Galera {
			r.report.Galera = append(r.report.Galera, ref.Name)
		}
	}
	names := map[string]bool{}
	for _, byName := range shapes {
		for name := range byName {
			names[name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		r.addUnits(name, shapes, estimates)
	}
	return nil
}

// discover reads the included tables of every node.
func (r *run) discover(ctx context.Context) (map[string]map[string]*checksum.Table, map[string]int64, error) {
	shapes := map[string]map[string]*checksum.Table{}
	estimates := map[string]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for name, m := range r.members {
		wg.Go(func() {
			tables, est, err := m.tables(ctx, &r.o)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			shapes[name] = tables
			for t, n := range est {
				estimates[t] = max(estimates[t], n)
			}
		})
	}
	wg.Wait()
	return shapes, estimates, errors.Join(errs...)
}

// addUnits adds a table's comparisons, one per group of nodes its policy
// says must agree, with the reason when rows cannot be compared.
func (r *run) addUnits(name string, shapes map[string]map[string]*checksum.Table, estimates map[string]int64) {
	schema, table, _ := cutTable(name)
	policy, _ := r.o.Topology.TablePolicy(schema, table)
	for _, group := range checksum.Groups(r.o.Topology, policy, r.nodeNames()) {
		tr := TableResult{Table: name, Policy: policyText(policy), Nodes: group, Status: StatusPending, Estimate: estimates[name]}
		t, err := r.unitTable(&tr, shapes)
		var missing *missingError
		switch {
		case errors.As(err, &missing):
			tr.Status, tr.Reason = StatusMissing, err.Error()
		case err != nil && errors.Is(err, errSchema):
			tr.Status, tr.Reason = StatusSchema, err.Error()
		case err != nil:
			tr.Status, tr.Reason = StatusSkipped, err.Error()
		default:
			r.tables[unitID(&tr)] = t
		}
		r.report.Tables = append(r.report.Tables, tr)
	}
}

type missingError struct{ nodes []string }

func (e *missingError) Error() string { return "missing on " + strings.Join(e.nodes, ", ") }

var errSchema = errors.New("columns or key differ between nodes")

// unitTable is the table's shape, the same on every node of the unit.
func (r *run) unitTable(tr *TableResult, shapes map[string]map[string]*checksum.Table) (*checksum.Table, error) {
	var missing []string
	var first *checksum.Table
	var firstNode string
	for _, n := range tr.Nodes {
		t := shapes[n][tr.Table]
		switch {
		case t == nil:
			missing = append(missing, n)
		case first == nil:
			first, firstNode = t, n
		case t.Signature() != first.Signature():
			return nil, fmt.Errorf("%w: %s has %s; %s has %s", errSchema, firstNode, first.Signature(), n, t.Signature())
		}
	}
	if len(missing) > 0 {
		return nil, &missingError{nodes: missing}
	}
	if err := first.Validate(); err != nil {
		return nil, err
	}
	return first, nil
}

func unitID(tr *TableResult) string { return tr.Table + "@" + strings.Join(tr.Nodes, ",") }

func policyText(p topology.TablePolicy) string {
	kind := p.Kind()
	switch kind {
	case topology.PolicyOwner:
		kind += " " + p.Owner
	case topology.PolicyHome:
		kind += " " + p.Home.Column
	}
	if p.Personal {
		kind += ", personal"
	}
	return kind
}

// fingerprint identifies the check a checkpoint belongs to.
func (r *run) fingerprint() string {
	patterns := make([]string, len(r.o.Tables))
	for i, p := range r.o.Tables {
		patterns[i], _ = tablePattern(p)
	}
	slices.Sort(patterns)
	sum := sha256.Sum256([]byte(r.o.Topology.Name + "\n" + strings.Join(r.nodeNames(), ",") + "\n" + strings.Join(patterns, ",")))
	return hex.EncodeToString(sum[:8])
}

// planner is the node a unit's chunks are planned on: a read-only node of
// the checker's region if there is one (planning reads the key, and the
// primaries have the applications' work to do), else any node there, else
// the group's first.
func (r *run) planner(group []*member) *member {
	best := group[0]
	score := func(m *member) int {
		s := 0
		if m.region == r.o.Region {
			s += 2
		}
		if !r.writable[m.name] {
			s++
		}
		return s
	}
	for _, m := range group[1:] {
		if score(m) > score(best) {
			best = m
		}
	}
	return best
}

func (r *run) group(tr *TableResult) []*member {
	group := make([]*member, len(tr.Nodes))
	for i, n := range tr.Nodes {
		group[i] = r.members[n]
	}
	return group
}

// walk compares one unit chunk by chunk, saving the checkpoint after each.
func (r *run) walk(ctx context.Context, tr *TableResult) error {
	t := r.tables[unitID(tr)]
	group := r.group(tr)
	planner := r.planner(group)
	sizer := checksum.NewSizer(r.o.ChunkTime)
	if tr.ChunkRows > 0 {
		sizer.Resume(tr.ChunkRows)
	}
	if r.o.ChunkRows > 0 {
		sizer.Fix(r.o.ChunkRows)
	}
	plan, err := newPlan(ctx, planner, t, tr)
	if err != nil {
		return err
	}
	for {
		if err := r.throttle.wait(ctx, group); err != nil {
			return err
		}
		chunk, err := plan.next(ctx, sizer.Size())
		if err != nil {
			return err
		}
		start := time.Now()
		sums, err := r.sums(ctx, group, t, chunk)
		if err != nil {
			return err
		}
		took := time.Since(start)
		if !checksum.Equal(sums) {
			if err := r.narrow(ctx, tr, t, group, chunk); err != nil {
				return err
			}
		}
		var rows int64
		for _, s := range sums {
			rows = max(rows, s.Rows)
		}
		r.o.Logger.Debug("chunk", "table", tr.Table, "chunk", chunk.Index, "rows", rows, "size", sizer.Size(), "took", took, "equal", checksum.Equal(sums))
		sizer.Observe(int(rows), took)
		if err := plan.done(ctx, chunk, rows); err != nil {
			return err
		}
		tr.Chunks++
		tr.Rows += rows
		tr.Next, tr.ChunkRows = chunk.Upper, sizer.Size()
		if chunk.Last() {
			tr.Status = finalStatus(tr)
		}
		if r.o.Checkpoint != "" {
			if err := saveCheckpoint(r.o.Checkpoint, r.report); err != nil {
				return err
			}
		}
		r.progress(tr)
		if chunk.Last() {
			return nil
		}
	}
}

func finalStatus(tr *TableResult) string {
	switch {
	case tr.Differences > 0 || tr.Unlisted > 0:
		return StatusDiffers
	case tr.Unsettled > 0:
		return StatusUnsettled
	}
	return StatusIdentical
}

// sums checksums the chunk on every member at once.
func (r *run) sums(ctx context.Context, group []*member, t *checksum.Table, c checksum.Chunk) (map[string]checksum.Sum, error) {
	sums, err := fromEach(group, func(m *member) (checksum.Sum, error) { return m.checksum(ctx, t, c) })
	return byName(group, sums), err
}

// byName keys the members' answers by member name.
func byName[T any](group []*member, answers []T) map[string]T {
	out := make(map[string]T, len(group))
	for i, m := range group {
		if i < len(answers) {
			out[m.name] = answers[i]
		}
	}
	return out
}

// rowHashes lists the chunk's rows on every member at once: all of them,
// or only those with the given keys.
func (r *run) rowHashes(ctx context.Context, group []*member, t *checksum.Table, c checksum.Chunk, keys [][]checksum.Value) (map[string][]checksum.RowHash, error) {
	reads, err := fromEach(group, func(m *member) ([]checksum.RowHash, error) {
		if keys == nil {
			return m.rowHashes(ctx, t, t.RowHashQuery(c))
		}
		var all []checksum.RowHash
		for start := 0; start < len(keys); start += imageBatch {
			batch, err := m.rowHashes(ctx, t, t.RowHashKeysQuery(keys[start:min(start+imageBatch, len(keys))]))
			if err != nil {
				return nil, err
			}
			all = append(all, batch...)
		}
		return all, nil
	})
	if err != nil {
		return nil, fmt.Errorf("chunk %d: %w", c.Index, err)
	}
	return byName(group, reads), nil
}

// narrow finds the rows of a differing chunk that differ for real: the
// nodes catch up with each other, the chunk is read row by row, and again
// after each further catch-up, until every differing row has either cleared
// (a write in flight) or stayed the same on every node (a real difference).
func (r *run) narrow(ctx context.Context, tr *TableResult, t *checksum.Table, group []*member, c checksum.Chunk) error {
	if tr.Differences >= r.o.MaxRows {
		tr.Unlisted++
		return nil
	}
	var n *checksum.Narrowing
	for read := 0; read <= maxRereads; read++ {
		lagging, err := catchUp(ctx, group, r.domains, r.o.MaxWait)
		if err != nil {
			return err
		}
		if len(lagging) > 0 {
			r.unsettled(tr, t, c, n, fmt.Sprintf("%s did not catch up with the other nodes within %s", strings.Join(lagging, ", "), r.o.MaxWait))
			return r.recordReal(ctx, tr, t, group, n)
		}
		// The first read lists the whole chunk; later ones only the rows
		// still pending (a row that starts differing later is in flight).
		var keys [][]checksum.Value
		if n != nil {
			for _, d := range n.Pending() {
				keys = append(keys, d.Key)
			}
		}
		reads, err := r.rowHashes(ctx, group, t, c, keys)
		if err != nil {
			return err
		}
		diffs := checksum.Diff(reads)
		if n == nil {
			if len(diffs) == 0 {
				return nil // only writes in flight differed
			}
			n = checksum.NewNarrowing(diffs, checksum.DefaultConfirmations)
			continue
		}
		if !n.Reread(diffs) {
			break
		}
	}
	r.unsettled(tr, t, c, n, fmt.Sprintf("kept changing through %d re-reads", maxRereads))
	return r.recordReal(ctx, tr, t, group, n)
}

func (r *run) recordReal(ctx context.Context, tr *TableResult, t *checksum.Table, group []*member, n *checksum.Narrowing) error {
	if n == nil {
		return nil
	}
	return r.record(ctx, tr, t, group, n.Real())
}

// unsettled records the rows a narrowing left pending (the whole chunk when
// it never read rows).
func (r *run) unsettled(tr *TableResult, t *checksum.Table, c checksum.Chunk, n *checksum.Narrowing, reason string) {
	if n == nil {
		tr.Unsettled++
		r.report.Unsettled = append(r.report.Unsettled, Unsettled{Table: tr.Table, Chunk: chunkText(t, c), Reason: reason})
		return
	}
	for _, d := range n.Pending() {
		tr.Unsettled++
		r.report.Unsettled = append(r.report.Unsettled, Unsettled{Table: tr.Table, Key: namedKey(t, d.Key), Reason: reason})
	}
}

func chunkText(t *checksum.Table, c checksum.Chunk) string {
	text := func(b []checksum.Value) string {
		if b == nil {
			return "open"
		}
		return fmt.Sprint(b)
	}
	return fmt.Sprintf("chunk %d of %s: key after %s up to %s", c.Index, t, text(c.Lower), text(c.Upper))
}

// imageBatch is how many rows one read of whole rows asks for.
const imageBatch = 200

// record reads the whole versions of rows found different and lists them;
// a row whose version changed since it was compared is unsettled instead.
func (r *run) record(ctx context.Context, tr *TableResult, t *checksum.Table, group []*member, diffs []checksum.RowDiff) error {
	for start := 0; start < len(diffs); start += imageBatch {
		batch := diffs[start:min(start+imageBatch, len(diffs))]
		keys := make([][]checksum.Value, len(batch))
		for i, d := range batch {
			keys[i] = d.Key
		}
		images, err := fromEach(group, func(m *member) (map[string]*repair.Image, error) { return m.images(ctx, t, keys) })
		if err != nil {
			return err
		}
		for _, d := range batch {
			k := checksum.KeyString(d.Key)
			row := repair.Row{Key: d.Key, Images: map[string]*repair.Image{}}
			changed := false
			for i, m := range group {
				img := images[i][k]
				v := d.Versions[m.name]
				if (img != nil) != v.Present || (img != nil && img.Hash != v.Hash) {
					changed = true
				}
				row.Images[m.name] = img
			}
			switch {
			case changed:
				tr.Unsettled++
				r.report.Unsettled = append(r.report.Unsettled, Unsettled{Table: tr.Table, Key: namedKey(t, d.Key), Reason: "changed while its versions were read"})
			case tr.Differences >= r.o.MaxRows:
				tr.Unlisted++
				return nil
			default:
				tr.Differences++
				r.report.Differences = append(r.report.Differences, newDifference(t, row))
			}
		}
	}
	return nil
}

func (r *run) setPaused(reason string) {
	if reason != r.paused {
		if reason != "" {
			r.o.Logger.Info("check paused", "reason", reason)
		}
		r.paused = reason
		r.progress(nil)
	}
}

func (r *run) progress(current *TableResult) {
	p := Progress{Paused: r.paused, Elapsed: time.Since(r.started), Differences: len(r.report.Differences), Unsettled: len(r.report.Unsettled)}
	for i := range r.report.Tables {
		tr := &r.report.Tables[i]
		p.Tables++
		p.Rows += tr.Rows
		p.Chunks += tr.Chunks
		p.Estimate += max(tr.Estimate, tr.Rows)
		if tr.done() {
			p.TablesDone++
		} else if current == nil {
			current = tr
		}
	}
	if current != nil {
		p.Table = current.Table
	}
	r.o.Progress(p)
}
