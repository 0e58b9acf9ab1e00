// Package census checks where personal data is, on the servers: it
// counts every personal table's rows by the region their jurisdiction
// assigns them to, on every node, and hands the counts to the residency
// package's verdict. `meridian residency audit` and the controller's
// periodic audit run it.
package census

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

// nodeTimeout bounds the audit of one node: a slow or hung node is
// reported as not audited, and never delays the others.
const nodeTimeout = 60 * time.Second

// Audit counts the personal rows of every node in parallel and judges
// them. A node that cannot be read is reported as not audited.
func Audit(ctx context.Context, t *topology.Topology, ep provision.Endpoints, now func() time.Time) residency.Report {
	refs := t.Nodes()
	audits := make([]residency.NodeAudit, len(refs))
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Go(func() {
			nodeCtx, cancel := context.WithTimeout(ctx, nodeTimeout)
			defer cancel()
			audits[i] = AuditNode(nodeCtx, t, ep.Admin(ref.Name), ref.Region)
		})
	}
	wg.Wait()
	return residency.Judge(now(), audits)
}

// AuditNode counts the personal rows of one node, in region.
func AuditNode(ctx context.Context, t *topology.Topology, e node.Endpoint, region string) residency.NodeAudit {
	a := residency.NodeAudit{Node: e.Name, Region: region}
	c, err := node.Open(ctx, e)
	if err != nil {
		a.Problem = err.Error()
		return a
	}
	defer c.Close()
	tables, err := BaseTables(ctx, c)
	if err != nil {
		a.Problem = err.Error()
		return a
	}
	for _, q := range residency.CensusQueries(t, tables) {
		census, err := count(ctx, c, q)
		if err != nil {
			a.Problem = err.Error()
			return a
		}
		a.Tables = append(a.Tables, census)
	}
	return a
}

// BaseTables lists the node's tables as "schema.table".
func BaseTables(ctx context.Context, c *node.Client) ([]string, error) {
	rows, err := c.DB().QueryContext(ctx, "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("node %s: list tables: %w", c.Name(), err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("node %s: list tables: %w", c.Name(), err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

func count(ctx context.Context, c *node.Client, q residency.CensusQuery) (residency.Census, error) {
	census := residency.Census{Table: q.Table, Rows: map[string]int64{}}
	rows, err := c.DB().QueryContext(ctx, q.SQL)
	if err != nil {
		return census, fmt.Errorf("node %s: count %s: %w", c.Name(), q.Table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var n int64
		if err := rows.Scan(&key, &n); err != nil {
			return census, fmt.Errorf("node %s: count %s: %w", c.Name(), q.Table, err)
		}
		q.Count(&census, key, n)
	}
	if err := rows.Err(); err != nil {
		return census, fmt.Errorf("node %s: count %s: %w", c.Name(), q.Table, err)
	}
	return census, nil
}

// Erasures reads the estate's suppression list (meridian.erasures) from
// the first node that answers; none when no node does or the table does not
// exist yet.
func Erasures(ctx context.Context, t *topology.Topology, ep provision.Endpoints) []residency.Erased {
	for _, ref := range t.Nodes() {
		c, err := node.Open(ctx, ep.Admin(ref.Name))
		if err != nil {
			continue
		}
		list, err := readErasures(ctx, c)
		c.Close()
		if err == nil {
			return list
		}
	}
	return nil
}

func readErasures(ctx context.Context, c *node.Client) ([]residency.Erased, error) {
	rows, err := c.DB().QueryContext(ctx, "SELECT user_id, email_hash, data_region, erased_at, gtid FROM "+residency.ErasuresTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []residency.Erased
	for rows.Next() {
		var e residency.Erased
		if err := rows.Scan(&e.UserID, &e.EmailHash, &e.Region, &e.At, &e.GTID); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
