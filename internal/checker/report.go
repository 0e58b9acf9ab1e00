package checker

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/checksum"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/repair"
)

// Report is what a check found. It is also the checkpoint: saved after
// every chunk, it is where an interrupted check resumes (Next).
type Report struct {
	Estate      string    `json:"estate"`
	Region      string    `json:"region"`
	Fingerprint string    `json:"fingerprint"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished,omitzero"`
	// Resumed counts the times the check was resumed after an interruption.
	Resumed int      `json:"resumed,omitempty"`
	Nodes   []string `json:"nodes"`
	// Galera are the compared nodes that are Galera members.
	Galera      []string      `json:"galera,omitempty"`
	Tables      []TableResult `json:"tables"`
	Differences []Difference  `json:"differences"`
	Unsettled   []Unsettled   `json:"unsettled"`
	Repairs     []Repair      `json:"repairs,omitempty"`
}

// Table statuses.
const (
	StatusPending   = "pending"
	StatusIdentical = "identical"
	StatusDiffers   = "differs"
	// StatusUnsettled: no difference found, but some rows kept changing
	// (or some node lagged) through every re-read.
	StatusUnsettled = "unsettled"
	// StatusSkipped: the table cannot be walked (no usable key); it is
	// listed with the reason and makes the check incomplete.
	StatusSkipped = "skipped"
	// StatusMissing / StatusSchema: some node lacks the table, or its
	// columns or key differ: a difference, and no row-by-row comparison.
	StatusMissing = "missing"
	StatusSchema  = "schema differs"
)

// TableResult is one table compared across one group of nodes (all nodes,
// or one region's for a table whose rows stay in their region).
type TableResult struct {
	Table  string   `json:"table"`
	Policy string   `json:"policy"`
	Nodes  []string `json:"nodes"`
	Status string   `json:"status"`
	Reason string   `json:"reason,omitempty"`
	Chunks int      `json:"chunks"`
	Rows   int64    `json:"rows"`
	// Estimate is the server's estimate of the row count, for progress.
	Estimate    int64 `json:"estimate"`
	Differences int   `json:"differences"`
	Unsettled   int   `json:"unsettled"`
	// Unlisted counts differing chunks not narrowed to rows once MaxRows
	// rows of the table were listed.
	Unlisted int `json:"unlisted,omitempty"`
	// Next is where the walk resumes: the last finished chunk's upper bound.
	Next      []checksum.Value `json:"next,omitempty"`
	ChunkRows int              `json:"chunk_rows,omitempty"`
}

func (t *TableResult) done() bool { return t.Status != StatusPending }

// Difference is a row the nodes disagree on for real: its key and every
// compared node's version (null: the node lacks the row).
type Difference struct {
	Table    string                               `json:"table"`
	Key      map[string]checksum.Value            `json:"key"`
	Versions map[string]map[string]checksum.Value `json:"versions"`
	// Hashes are the present versions' row hashes: a repair replaces a
	// version only while the row still has it.
	Hashes map[string]uint32 `json:"hashes"`
}

// Unsettled is a row that kept changing through every re-read, or could not
// be compared because a node did not catch up; it is not a difference but
// is not known to be equal either.
type Unsettled struct {
	Table string                    `json:"table"`
	Key   map[string]checksum.Value `json:"key,omitempty"`
	// Chunk names a whole chunk that could not be read row by row.
	Chunk  string `json:"chunk,omitempty"`
	Reason string `json:"reason"`
}

// Repair is a decided repair and, with --apply, what each statement did.
type Repair struct {
	repair.RowRepair
	Applied []Outcome `json:"applied,omitempty"`
}

// Outcome is one applied repair statement's result.
type Outcome struct {
	Node string `json:"node"`
	// Rows is the number of rows the statement changed: 0 means the row was
	// no longer the version the check saw (it changed since), and was left.
	Rows  int64  `json:"rows"`
	Error string `json:"error,omitempty"`
}

// Converged reports whether every statement changed its row.
func (r Repair) Converged() bool {
	if r.Unrepaired != "" || len(r.Applied) != len(r.Statements) {
		return false
	}
	for _, o := range r.Applied {
		if o.Error != "" || o.Rows != 1 {
			return false
		}
	}
	return true
}

