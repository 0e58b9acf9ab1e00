package checksum

import (
	"fmt"
	"strings"
)

// Chunk is a range of the walked key: the rows with Lower < key <= Upper. A
// nil bound is open, so the first chunk also holds rows below every key the
// planner saw and the last one rows above: a row that exists only on some
// node falls into a chunk whatever its key.
type Chunk struct {
	Index        int     `json:"index"`
	Lower, Upper []Value `json:",omitempty"`
}

// Last reports whether the chunk is open above: the table's final chunk.
func (c Chunk) Last() bool { return c.Upper == nil }

// hashExpr is how a column enters a row's hash. A FLOAT goes through
// DOUBLE: its text form has 6 significant digits, which would hide
// differences; the double holds the float exactly.
func hashExpr(c Column) string {
	if c.DataType == "float" {
		return ident(c.Name) + " + 0e0"
	}
	return ident(c.Name)
}

// readExpr is how a column is read as a value to compare or write back: a
// FLOAT as the double that holds it exactly (so it writes back the same
// float), dates and times as the server's own text (so no client-side
// parsing reshapes them).
func readExpr(c Column) string {
	if temporalTypes[c.DataType] {
		return "CAST(" + ident(c.Name) + " AS CHAR)"
	}
	return hashExpr(c)
}

// rowHash is CRC32 over the row's stored columns, separated by a NUL byte
// (rarer in data than pt-table-checksum's '#'), followed by one flag per
// nullable column so that NULL and ” (which CONCAT_WS both skip) and
// shifted values hash apart.
func (t *Table) rowHash() string {
	var parts, nulls []string
	for _, c := range t.Stored() {
		parts = append(parts, hashExpr(c))
		if c.Nullable {
			nulls = append(nulls, "ISNULL("+ident(c.Name)+")")
		}
	}
	if len(nulls) > 0 {
		parts = append(parts, "CONCAT("+strings.Join(nulls, ", ")+")")
	}
	return "CRC32(CONCAT_WS(0x00, " + strings.Join(parts, ", ") + "))"
}

// keyList is the key's columns, comma-separated, to order by.
func (t *Table) keyList() string {
	names := make([]string, len(t.Key))
	for i, k := range t.Key {
		names[i] = ident(k)
	}
	return strings.Join(names, ", ")
}

// keyValues is the key's columns as values to read.
func (t *Table) keyValues() string {
	cols := t.keyColumns()
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = readExpr(c)
	}
	return strings.Join(exprs, ", ")
}

// after is "key > bound" for a composite key, spelt out column by column
// ((a > x) OR (a = x AND b > y)) so that every server uses the index range.
// inclusive makes it key >= bound.
func (t *Table) after(bound []Value, inclusive bool) string {
	return t.compare(bound, ">", inclusive)
}

// upTo is key <= bound.
func (t *Table) upTo(bound []Value) string { return t.compare(bound, "<", true) }

