package erasure

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// String prints the report for people.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "erasure of user %d (email hash %s…), region %s, primary %s\n", r.UserID, r.EmailHash[:min(12, len(r.EmailHash))], r.Region, r.Primary)
	if r.AlreadyErased {
		fmt.Fprintf(&b, "  already erased at %s (GTID %s): checking again\n", r.At.UTC().Format(time.RFC3339), r.GTID)
	} else {
		fmt.Fprintf(&b, "  erased at %s in transaction %s\n", r.At.UTC().Format(time.RFC3339), r.GTID)
		for _, table := range slices.Sorted(maps.Keys(r.Deleted)) {
			fmt.Fprintf(&b, "  deleted %d row(s) from %s\n", r.Deleted[table], table)
		}
	}
	fmt.Fprintf(&b, "  searched files for %d value(s) of the user's rows: %s\n", len(r.Searched), strings.Join(r.Searched, ", "))
	for _, n := range r.Nodes {
		left := int64(0)
		for _, rows := range n.RowsLeft {
			left += rows
		}
		state := "applied"
		if !n.Applied {
			state = "NOT CONFIRMED"
		}
		fmt.Fprintf(&b, "%s (%s): %s, %d row(s) left", n.Node, n.Region, state, left)
		switch {
		case n.Problem != "":
			fmt.Fprintf(&b, ", problem: %s", n.Problem)
		case !n.Inspected:
			b.WriteString(", files not inspected (no data directory on this host)")
		case len(n.Files) == 0:
			b.WriteString(", no file holds the user's values")
		}
		b.WriteString("\n")
		for _, f := range n.Files {
			mark := "holds"
			if f.Gone {
				mark = "purged"
			}
			fmt.Fprintf(&b, "    %-7s %-38s %s\n", mark, f.Path, f.Kind)
		}
		for _, p := range n.Purge {
			fmt.Fprintf(&b, "    purge: %s\n", p)
		}
	}
	if len(r.Backups) > 0 {
		fmt.Fprintf(&b, "backups taken before the erasure (they hold the user; restores re-apply the suppression list):\n")
		for _, p := range r.Backups {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	if r.Suppression != "" {
		fmt.Fprintf(&b, "suppression list: %s\n", r.Suppression)
	}
	fmt.Fprintf(&b, "took %s\n", r.Duration.Round(time.Millisecond))
	return b.String()
}
