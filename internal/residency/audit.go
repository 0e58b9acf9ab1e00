package residency

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

// Unknown is the home region of rows whose jurisdiction cannot be told (a
// country no jurisdiction names, a user the directory does not know): they
// count as violations wherever they are, since nothing proves they belong.
const Unknown = "unknown"

// Census is one personal table on one node: its rows counted by the
// region their jurisdiction assigns them to.
type Census struct {
	Table string           // schema.table
	Rows  map[string]int64 // home region (or Unknown) -> rows
}

// CensusQuery is the statement that counts a personal table's rows by home
// key on a node, and how to turn a key into a region. Its result has two
// columns: the key and the count.
type CensusQuery struct {
	Table string
	SQL   string
	// Region maps a key to its home region ("" for Unknown).
	Region func(key string) string
}

// CensusQueries are the queries for the personal tables among tables (the
// node's base tables, "schema.table").
func CensusQueries(t *topology.Topology, tables []string) []CensusQuery {
	var out []CensusQuery
	for _, name := range tables {
		schema, table, ok := strings.Cut(name, ".")
		if !ok || systemSchema(schema) {
			continue
		}
		p, ok := t.TablePolicy(schema, table)
		if !ok || !p.Personal {
			continue
		}
		q := CensusQuery{Table: name}
		from := qualified(schema, table)
		switch {
		case p.Owner != "":
			owner := p.Owner
			q.SQL = "SELECT '', COUNT(*) FROM " + from
			q.Region = func(string) string { return owner }
		case p.Home != nil && p.Home.Lookup == topology.LookupUser:
			q.SQL = "SELECT COALESCE(d.data_region, ''), COUNT(*) FROM " + from + " t LEFT JOIN " + DirectoryTable +
				" d ON d.user_id = t." + ident(p.Home.Column) + " GROUP BY 1"
			q.Region = func(key string) string { return key }
		case p.Home != nil:
			home := *p.Home
			q.SQL = "SELECT COALESCE(" + ident(home.Column) + ", ''), COUNT(*) FROM " + from + " GROUP BY 1"
			q.Region = func(key string) string { r, _ := t.HomeRegion(home, key); return r }
		default:
			continue
		}
		out = append(out, q)
	}
	return out
}

func systemSchema(s string) bool {
	switch strings.ToLower(s) {
	case "mysql", "sys", "performance_schema", "information_schema", Schema:
		return true
	}
	return false
}

// Violation is personal data found outside its jurisdiction's region.
type Violation struct {
	Node string `json:"node"`
	// Region is where the rows were found (the node's region).
	Region string `json:"region"`
	Table  string `json:"table"`
	// Home is the region the rows belong in, or Unknown.
	Home string `json:"home"`
	Rows int64  `json:"rows"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s (region %s): %d row(s) of %s belonging to region %s", v.Node, v.Region, v.Rows, v.Table, v.Home)
}

// NodeAudit is what one node holds.
type NodeAudit struct {
	Node    string   `json:"node"`
	Region  string   `json:"region"`
	Tables  []Census `json:"tables,omitempty"`
	Problem string   `json:"problem,omitempty"` // the node could not be audited
}

// Report is one residency audit of the estate.
type Report struct {
	At         time.Time   `json:"at"`
	Nodes      []NodeAudit `json:"nodes"`
	Violations []Violation `json:"violations"`
	// Incomplete lists the nodes that could not be audited: the report
	// proves nothing about them.
	Incomplete []string `json:"incomplete,omitempty"`
}

// Judge finds the violations in what the nodes hold.
func Judge(at time.Time, nodes []NodeAudit) Report {
	r := Report{At: at, Nodes: nodes, Violations: []Violation{}}
	for _, n := range nodes {
		if n.Problem != "" {
			r.Incomplete = append(r.Incomplete, n.Node)
			continue
		}
		for _, c := range n.Tables {
			for home, rows := range c.Rows {
				if rows > 0 && home != n.Region {
					r.Violations = append(r.Violations, Violation{Node: n.Node, Region: n.Region, Table: c.Table, Home: home, Rows: rows})
				}
			}
		}
	}
	sort.Slice(r.Violations, func(a, b int) bool {
		x, y := r.Violations[a], r.Violations[b]
		return x.Node+"\x00"+x.Table+"\x00"+x.Home < y.Node+"\x00"+y.Table+"\x00"+y.Home
	})
	return r
}

// ByTableRegion sums the violating rows by table and the region they were
// found in: the meridian_residency_violations metric.
func (r Report) ByTableRegion() map[[2]string]int64 {
	out := map[[2]string]int64{}
	for _, v := range r.Violations {
		out[[2]string{v.Table, v.Region}] += v.Rows
	}
	return out
}

// String prints the report for people: every violation, then what could
// not be checked, then a verdict.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "residency audit at %s: %d node(s)\n", r.At.UTC().Format(time.RFC3339), len(r.Nodes))
	if len(r.Violations) == 0 && len(r.Incomplete) == 0 {
		b.WriteString("OK: every personal row is in its jurisdiction's region.\n")
		return b.String()
	}
	if len(r.Violations) > 0 {
		fmt.Fprintf(&b, "%-10s %-8s %-28s %-10s %s\n", "NODE", "REGION", "TABLE", "BELONGS", "ROWS")
		for _, v := range r.Violations {
			fmt.Fprintf(&b, "%-10s %-8s %-28s %-10s %d\n", v.Node, v.Region, v.Table, v.Home, v.Rows)
		}
	}
	for _, n := range r.Nodes {
		if n.Problem != "" {
			fmt.Fprintf(&b, "not audited: %s: %s\n", n.Node, n.Problem)
		}
	}
	switch {
	case len(r.Violations) > 0:
		fmt.Fprintf(&b, "VIOLATIONS: %d finding(s) of personal data outside its region.\n", len(r.Violations))
	default:
		fmt.Fprintf(&b, "INCOMPLETE: %s could not be audited.\n", strings.Join(r.Incomplete, ", "))
	}
	return b.String()
}

// Clean reports whether the audit covered every node and found nothing.
func (r Report) Clean() bool { return len(r.Violations) == 0 && len(r.Incomplete) == 0 }

// Count adds a census query's rows to a census: key → home region.
func (q CensusQuery) Count(c *Census, key string, rows int64) {
	region := q.Region(key)
	if region == "" {
		region = Unknown
	}
	if c.Rows == nil {
		c.Rows = map[string]int64{}
	}
	c.Rows[region] += rows
}

// Regions lists a census's home regions in order, for display.
func (c Census) Regions() []string {
	var out []string
	for r := range c.Rows {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}
