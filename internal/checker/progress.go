package checker

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// ProgressLine renders where a check stands on one line of at most width
// columns: a bar of the rows compared against the servers' estimate (which
// may be off: the bar never passes 99 % before the last table is done), the
// current table, the rows, the differences found, the time spent and left.
func ProgressLine(p Progress, width int) string {
	frac := 0.0
	if p.Estimate > 0 {
		frac = min(float64(p.Rows)/float64(p.Estimate), 0.99)
	}
	if p.Tables > 0 && p.TablesDone == p.Tables {
		frac = 1
	}
	const barWidth = 24
	filled := int(frac * barWidth)
	bar := "[" + strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled) + "]"
	line := fmt.Sprintf("%s %3d%%  table %d/%d %s  %s/%s rows  %d differ",
		bar, int(frac*100), min(p.TablesDone+1, p.Tables), p.Tables, p.Table, count(p.Rows), count(p.Estimate), p.Differences)
	if p.Unsettled > 0 {
		line += fmt.Sprintf("  %d unsettled", p.Unsettled)
	}
	line += "  " + p.Elapsed.Round(time.Second).String()
	if frac > 0.02 && frac < 1 {
		left := time.Duration(float64(p.Elapsed) * (1 - frac) / frac)
		line += "  ETA " + left.Round(time.Second).String()
	}
	if p.Paused != "" {
		line += "  paused: " + p.Paused
	}
	if width > 0 && len(line) > width {
		line = line[:width]
	}
	return line
}

// count prints a row count briefly: 950, 12.3k, 1.20M.
func count(n int64) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// Bar redraws ProgressLine in place on a terminal, at most ten times a second.
type Bar struct {
	w     io.Writer
	width int
	mu    sync.Mutex
	last  time.Time
	shown bool
}

// NewBar draws on w, a terminal width columns wide.
func NewBar(w io.Writer, width int) *Bar { return &Bar{w: w, width: width} }

// Update redraws the line (skipped when the last draw is too recent, unless
// the walk just paused or resumed).
func (b *Bar) Update(p Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.last) < 100*time.Millisecond && p.Paused == "" && p.TablesDone != p.Tables {
		return
	}
	b.last = time.Now()
	fmt.Fprintf(b.w, "\r\x1b[K%s", ProgressLine(p, b.width-1))
	b.shown = true
}

// Close clears the line, so the report starts on a clean one.
func (b *Bar) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shown {
		fmt.Fprint(b.w, "\r\x1b[K")
	}
}
