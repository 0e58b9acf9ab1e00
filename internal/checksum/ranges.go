package checksum

import (
	"fmt"
	"math"
	"math/big"
)

// IntegerKey reports whether the walked key is one integer column: its
// chunks can then be planned by arithmetic on key values (IntChunker)
// instead of by reading the key up to each chunk's end, which costs a scan
// as long as the checksum's own.
func (t *Table) IntegerKey() bool {
	if len(t.Key) != 1 {
		return false
	}
	c, _ := t.column(t.Key[0])
	return integerTypes[c.DataType] && c.DataType != "year"
}

// IntChunker plans the chunks of a table with an integer key as key ranges
// expected to hold the rows wanted, learning the density of keys (rows per
// key value) from each chunk's count. Ranges stay contiguous (a row that
// exists on one node only, anywhere, falls in some chunk), the first is
// open below and the last open above.
type IntChunker struct {
	max     *big.Int // the planner's largest key when the walk began
	lower   *big.Int // the exclusive lower bound of the next chunk; nil: open below
	from    *big.Int // where the next chunk's keys start: past lower, or the key after a gap
	density float64  // rows per key value
	index   int
}

// NewIntChunker starts a walk after lower (nil: at the table's start) over
// keys up to max (nil: the table is empty on the planner), with a first
// guess of the density (rows per key value; the table's estimate over its
// key span).
func NewIntChunker(index int, lower []Value, min, max *Value, density float64) (*IntChunker, error) {
	c := &IntChunker{index: index, density: density}
	var err error
	if lower != nil {
		if c.lower, err = bigOf(lower[0]); err != nil {
			return nil, err
		}
		c.from = new(big.Int).Add(c.lower, big.NewInt(1))
	} else if min != nil {
		if c.from, err = bigOf(*min); err != nil {
			return nil, err
		}
	}
	if max != nil {
		if c.max, err = bigOf(*max); err != nil {
			return nil, err
		}
	}
	if c.density <= 0 || math.IsNaN(c.density) || math.IsInf(c.density, 0) {
		c.density = 1
	}
	return c, nil
}

func bigOf(v Value) (*big.Int, error) {
	n, ok := new(big.Int).SetString(v.Text, 10)
	if v.Null || !ok {
		return nil, fmt.Errorf("key value %s is not an integer", v)
	}
	return n, nil
}

// Next proposes the next chunk, spanning the keys expected to hold rows rows.
func (c *IntChunker) Next(rows int) Chunk {
	return c.span(c.step(rows))
}

// step is the number of key values expected to hold rows rows.
func (c *IntChunker) step(rows int) *big.Int {
	s := float64(max(rows, 1)) / c.density
	if s >= math.MaxInt64/2 {
		s = math.MaxInt64 / 2
	}
	return big.NewInt(max(int64(s), 1))
}

// span is the chunk whose keys run from c.from for step values.
func (c *IntChunker) span(step *big.Int) Chunk {
	ch := Chunk{Index: c.index}
	if c.lower != nil {
		ch.Lower = []Value{Text(c.lower.String())}
	}
	if c.max == nil || c.from == nil {
		return ch // an empty table: one chunk, open both ways
	}
	upper := new(big.Int).Add(c.from, step)
	upper.Sub(upper, big.NewInt(1))
	if upper.Cmp(c.max) < 0 {
		ch.Upper = []Value{Text(upper.String())}
	}
	return ch
}

// Shrink answers a smaller chunk when the server estimates that ch holds
// far more than rows rows (keys denser than learnt so far): ok is false
// when ch is fine or cannot shrink. InnoDB's estimates are often off by a
// factor of two, so only an estimate over four times rows counts.
func (c *IntChunker) Shrink(ch Chunk, estimate int64, rows int) (Chunk, bool) {
	if estimate <= 4*int64(max(rows, 1)) || c.from == nil || c.max == nil {
		return ch, false
	}
	end := c.max
	if ch.Upper != nil {
		end, _ = bigOf(ch.Upper[0])
	}
	width := new(big.Int).Sub(end, c.from)
	width.Add(width, big.NewInt(1))
	if width.Cmp(big.NewInt(1)) <= 0 {
		return ch, false
	}
	// Scale the span down by the estimate's excess.
	scaled := new(big.Float).Mul(new(big.Float).SetInt(width), big.NewFloat(float64(rows)/float64(estimate)))
	step, _ := scaled.Int(nil)
	if step.Sign() <= 0 {
		step = big.NewInt(1)
	}
	if step.Cmp(width) >= 0 {
		return ch, false
	}
	return c.span(step), true
}

// Done records that ch held rows rows and moves past it. next is the first
// key after ch on the planner when ch was empty (nil: none, or not asked):
// the following chunk then counts its span from there, so a gap in the
// keys costs one chunk, not one per guess.
func (c *IntChunker) Done(ch Chunk, rows int64, next *Value) {
	c.index++
	if ch.Upper == nil {
		return
	}
	upper, _ := bigOf(ch.Upper[0])
	if c.from != nil && rows > 0 {
		width := new(big.Int).Sub(upper, c.from)
		width.Add(width, big.NewInt(1))
		if w, _ := new(big.Float).SetInt(width).Float64(); w > 0 {
			// Smoothed, so one dense or sparse chunk does not swing the next.
			c.density = 0.5*c.density + 0.5*float64(rows)/w
		}
	}
	c.lower = upper
	c.from = new(big.Int).Add(upper, big.NewInt(1))
	if rows == 0 && next != nil {
		if n, err := bigOf(*next); err == nil && n.Cmp(c.from) > 0 {
			c.from = n
		}
	}
}

// MinMaxQuery answers the smallest and largest key.
func (t *Table) MinMaxQuery() string {
	k := ident(t.Key[0])
	return "SELECT MIN(" + k + "), MAX(" + k + ") FROM " + t.fromIndex()
}

// NextKeyQuery answers the first key after bound.
func (t *Table) NextKeyQuery(bound []Value) string {
	return "SELECT MIN(" + ident(t.Key[0]) + ") FROM " + t.fromIndex() + " WHERE " + t.after(bound, false)
}

// EstimateQuery asks the optimizer how many rows the chunk holds (index
// dives, no scan): EXPLAIN's rows column.
func (t *Table) EstimateQuery(c Chunk) string {
	return "EXPLAIN SELECT COUNT(*) FROM " + t.fromIndex() + t.where(c)
}
