package checker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/checksum"
	"github.com/meridian-geo/meridian/internal/repair"
)

// KindRepair is the audit kind of an applied repair statement.
const KindRepair = "repair"

// planRepairs decides the repair of every difference the report lists.
func (r *run) planRepairs() error {
	e := repair.Estate{Topology: r.o.Topology, Primaries: r.o.Primaries, Now: r.started}
	r.report.Repairs = nil
	for _, d := range r.report.Differences {
		t := r.tableNamed(d.Table)
		if t == nil {
			return fmt.Errorf("repair: the shape of %s is unknown", d.Table)
		}
		row, err := d.row(t)
		if err != nil {
			return fmt.Errorf("repair: %w", err)
		}
		schema, name, _ := cutTable(d.Table)
		policy, _ := r.o.Topology.TablePolicy(schema, name)
		r.report.Repairs = append(r.report.Repairs, Repair{RowRepair: repair.Plan(e, t, policy, row, *r.o.Repair)})
	}
	return nil
}

func (r *run) tableNamed(name string) *checksum.Table {
	for _, id := range slices.Sorted(maps.Keys(r.tables)) {
		if t := r.tables[id]; t.String() == name {
			return t
		}
	}
	return nil
}

// applyRepairs runs every node's repair statements on that node alone
// (node.ExecLocalEach: outside the binary log and Galera replication), the
// nodes in parallel, and audits each statement with its outcome.
func (r *run) applyRepairs(ctx context.Context) error {
	type ref struct{ repair, statement int }
	byNode := map[string][]ref{}
	for i, rp := range r.report.Repairs {
		rp.Applied = make([]Outcome, len(rp.Statements))
		r.report.Repairs[i] = rp
		for j, s := range rp.Statements {
			byNode[s.Node] = append(byNode[s.Node], ref{i, j})
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[string]error{}
	for name, refs := range byNode {
		m := r.members[name]
		wg.Go(func() {
			stmts := []string{"SET @meridian_as_is = 1"}
			for _, x := range refs {
				stmts = append(stmts, r.report.Repairs[x.repair].Statements[x.statement].SQL)
			}
			stmts = append(stmts, "SET @meridian_as_is = NULL")
			results, err := m.client.ExecLocalEach(ctx, stmts...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[name] = err
			}
			for i, x := range refs {
				o := Outcome{Node: name, Error: "not run"}
				if i+1 < len(results) {
					res := results[i+1]
					o = Outcome{Node: name, Rows: res.RowsAffected}
					if res.Err != nil {
						o.Error = res.Err.Error()
					}
				}
				r.report.Repairs[x.repair].Applied[x.statement] = o
			}
		})
	}
	wg.Wait()
	for i, rp := range r.report.Repairs {
		for j, s := range rp.Statements {
			o := rp.Applied[j]
			entry := audit.Entry{
				Kind: KindRepair, Step: "apply", Node: s.Node, Cluster: r.clusterOf(s.Node),
				Detail: map[string]any{"table": rp.Table, "key": namedKeyOf(r.report.Repairs[i]), "rule": rp.Rule, "sql": s.SQL, "rows": o.Rows},
				Error:  o.Error,
			}
			if err := r.o.Audit.Record(entry); err != nil {
				return err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(errs)) {
		return fmt.Errorf("repair on %s: %w", name, errs[name])
	}
	return nil
}

func (r *run) clusterOf(name string) string {
	_, c, _ := r.o.Topology.Node(name)
	return c.Name
}
