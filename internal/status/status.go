// Package status renders a monitor snapshot as the per-node table
// `meridian status` prints: region, role, writable or read-only, GTID
// position, and each replication connection's threads and lag.
package status

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meridian-geo/meridian/internal/snapshot"
)

const (
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

// laggingAfter is the heartbeat lag from which a link is shown as lagging.
const laggingAfter = time.Second

// Table renders the snapshot, coloured for a terminal when color is set.
func Table(s snapshot.Snapshot, color bool) string {
	paint := func(code, text string) string {
		if !color {
			return text
		}
		return code + text + reset
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) at %s\n", s.Topology, s.Architecture, s.At.UTC().Format(time.RFC3339))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tREGION\tROLE\tACCESS\tGTID\tREPLICATION")
	for _, n := range s.Nodes {
		if !n.Up {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t-\t%s\n", n.Name, n.Region, n.Role, paint(red, "DOWN"), n.Error)
			continue
		}
		access := paint(green, "writable")
		if n.ReadOnly {
			access = "read-only"
		}
		if n.ReadOnly == n.Writable {
			access = paint(red, access+" (layout: "+map[bool]string{true: "writable", false: "read-only"}[n.Writable]+")")
		}
		lines := channelLines(n, paint)
		if len(n.Errant) > 0 {
			lines = append(lines, paint(red, "errant transactions: "+strings.Join(n.Errant, ",")))
		}
		if len(lines) == 0 {
			lines = []string{"-"}
		}
		pos := n.GTIDCurrent
		if pos == "" {
			pos = "(empty)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Region, n.Role, access, pos, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "\t\t\t\t\t%s\n", l)
		}
	}
	w.Flush()
	if len(s.WAN) > 0 {
		var links []string
		for _, l := range s.WAN {
			rtt := "unreachable"
			if l.RTTSeconds != nil {
				rtt = formatSeconds(*l.RTTSeconds)
			}
			links = append(links, fmt.Sprintf("%s->%s %s", l.From, l.To, rtt))
		}
		fmt.Fprintf(&b, "WAN RTT from %s: %s\n", s.ControllerRegion, strings.Join(links, "  "))
	}
	return b.String()
}

func channelLines(n snapshot.Node, paint func(code, text string) string) []string {
	var lines []string
	for _, c := range n.Replication {
		lag := "lag unknown"
		if c.LagSeconds != nil {
			lag = "lag " + formatSeconds(*c.LagSeconds)
		}
		behind := "NULL"
		if c.SecondsBehindMaster != nil {
			behind = fmt.Sprintf("%ds", *c.SecondsBehindMaster)
		}
		text := fmt.Sprintf("'%s' <- %s io=%s sql=%s %s (seconds_behind_master %s)",
			c.Connection, c.SourceNode, c.IORunning, yesNo(c.SQLRunning), lag, behind)
		switch {
		case !c.Healthy():
			text = paint(red, strings.TrimSpace(text+" "+c.LastIOError+" "+c.LastSQLError))
		case c.LagSeconds == nil || *c.LagSeconds > laggingAfter.Seconds():
			text = paint(yellow, text)
		}
		lines = append(lines, text)
	}
	return lines
}

// formatSeconds prints a duration in seconds with millisecond resolution.
func formatSeconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1fms", s*1000)
	}
	return fmt.Sprintf("%.3fs", s)
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}
