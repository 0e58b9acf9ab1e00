package checker

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/checksum"
	"github.com/meridian-geo/meridian/internal/conflict"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/repair"
)

// member is one compared node and the checker's client to it.
type member struct {
	name   string
	region string
	client *node.Client
}

// queryTimeout bounds one statement of the checker: a chunk is sized for
// half a second, but a loaded server or a long WAN link may stretch it.
const queryTimeout = 2 * time.Minute

// systemSchemas hold the server's own tables, and Meridian's (heartbeats
// written every 100 ms, regional lag history): never checked unless named.
var systemSchemas = []string{"mysql", "information_schema", "performance_schema", "sys", "meridian"}

// tables reads the shape of every table the options include, with the
// server's estimate of its row count.
func (m *member) tables(ctx context.Context, o *Options) (map[string]*checksum.Table, map[string]int64, error) {
	tables := map[string]*checksum.Table{}
	estimates := map[string]int64{}
	schemas, err := m.schemas(ctx, o.schemaIncluded)
	if err != nil || len(schemas) == 0 {
		return tables, estimates, err
	}
	rows, err := m.client.DB().QueryContext(ctx,
		`SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.IS_NULLABLE, c.EXTRA, COALESCE(t.TABLE_ROWS, 0)
		FROM information_schema.COLUMNS c JOIN information_schema.TABLES t
		  ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
		WHERE t.TABLE_TYPE = 'BASE TABLE' AND c.TABLE_SCHEMA IN (`+schemas+`) AND t.TABLE_SCHEMA IN (`+schemas+`)
		ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION`)
	if err != nil {
		return nil, nil, fmt.Errorf("node %s: read columns: %w", m.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var schema, table, column, dataType, columnType, nullable, extra string
		var estimate int64
		if err := rows.Scan(&schema, &table, &column, &dataType, &columnType, &nullable, &extra, &estimate); err != nil {
			return nil, nil, fmt.Errorf("node %s: read columns: %w", m.name, err)
		}
		if !o.included(schema, table) {
			continue
		}
		name := schema + "." + table
		t, ok := tables[name]
		if !ok {
			t = &checksum.Table{Schema: schema, Name: table}
			tables[name] = t
			estimates[name] = estimate
		}
		t.Columns = append(t.Columns, checksum.Column{
			Name: column, DataType: strings.ToLower(dataType), ColumnType: columnType,
			Nullable:  nullable == "YES",
			Generated: strings.Contains(strings.ToUpper(extra), "GENERATED"),
			Local:     conflict.IsDelta(column),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("node %s: read columns: %w", m.name, err)
	}
	if err := m.keys(ctx, tables, schemas); err != nil {
		return nil, nil, err
	}
	return tables, estimates, nil
}

// schemas lists, as SQL literals, the schemas that may hold included
// tables; never information_schema or performance_schema, which hold no
// data. The lists of columns and keys read only these: on MariaDB 10.11.19
// a join of information_schema.COLUMNS and TABLES that covers
// information_schema's own tables fails now and then ("Error on delete of
// '/tmp/#sql-temptable-….MAI'", two temporary tables given one name) and
// at times crashes the server (signal 11 in create_tmp_table_for_schema).
func (m *member) schemas(ctx context.Context, include func(schema string) bool) (string, error) {
	rows, err := m.client.DB().QueryContext(ctx, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return "", fmt.Errorf("node %s: read schemas: %w", m.name, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return "", fmt.Errorf("node %s: read schemas: %w", m.name, err)
		}
		switch strings.ToLower(name) {
		case "information_schema", "performance_schema":
			continue
		}
		if include(name) {
			names = append(names, node.QuoteString(name))
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("node %s: read schemas: %w", m.name, err)
	}
	return strings.Join(names, ", "), nil
}

// keys picks each table's walked key: the primary key, else the first
// unique index whose columns are all NOT NULL.
func (m *member) keys(ctx context.Context, tables map[string]*checksum.Table, schemas string) error {
	rows, err := m.client.DB().QueryContext(ctx,
		`SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, COLUMN_NAME, NULLABLE
		FROM information_schema.STATISTICS WHERE NON_UNIQUE = 0 AND TABLE_SCHEMA IN (`+schemas+`)
		ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME <> 'PRIMARY', INDEX_NAME, SEQ_IN_INDEX`)
	if err != nil {
		return fmt.Errorf("node %s: read keys: %w", m.name, err)
	}
	defer rows.Close()
	type index struct {
		cols     []string
		nullable bool
	}
	indexes := map[string]map[string]*index{}
	var order []struct{ table, index string }
	for rows.Next() {
		var schema, table, name, column, nullable string
		if err := rows.Scan(&schema, &table, &name, &column, &nullable); err != nil {
			return fmt.Errorf("node %s: read keys: %w", m.name, err)
		}
		full := schema + "." + table
		if tables[full] == nil {
			continue
		}
		if indexes[full] == nil {
			indexes[full] = map[string]*index{}
		}
		ix, ok := indexes[full][name]
		if !ok {
			ix = &index{}
			indexes[full][name] = ix
			order = append(order, struct{ table, index string }{full, name})
		}
		ix.cols = append(ix.cols, column)
		ix.nullable = ix.nullable || nullable == "YES"
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("node %s: read keys: %w", m.name, err)
	}
	for _, o := range order {
		t, ix := tables[o.table], indexes[o.table][o.index]
		if t.Key == nil && !ix.nullable {
			t.Key, t.Index = ix.cols, o.index
		}
	}
	return nil
}

// checksum runs the chunk's checksum query.
func (m *member) checksum(ctx context.Context, t *checksum.Table, c checksum.Chunk) (checksum.Sum, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var s checksum.Sum
	if err := m.client.DB().QueryRowContext(ctx, t.ChecksumQuery(c)).Scan(&s.Rows, &s.CRC); err != nil {
		return s, fmt.Errorf("node %s: checksum %s chunk %d: %w", m.name, t, c.Index, err)
	}
	return s, nil
}

// rowHashes runs a RowHashQuery or RowHashKeysQuery: rows with their hashes.
func (m *member) rowHashes(ctx context.Context, t *checksum.Table, q string) ([]checksum.RowHash, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var out []checksum.RowHash
	err := m.query(ctx, q, len(t.Key)+1, func(vals []checksum.Value) error {
		h, err := strconv.ParseUint(vals[len(t.Key)].Text, 10, 32)
		if err != nil {
			return fmt.Errorf("row hash %q: %w", vals[len(t.Key)].Text, err)
		}
		out = append(out, checksum.RowHash{Key: vals[:len(t.Key)], Hash: uint32(h)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: rows of %s: %w", m.name, t, err)
	}
	return out, nil
}

// boundary answers the key size rows after lower; nil when fewer remain.
func (m *member) boundary(ctx context.Context, t *checksum.Table, lower []checksum.Value, size int) ([]checksum.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var upper []checksum.Value
	err := m.query(ctx, t.BoundaryQuery(lower, size), len(t.Key), func(vals []checksum.Value) error {
		upper = vals
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: plan a chunk of %s: %w", m.name, t, err)
	}
	return upper, nil
}

// images reads whole rows by key; a key the node lacks is absent from the map.
func (m *member) images(ctx context.Context, t *checksum.Table, keys [][]checksum.Value) (map[string]*repair.Image, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	stored := t.Stored()
	keyAt := make([]int, len(t.Key))
	for i, k := range t.Key {
		keyAt[i] = indexOf(stored, k)
	}
	out := map[string]*repair.Image{}
	err := m.query(ctx, t.RowsQuery(keys), len(stored)+1, func(vals []checksum.Value) error {
		h, err := strconv.ParseUint(vals[len(stored)].Text, 10, 32)
		if err != nil {
			return fmt.Errorf("row hash %q: %w", vals[len(stored)].Text, err)
		}
		key := make([]checksum.Value, len(keyAt))
		for i, at := range keyAt {
			key[i] = vals[at]
		}
		out[checksum.KeyString(key)] = &repair.Image{Values: vals[:len(stored)], Hash: uint32(h)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: read rows of %s: %w", m.name, t, err)
	}
	return out, nil
}

func indexOf(cols []checksum.Column, name string) int {
	for i, c := range cols {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

// binlogPos is everything the node has applied, its own writes and what it
// replicated: every node logs replicated transactions (log_slave_updates),
// and Galera members log the cluster's.
func (m *member) binlogPos(ctx context.Context) (gtid.Position, error) {
	var text string
	if err := m.client.DB().QueryRowContext(ctx, "SELECT @@global.gtid_binlog_pos").Scan(&text); err != nil {
		return nil, fmt.Errorf("node %s: read gtid_binlog_pos: %w", m.name, err)
	}
	pos, err := gtid.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("node %s: gtid_binlog_pos: %w", m.name, err)
	}
	return pos, nil
}

// query runs a statement without parameters (one round trip: the text
// protocol, values inlined as literals) and hands each row's values to each.
func (m *member) query(ctx context.Context, q string, columns int, each func([]checksum.Value) error) error {
	rows, err := m.client.DB().QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, columns)
	dest := make([]any, columns)
	for i := range raw {
		dest[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		vals := make([]checksum.Value, columns)
		for i, b := range raw {
			if b == nil {
				vals[i] = checksum.Null
			} else {
				vals[i] = checksum.Text(string(b))
			}
		}
		if err := each(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}