// newDifference names a row's key and versions after t's columns.
func newDifference(t *checksum.Table, row repair.Row) Difference {
	d := Difference{Table: t.String(), Key: map[string]checksum.Value{}, Versions: map[string]map[string]checksum.Value{}, Hashes: map[string]uint32{}}
	for i, k := range t.Key {
		d.Key[k] = row.Key[i]
	}
	stored := t.Stored()
	for n, img := range row.Images {
		if img == nil {
			d.Versions[n] = nil
			continue
		}
		cols := make(map[string]checksum.Value, len(stored))
		for i, c := range stored {
			cols[c.Name] = img.Values[i]
		}
		d.Versions[n], d.Hashes[n] = cols, img.Hash
	}
	return d
}

// row is the difference in repair's terms, for table t.
func (d Difference) row(t *checksum.Table) (repair.Row, error) {
	row := repair.Row{Images: map[string]*repair.Image{}}
	for _, k := range t.Key {
		v, ok := d.Key[k]
		if !ok {
			return row, fmt.Errorf("%s: difference without key column %s", d.Table, k)
		}
		row.Key = append(row.Key, v)
	}
	for n, cols := range d.Versions {
		if cols == nil {
			row.Images[n] = nil
			continue
		}
		img := &repair.Image{Hash: d.Hashes[n]}
		for _, c := range t.Stored() {
			v, ok := cols[c.Name]
			if !ok {
				return row, fmt.Errorf("%s: %s's version lacks column %s", d.Table, n, c.Name)
			}
			img.Values = append(img.Values, v)
		}
		row.Images[n] = img
	}
	return row, nil
}

func namedKey(t *checksum.Table, key []checksum.Value) map[string]checksum.Value {
	m := make(map[string]checksum.Value, len(key))
	for i, k := range t.Key {
		m[k] = key[i]
	}
	return m
}

// Outcome of a whole check, as the exit status tells it.
const (
	ExitClean = 0
	// ExitDiffers: rows (or tables) differ and were not all repaired.
	ExitDiffers = 2
	// ExitIncomplete: nothing differs, but not everything could be
	// compared (unsettled rows, skipped tables).
	ExitIncomplete = 3
)

// ExitCode is the process exit status the report calls for.
func (r *Report) ExitCode() int {
	repaired := map[string]bool{}
	for _, rp := range r.Repairs {
		if rp.Converged() {
			repaired[rowID(rp.Table, namedKeyOf(rp))] = true
		}
	}
	incomplete := len(r.Unsettled) > 0
	for _, t := range r.Tables {
		switch t.Status {
		case StatusMissing, StatusSchema:
			return ExitDiffers
		case StatusSkipped, StatusUnsettled, StatusPending:
			incomplete = true
		}
		if t.Unlisted > 0 {
			return ExitDiffers
		}
	}
	for _, d := range r.Differences {
		if !repaired[rowID(d.Table, d.Key)] {
			return ExitDiffers
		}
	}
	if incomplete {
		return ExitIncomplete
	}
	return ExitClean
}

// rowID names a row of a table whatever the order of its key's columns.
func rowID(table string, key map[string]checksum.Value) string {
	names := slices.Sorted(maps.Keys(key))
	vals := make([]checksum.Value, 0, 2*len(names))
	for _, n := range names {
		vals = append(vals, checksum.Text(n), key[n])
	}
	return table + "\x00" + checksum.KeyString(vals)
}

// String renders the report for people: one line per table, then every
// differing row with the columns whose values differ, then the repairs.
func (r *Report) String() string {
	var b strings.Builder
	var rows int64
	for _, t := range r.Tables {
		rows += t.Rows
	}
	fmt.Fprintf(&b, "Checked %d tables, %d rows on %d nodes (%s) from region %s in %s.\n",
		len(r.Tables), rows, len(r.Nodes), strings.Join(r.Nodes, ", "), r.Region, r.Finished.Sub(r.Started).Round(time.Millisecond))
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "  %-32s %-16s %8d rows %6d chunks", t.Table, t.Status, t.Rows, t.Chunks)
		if t.Differences > 0 {
			fmt.Fprintf(&b, "  %d rows differ", t.Differences)
		}
		if t.Unsettled > 0 {
			fmt.Fprintf(&b, "  %d unsettled", t.Unsettled)
		}
		if t.Unlisted > 0 {
			fmt.Fprintf(&b, "  %d more differing chunks not listed", t.Unlisted)
		}
		if t.Reason != "" {
			fmt.Fprintf(&b, "  (%s)", t.Reason)
		}
		fmt.Fprintf(&b, "  [%s; %s]\n", t.Policy, strings.Join(t.Nodes, ","))
	}
	if len(r.Differences) > 0 {
		fmt.Fprintf(&b, "\n%d rows differ:\n", len(r.Differences))
		for _, d := range r.Differences {
			b.WriteString(d.describe())
		}
	}
	if len(r.Unsettled) > 0 {
		fmt.Fprintf(&b, "\n%d rows unsettled (not compared; run the check again):\n", len(r.Unsettled))
		for _, u := range r.Unsettled {
			where := keyText(u.Key)
			if u.Chunk != "" {
				where = u.Chunk
			}
			fmt.Fprintf(&b, "  %s %s: %s\n", u.Table, where, u.Reason)
		}
	}
	if len(r.Repairs) > 0 {
		b.WriteString(r.repairsText())
	}
	return b.String()
}

