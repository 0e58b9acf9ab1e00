// Package checksum is the pure half of Meridian's consistency checker: the
// model of a checked table, the statements that checksum a chunk of it, list
// its rows' hashes or read whole rows, the planning of chunk sizes, and the
// comparison of what the nodes answered down to the rows that really differ.
// Nothing here talks to a server; internal/checker runs the statements.
package checksum

import (
	"fmt"
	"slices"
	"strings"
)

// Column is one column of a checked table, as information_schema.COLUMNS
// describes it.
type Column struct {
	Name string
	// DataType is DATA_TYPE, lower case: int, varchar, float, blob ...
	DataType string
	// ColumnType is COLUMN_TYPE: int(10) unsigned, enum('a','b') ...
	ColumnType string
	Nullable   bool
	// Generated columns (VIRTUAL or STORED) derive from the others: they are
	// neither checksummed nor written by a repair.
	Generated bool
	// Local columns are each node's own bookkeeping (a counter's delta
	// column, conflict.IsDelta), different on every node by design: neither
	// checksummed nor written either.
	Local bool
}

// Table is a table to check: its columns in ordinal order (INVISIBLE ones
// included: they are data like any other) and the unique key chunks walk.
type Table struct {
	Schema, Name string
	Columns      []Column
	// Key names the columns of the walked key, in index order: the primary
	// key, else a unique index over NOT NULL columns.
	Key []string
	// Index is the walked key's index name ("PRIMARY").
	Index string
}

// String is schema.table.
func (t *Table) String() string { return t.Schema + "." + t.Name }

// Validate reports a table the checker cannot walk.
func (t *Table) Validate() error {
	if len(t.Key) == 0 {
		return fmt.Errorf("%s has no primary key and no unique key over NOT NULL columns: rows cannot be told apart", t)
	}
	for _, k := range t.Key {
		if _, ok := t.column(k); !ok {
			return fmt.Errorf("%s: key column %q is not a column of the table", t, k)
		}
	}
	return nil
}

func (t *Table) column(name string) (Column, bool) {
	i := slices.IndexFunc(t.Columns, func(c Column) bool { return strings.EqualFold(c.Name, name) })
	if i < 0 {
		return Column{}, false
	}
	return t.Columns[i], true
}

// keyColumns are the key's columns, in key order.
func (t *Table) keyColumns() []Column {
	cols := make([]Column, len(t.Key))
	for i, k := range t.Key {
		cols[i], _ = t.column(k)
	}
	return cols
}

// Stored are the columns that hold the row's data: every column but the
// generated and the local ones. They are what a checksum covers and a
// repair writes.
func (t *Table) Stored() []Column {
	var cols []Column
	for _, c := range t.Columns {
		if !c.Generated && !c.Local {
			cols = append(cols, c)
		}
	}
	return cols
}

// Signature describes the table's shape; two nodes whose signatures differ
// cannot be compared row by row.
func (t *Table) Signature() string {
	var b strings.Builder
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "%s %s", c.Name, c.ColumnType)
		if c.Nullable {
			b.WriteString(" null")
		}
		if c.Generated {
			b.WriteString(" generated")
		}
		b.WriteString(", ")
	}
	fmt.Fprintf(&b, "key %s(%s)", t.Index, strings.Join(t.Key, ","))
	return b.String()
}

// ident quotes an identifier with backticks.
func ident(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// from is the qualified table name.
func (t *Table) from() string { return ident(t.Schema) + "." + ident(t.Name) }
