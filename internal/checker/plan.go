package checker

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/meridian-geo/meridian/internal/checksum"
)

// chunkPlan hands out a unit's chunks, one after another, planned on one
// node (the planner).
type chunkPlan interface {
	// next proposes the chunk after the last one done, of about rows rows.
	next(ctx context.Context, rows int) (checksum.Chunk, error)
	// done records that the chunk held rows rows.
	done(ctx context.Context, c checksum.Chunk, rows int64) error
}

// newPlan picks how to plan a unit's chunks: by arithmetic on an integer
// key, else by reading the key to each chunk's end.
func newPlan(ctx context.Context, planner *member, t *checksum.Table, tr *TableResult) (chunkPlan, error) {
	if !t.IntegerKey() {
		return &nibblePlan{planner: planner, t: t, index: tr.Chunks, lower: tr.Next}, nil
	}
	var min, max *checksum.Value
	err := planner.query(ctx, t.MinMaxQuery(), 2, func(v []checksum.Value) error {
		if !v[0].Null {
			min, max = &v[0], &v[1]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: key range of %s: %w", planner.name, t, err)
	}
	density := 1.0
	if min != nil && tr.Estimate > 0 {
		lo, _ := strconv.ParseFloat(min.Text, 64)
		hi, _ := strconv.ParseFloat(max.Text, 64)
		density = float64(tr.Estimate) / (hi - lo + 1)
	}
	chunker, err := checksum.NewIntChunker(tr.Chunks, tr.Next, min, max, density)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return &rangePlan{planner: planner, t: t, chunker: chunker}, nil
}

// nibblePlan reads the key up to each chunk's end on the planner, as
// pt-table-checksum does: for keys that are not a single integer.
type nibblePlan struct {
	planner *member
	t       *checksum.Table
	index   int
	lower   []checksum.Value
}

func (p *nibblePlan) next(ctx context.Context, rows int) (checksum.Chunk, error) {
	upper, err := p.planner.boundary(ctx, p.t, p.lower, rows)
	return checksum.Chunk{Index: p.index, Lower: p.lower, Upper: upper}, err
}

func (p *nibblePlan) done(_ context.Context, c checksum.Chunk, _ int64) error {
	p.index, p.lower = p.index+1, c.Upper
	return nil
}

// rangePlan sizes key ranges from the density of keys, checks each against
// the optimizer's estimate before it is read (keys can be denser ahead),
// and jumps over gaps in the keys.
type rangePlan struct {
	planner *member
	t       *checksum.Table
	chunker *checksum.IntChunker
}

// maxShrinks bounds the estimates asked for one chunk.
const maxShrinks = 4

func (p *rangePlan) next(ctx context.Context, rows int) (checksum.Chunk, error) {
	c := p.chunker.Next(rows)
	for range maxShrinks {
		estimate, err := p.planner.estimate(ctx, p.t, c)
		if err != nil {
			return c, err
		}
		smaller, ok := p.chunker.Shrink(c, estimate, rows)
		if !ok {
			break
		}
		c = smaller
	}
	return c, nil
}

func (p *rangePlan) done(ctx context.Context, c checksum.Chunk, rows int64) error {
	var next *checksum.Value
	if rows == 0 && !c.Last() {
		err := p.planner.query(ctx, p.t.NextKeyQuery(c.Upper), 1, func(v []checksum.Value) error {
			if !v[0].Null {
				next = &v[0]
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("node %s: next key of %s: %w", p.planner.name, p.t, err)
		}
	}
	p.chunker.Done(c, rows, next)
	return nil
}

// estimate is the optimizer's row estimate for the chunk.
func (m *member) estimate(ctx context.Context, t *checksum.Table, c checksum.Chunk) (int64, error) {
	rows, err := m.client.DB().QueryContext(ctx, t.EstimateQuery(c))
	if err != nil {
		return 0, fmt.Errorf("node %s: estimate %s chunk %d: %w", m.name, t, c.Index, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	var total int64
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return 0, err
		}
		for i, name := range cols {
			if name == "rows" && vals[i].Valid {
				n, _ := strconv.ParseInt(vals[i].String, 10, 64)
				total += n
			}
		}
	}
	return total, rows.Err()
}