// describe is one differing row: its key, then each group of nodes sharing a
// version with the columns whose values are not the same everywhere (every
// column when some node lacks the row), long values shortened.
func (d Difference) describe() string {
	nodes := slices.Sorted(maps.Keys(d.Versions))
	shown := map[string]bool{}
	for _, a := range nodes {
		for c, v := range d.Versions[a] {
			for _, z := range nodes {
				if w, ok := d.Versions[z][c]; !ok || w != v {
					shown[c] = true
				}
			}
		}
	}
	cols := slices.Sorted(maps.Keys(shown))
	groups := map[string][]string{}
	var order []string
	for _, n := range nodes {
		text := "(no row)"
		if v := d.Versions[n]; v != nil {
			parts := make([]string, len(cols))
			for i, c := range cols {
				parts[i] = c + "=" + shorten(v[c].String(), 40)
			}
			text = strings.Join(parts, " ")
		}
		if _, ok := groups[text]; !ok {
			order = append(order, text)
		}
		groups[text] = append(groups[text], n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %s %s:", d.Table, keyText(d.Key))
	for i, text := range order {
		if i > 0 {
			b.WriteString(" |")
		}
		fmt.Fprintf(&b, " %s: %s", strings.Join(groups[text], ","), text)
	}
	b.WriteByte('\n')
	return b.String()
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func keyText(key map[string]checksum.Value) string {
	names := slices.Sorted(maps.Keys(key))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + key[n].String()
	}
	return strings.Join(parts, ",")
}

// repairsText prints the repairs node by node, as scripts to run there.
func (r *Report) repairsText() string {
	var b strings.Builder
	byNode := map[string][]string{}
	var unrepaired []string
	for _, rp := range r.Repairs {
		if rp.Unrepaired != "" {
			unrepaired = append(unrepaired, fmt.Sprintf("  %s %s: %s", rp.Table, keyText(namedKeyOf(rp)), rp.Unrepaired))
		}
		for i, s := range rp.Statements {
			line := fmt.Sprintf("-- %s %s: %s\n%s;", rp.Table, keyText(namedKeyOf(rp)), rp.Rule, s.SQL)
			if i < len(rp.Applied) {
				o := rp.Applied[i]
				switch {
				case o.Error != "":
					line += "  -- FAILED: " + o.Error
				case o.Rows == 0:
					line += "  -- not applied: the row changed since the check"
				default:
					line += "  -- applied"
				}
			}
			byNode[s.Node] = append(byNode[s.Node], line)
		}
	}
	b.WriteString("\nRepairs: each node's statements run on that node alone, outside the binary log (and a Galera\n")
	b.WriteString("node's cluster replication), so no other node receives them.\n")
	for _, n := range slices.Sorted(maps.Keys(byNode)) {
		fmt.Fprintf(&b, "\n-- on %s:\n%s;\n", n, repairSession(slices.Contains(r.Galera, n)))
		for _, line := range byNode[n] {
			b.WriteString(line + "\n")
		}
	}
	if len(unrepaired) > 0 {
		fmt.Fprintf(&b, "\n%d rows without a repair:\n%s\n", len(unrepaired), strings.Join(unrepaired, "\n"))
	}
	return b.String()
}

// repairSession is what a session running repairs sets first: no binary
// log, no Galera replication (wsrep_on exists only where Galera runs), the
// time zone TIMESTAMP values were read in, and @meridian_as_is, by which
// Meridian's conflict triggers take the write as it is (no new version, no
// conflict): a repair, not an application's write.
func repairSession(galera bool) string {
	set := "SET SESSION sql_log_bin = 0, time_zone = " + node.QuoteString(utc) + ", @meridian_as_is = 1"
	if galera {
		set += ", wsrep_on = OFF"
	}
	return set
}

func namedKeyOf(rp Repair) map[string]checksum.Value {
	m := map[string]checksum.Value{}
	for i, k := range rp.KeyColumns {
		m[k] = rp.Key[i]
	}
	return m
}
