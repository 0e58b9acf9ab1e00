package checksum

import "time"

// Sizer adapts the number of rows per chunk so that a chunk takes about
// Target on the slowest node, as pt-table-checksum's --chunk-time does: long
// enough that a query's fixed costs (a WAN round trip) stay small, short
// enough that no server is held busy for long and throttling reacts quickly.
type Sizer struct {
	Target   time.Duration
	Min, Max int
	rate     float64 // rows per second, smoothed
	size     int
}

// Default chunk sizing: pt-table-checksum's first chunk and chunk time.
const (
	DefaultChunkTime = 500 * time.Millisecond
	FirstChunkRows   = 1000
	MinChunkRows     = 100
	// MaxChunkRows bounds a chunk whatever the speed: a differing chunk is
	// read again row by row from every node.
	MaxChunkRows = 100_000
)

// NewSizer starts at FirstChunkRows rows.
func NewSizer(target time.Duration) *Sizer {
	if target <= 0 {
		target = DefaultChunkTime
	}
	return &Sizer{Target: target, Min: MinChunkRows, Max: MaxChunkRows, size: FirstChunkRows}
}

// Size is the number of rows the next chunk should hold.
func (s *Sizer) Size() int { return s.size }

// Observe records that a chunk of rows took took; chunks too small to time
// (a table's tail) are ignored.
func (s *Sizer) Observe(rows int, took time.Duration) {
	if rows < s.Min || took <= 0 {
		return
	}
	rate := float64(rows) / took.Seconds()
	if s.rate == 0 {
		s.rate = rate
	} else {
		// Smoothed like pt-table-checksum's weighted average, so one slow
		// chunk (a pause elsewhere on the machine) does not halve the next.
		s.rate = 0.75*s.rate + 0.25*rate
	}
	s.size = min(max(int(s.rate*s.Target.Seconds()), s.Min), s.Max)
}

// Resume starts from a size an interrupted walk had reached.
func (s *Sizer) Resume(size int) { s.size = min(max(size, s.Min), s.Max) }

// Fix keeps every chunk at size rows, whatever they take.
func (s *Sizer) Fix(size int) {
	s.size = max(size, 1)
	s.Min, s.Max = s.size, s.size
}
