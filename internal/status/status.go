// Package status turns an observation of the estate into the per-node report
// `meridian status` prints: region, role, writable or read-only, GTID
// position and each replication connection's threads and lag.
package status

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Report is the status of every node at one moment.
type Report struct {
	Topology     string    `json:"topology"`
	Architecture string    `json:"architecture"`
	At           time.Time `json:"at"`
	Nodes        []Node    `json:"nodes"`
}

// Node is one server's line of the report.
type Node struct {
	Name     string    `json:"name"`
	Region   string    `json:"region"`
	Cluster  string    `json:"cluster"`
	Role     string    `json:"role"`
	Up       bool      `json:"up"`
	ReadOnly bool      `json:"read_only"`
	GTID     string    `json:"gtid_current_pos"`
	Error    string    `json:"error,omitempty"`
	Channels []Channel `json:"replication"`
}

// Channel is one replication connection of a node.
type Channel struct {
	Connection string `json:"connection"`
	Source     string `json:"source"`
	IO         string `json:"io_running"`
	SQL        bool   `json:"sql_running"`
	// SecondsBehind is nil when MariaDB reports NULL: unknown, not zero.
	SecondsBehind *int64 `json:"seconds_behind_master"`
	LastError     string `json:"last_error,omitempty"`
}

// Healthy reports whether both threads run.
func (c Channel) Healthy() bool { return c.IO == "Yes" && c.SQL }

// Build assembles the report from an observation. It is pure.
func Build(t *topology.Topology, now time.Time, obs provision.Observed) Report {
	layout := t.Layout(now)
	r := Report{Topology: t.Name, Architecture: string(t.Architecture), At: now, Nodes: []Node{}}
	for _, ref := range t.Nodes() {
		n := Node{Name: ref.Name, Region: ref.Region, Cluster: ref.Cluster, Role: role(ref, layout), Channels: []Channel{}}
		st, ok := obs.Nodes[ref.Name]
		switch {
		case !ok:
			n.Error = "not observed"
		case st.Err != nil:
			n.Error = st.Err.Error()
		default:
			n.Up = true
			n.ReadOnly = st.ReadOnly
			n.GTID = st.GTID.Current.String()
			for _, rs := range st.Replicas {
				n.Channels = append(n.Channels, Channel{
					Connection:    rs.Connection,
					Source:        fmt.Sprintf("%s:%d", rs.SourceHost, rs.SourcePort),
					IO:            rs.IORunning,
					SQL:           rs.SQLRunning,
					SecondsBehind: rs.SecondsBehind,
					LastError:     strings.TrimSpace(rs.LastIOError + " " + rs.LastSQLError),
				})
			}
		}
		r.Nodes = append(r.Nodes, n)
	}
	return r
}

// role names what the layout makes of a node.
func role(ref topology.NodeRef, layout topology.Layout) string {
	switch {
	case ref.ClusterKind == topology.Galera:
		return "galera"
	case layout.Writable[ref.Name]:
		return "primary"
	default:
		return "replica"
	}
}

const (
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

// Table renders the report as a table, coloured for a terminal when color is set.
func (r Report) Table(color bool) string {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + reset
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) at %s\n", r.Topology, r.Architecture, r.At.UTC().Format(time.RFC3339))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tREGION\tROLE\tACCESS\tGTID\tREPLICATION")
	for _, n := range r.Nodes {
		access := paint(green, "writable")
		if n.ReadOnly {
			access = "read-only"
		}
		if !n.Up {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t-\t%s\n", n.Name, n.Region, n.Role, paint(red, "DOWN"), n.Error)
			continue
		}
		var channels []string
		for _, c := range n.Channels {
			behind := "lag unknown"
			if c.SecondsBehind != nil {
				behind = strconv.FormatInt(*c.SecondsBehind, 10) + "s behind"
			}
			text := fmt.Sprintf("'%s' <- %s io=%s sql=%s %s", c.Connection, c.Source, c.IO, yesNo(c.SQL), behind)
			switch {
			case !c.Healthy():
				text = paint(red, text+" "+c.LastError)
			case c.SecondsBehind == nil || *c.SecondsBehind > 0:
				text = paint(yellow, text)
			}
			channels = append(channels, text)
		}
		if len(channels) == 0 {
			channels = []string{"-"}
		}
		gtidPos := n.GTID
		if gtidPos == "" {
			gtidPos = "(empty)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Region, n.Role, access, gtidPos, channels[0])
		for _, c := range channels[1:] {
			fmt.Fprintf(w, "\t\t\t\t\t%s\n", c)
		}
	}
	w.Flush()
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}
