package topology

import (
	"fmt"
	"strings"
)

// Problem is one reason a topology file is refused.
type Problem struct {
	File    string
	Line    int
	Field   string // path such as "clusters[0].nodes[1].name"; "" for the whole file
	Message string
}

// String formats the problem as "file:line: field: message".
func (p Problem) String() string { return formatIssue(p.File, p.Line, p.Field, p.Message) }

// Warning is something legal but probably unintended; the topology still loads.
type Warning struct {
	File    string
	Line    int
	Field   string
	Message string
}

// String formats the warning as "file:line: field: message".
func (w Warning) String() string { return formatIssue(w.File, w.Line, w.Field, w.Message) }

// ValidationError lists every problem found in a topology file, so one run
// shows the user everything to fix.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid topology: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid topology (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func formatIssue(file string, line int, field, message string) string {
	var b strings.Builder
	b.WriteString(file)
	if line > 0 {
		fmt.Fprintf(&b, ":%d", line)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if field != "" {
		b.WriteString(field)
		b.WriteString(": ")
	}
	b.WriteString(message)
	return b.String()
}