func (t *Table) compare(bound []Value, op string, inclusive bool) string {
	cols := t.keyColumns()
	var ors []string
	for i := range cols {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, ident(cols[j].Name)+" = "+Literal(cols[j], bound[j]))
		}
		last := op
		if inclusive && i == len(cols)-1 {
			last += "="
		}
		ands = append(ands, ident(cols[i].Name)+" "+last+" "+Literal(cols[i], bound[i]))
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// where is the chunk's range condition.
func (t *Table) where(c Chunk) string {
	var conds []string
	if c.Lower != nil {
		conds = append(conds, t.after(c.Lower, false))
	}
	if c.Upper != nil {
		conds = append(conds, t.upTo(c.Upper))
	}
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

func (t *Table) fromIndex() string {
	return t.from() + " FORCE INDEX (" + ident(t.Index) + ")"
}

// ChecksumQuery answers the chunk's row count and the XOR of its rows'
// hashes: equal answers mean equal rows (but for a 2^-32 chance).
func (t *Table) ChecksumQuery(c Chunk) string {
	return "SELECT COUNT(*), COALESCE(BIT_XOR(" + t.rowHash() + "), 0) FROM " + t.fromIndex() + t.where(c)
}

// RowHashQuery lists the chunk's rows as key columns and hash, in key order.
func (t *Table) RowHashQuery(c Chunk) string {
	return "SELECT " + t.keyValues() + ", " + t.rowHash() + " FROM " + t.fromIndex() + t.where(c) + " ORDER BY " + t.keyList()
}

// RowHashKeysQuery lists the rows with the given keys as RowHashQuery does.
func (t *Table) RowHashKeysQuery(keys [][]Value) string {
	return "SELECT " + t.keyValues() + ", " + t.rowHash() + " FROM " + t.fromIndex() + " WHERE " + t.keyIn(keys) + " ORDER BY " + t.keyList()
}

// BoundaryQuery finds the upper bound of a chunk of size rows starting after
// lower (nil: at the table's start): the size-th key. No row means the rest
// of the table fits in the chunk.
func (t *Table) BoundaryQuery(lower []Value, size int) string {
	q := "SELECT " + t.keyValues() + " FROM " + t.fromIndex()
	if lower != nil {
		q += " WHERE " + t.after(lower, false)
	}
	return q + fmt.Sprintf(" ORDER BY %s LIMIT 1 OFFSET %d", t.keyList(), max(size, 1)-1)
}

// RowsQuery reads whole rows by key: the stored columns (Stored order, as
// values a repair can write back) and the row's hash, so a caller can tell
// whether the row is still the version it compared.
func (t *Table) RowsQuery(keys [][]Value) string {
	cols := t.Stored()
	exprs := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		exprs = append(exprs, readExpr(c))
	}
	exprs = append(exprs, t.rowHash())
	return "SELECT " + strings.Join(exprs, ", ") + " FROM " + t.fromIndex() + " WHERE " + t.keyIn(keys) + " ORDER BY " + t.keyList()
}

// KeyEquals is the condition selecting the one row with key.
func (t *Table) KeyEquals(key []Value) string {
	cols := t.keyColumns()
	ands := make([]string, len(cols))
	for i, c := range cols {
		ands[i] = ident(c.Name) + " = " + Literal(c, key[i])
	}
	return strings.Join(ands, " AND ")
}

func (t *Table) keyIn(keys [][]Value) string {
	ors := make([]string, len(keys))
	for i, k := range keys {
		ors[i] = "(" + t.KeyEquals(k) + ")"
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// HashEquals is the condition that the row is still the version with hash.
func (t *Table) HashEquals(hash uint32) string {
	return fmt.Sprintf("%s = %d", t.rowHash(), hash)
}

// Insert writes a whole row (values in Stored order).
func (t *Table) Insert(values []Value) string {
	cols := t.Stored()
	names, lits := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		names[i], lits[i] = ident(c.Name), Literal(c, values[i])
	}
	return "INSERT INTO " + t.from() + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(lits, ", ") + ")"
}

// Update turns the row with key, only while it is still the version with
// hash, from have into want (values in Stored order): it sets the columns
// whose values differ.
func (t *Table) Update(key []Value, hash uint32, have, want []Value) string {
	var sets []string
	for i, c := range t.Stored() {
		if have[i] != want[i] {
			sets = append(sets, ident(c.Name)+" = "+Literal(c, want[i]))
		}
	}
	return "UPDATE " + t.from() + " SET " + strings.Join(sets, ", ") + " WHERE " + t.KeyEquals(key) + " AND " + t.HashEquals(hash)
}

// Delete removes the row with key, only while it is still the version with
// hash.
func (t *Table) Delete(key []Value, hash uint32) string {
	return "DELETE FROM " + t.from() + " WHERE " + t.KeyEquals(key) + " AND " + t.HashEquals(hash)
}
