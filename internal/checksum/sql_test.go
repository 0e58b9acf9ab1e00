package checksum

import (
	"strings"
	"testing"
)

func orders() *Table {
	return &Table{
		Schema: "shop", Name: "orders",
		Columns: []Column{
			{Name: "region", DataType: "char", ColumnType: "char(2)"},
			{Name: "id", DataType: "bigint", ColumnType: "bigint(20) unsigned"},
			{Name: "total", DataType: "decimal", ColumnType: "decimal(10,2)", Nullable: true},
			{Name: "weight", DataType: "float", ColumnType: "float", Nullable: true},
			{Name: "doubled", DataType: "decimal", ColumnType: "decimal(11,2)", Nullable: true, Generated: true},
			{Name: "note", DataType: "text", ColumnType: "text", Nullable: true},
		},
		Key:   []string{"region", "id"},
		Index: "PRIMARY",
	}
}

func TestChecksumQuery(t *testing.T) {
	tb := orders()
	hash := "CRC32(CONCAT_WS(0x00, `region`, `id`, `total`, `weight` + 0e0, `note`, CONCAT(ISNULL(`total`), ISNULL(`weight`), ISNULL(`note`))))"
	tests := []struct {
		name  string
		chunk Chunk
		want  string
	}{
		{"whole table", Chunk{}, "SELECT COUNT(*), COALESCE(BIT_XOR(" + hash + "), 0) FROM `shop`.`orders` FORCE INDEX (`PRIMARY`)"},
		{"first chunk: open below", Chunk{Upper: []Value{Text("EU"), Text("10")}},
			"SELECT COUNT(*), COALESCE(BIT_XOR(" + hash + "), 0) FROM `shop`.`orders` FORCE INDEX (`PRIMARY`)" +
				" WHERE ((`region` < 'EU') OR (`region` = 'EU' AND `id` <= 10))"},
		{"middle chunk", Chunk{Lower: []Value{Text("EU"), Text("10")}, Upper: []Value{Text("US"), Text("3")}},
			"SELECT COUNT(*), COALESCE(BIT_XOR(" + hash + "), 0) FROM `shop`.`orders` FORCE INDEX (`PRIMARY`)" +
				" WHERE ((`region` > 'EU') OR (`region` = 'EU' AND `id` > 10)) AND ((`region` < 'US') OR (`region` = 'US' AND `id` <= 3))"},
		{"last chunk: open above", Chunk{Lower: []Value{Text("US"), Text("3")}},
			"SELECT COUNT(*), COALESCE(BIT_XOR(" + hash + "), 0) FROM `shop`.`orders` FORCE INDEX (`PRIMARY`)" +
				" WHERE ((`region` > 'US') OR (`region` = 'US' AND `id` > 3))"},
	}
	for _, tt := range tests {
		if got := tb.ChecksumQuery(tt.chunk); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestRowQueries(t *testing.T) {
	tb := orders()
	c := Chunk{Lower: []Value{Text("EU"), Text("10")}}
	if got := tb.RowHashQuery(c); !strings.HasPrefix(got, "SELECT `region`, `id`, CRC32(") || !strings.HasSuffix(got, " ORDER BY `region`, `id`") {
		t.Errorf("RowHashQuery = %s", got)
	}
	if got, want := tb.BoundaryQuery(nil, 1000), "SELECT `region`, `id` FROM `shop`.`orders` FORCE INDEX (`PRIMARY`) ORDER BY `region`, `id` LIMIT 1 OFFSET 999"; got != want {
		t.Errorf("BoundaryQuery = %s, want %s", got, want)
	}
	if got, want := tb.BoundaryQuery([]Value{Text("EU"), Text("10")}, 1), "SELECT `region`, `id` FROM `shop`.`orders` FORCE INDEX (`PRIMARY`) WHERE ((`region` > 'EU') OR (`region` = 'EU' AND `id` > 10)) ORDER BY `region`, `id` LIMIT 1 OFFSET 0"; got != want {
		t.Errorf("BoundaryQuery = %s, want %s", got, want)
	}
	got := tb.RowsQuery([][]Value{{Text("EU"), Text("1")}, {Text("US"), Text("2")}})
	for _, part := range []string{
		"SELECT `region`, `id`, `total`, `weight` + 0e0, `note`, CRC32(",
		"WHERE ((`region` = 'EU' AND `id` = 1) OR (`region` = 'US' AND `id` = 2))",
	} {
		if !strings.Contains(got, part) {
			t.Errorf("RowsQuery = %s\nlacks %s", got, part)
		}
	}
	if strings.Contains(got, "doubled") {
		t.Errorf("RowsQuery reads the generated column: %s", got)
	}
}

func TestTemporalValuesAreReadAsServerText(t *testing.T) {
	tb := &Table{Schema: "s", Name: "t", Columns: []Column{
		{Name: "day", DataType: "date"}, {Name: "at", DataType: "datetime", Nullable: true}, {Name: "ts", DataType: "timestamp", Nullable: true},
	}, Key: []string{"day"}, Index: "PRIMARY"}
	if got, want := tb.BoundaryQuery(nil, 1), "SELECT CAST(`day` AS CHAR) FROM `s`.`t` FORCE INDEX (`PRIMARY`) ORDER BY `day` LIMIT 1 OFFSET 0"; got != want {
		t.Errorf("BoundaryQuery = %s", got)
	}
	if got := tb.RowsQuery([][]Value{{Text("2026-01-01")}}); !strings.HasPrefix(got, "SELECT CAST(`day` AS CHAR), CAST(`at` AS CHAR), CAST(`ts` AS CHAR), CRC32(CONCAT_WS(0x00, `day`, `at`, `ts`,") {
		t.Errorf("RowsQuery = %s", got)
	}
}

func TestValueString(t *testing.T) {
	for v, want := range map[Value]string{Null: "NULL", Text("a\nb"): "a\nb", Text("\x05"): "0x05", Text("\xff"): "0xFF", Text(""): ""} {
		if got := v.String(); got != want {
			t.Errorf("%q: %q, want %q", v.Text, got, want)
		}
	}
}

func TestRepairStatements(t *testing.T) {
	tb := orders()
	key := []Value{Text("EU"), Text("7")}
	row := []Value{Text("EU"), Text("7"), Text("10.50"), Null, Text("it's")}
	if got, want := tb.Insert(row), "INSERT INTO `shop`.`orders` (`region`, `id`, `total`, `weight`, `note`) VALUES ('EU', 7, 10.50, NULL, 'it\\'s')"; got != want {
		t.Errorf("Insert = %s\nwant %s", got, want)
	}
	have := []Value{Text("EU"), Text("7"), Text("9.00"), Null, Text("it's")}
	got := tb.Update(key, 42, have, row)
	if !strings.HasPrefix(got, "UPDATE `shop`.`orders` SET `total` = 10.50 WHERE `region` = 'EU' AND `id` = 7 AND CRC32(") || !strings.HasSuffix(got, ") = 42") {
		t.Errorf("Update = %s", got)
	}
	got = tb.Delete(key, 42)
	if !strings.HasPrefix(got, "DELETE FROM `shop`.`orders` WHERE `region` = 'EU' AND `id` = 7 AND CRC32(") || !strings.HasSuffix(got, ") = 42") {
		t.Errorf("Delete = %s", got)
	}
}

func TestLiteral(t *testing.T) {
	tests := []struct {
		col  Column
		v    Value
		want string
	}{
		{Column{DataType: "int"}, Text("-42"), "-42"},
		{Column{DataType: "int"}, Text("42 OR 1=1"), `'42 OR 1=1'`},
		{Column{DataType: "decimal"}, Text("10.50"), "10.50"},
		{Column{DataType: "double"}, Text("1.2345677614212036e-5"), "1.2345677614212036e-5"},
		{Column{DataType: "varchar"}, Text("O'Brien"), `'O\'Brien'`},
		{Column{DataType: "varchar"}, Null, "NULL"},
		{Column{DataType: "varchar"}, Text(""), "''"},
		{Column{DataType: "blob"}, Text("\x00\xff"), "X'00FF'"},
		{Column{DataType: "blob"}, Text(""), "''"},
		{Column{DataType: "bit"}, Text("\x05"), "X'05'"},
		{Column{DataType: "varchar"}, Text("bad\xffutf8"), "X'626164FF75746638'"},
		{Column{DataType: "datetime"}, Text("2026-01-01 10:00:00.123456"), "'2026-01-01 10:00:00.123456'"},
		{Column{DataType: "varchar"}, Text("`; DROP TABLE x; --"), "'`; DROP TABLE x; --'"},
	}
	for _, tt := range tests {
		if got := Literal(tt.col, tt.v); got != tt.want {
			t.Errorf("Literal(%s, %q) = %s, want %s", tt.col.DataType, tt.v.Text, got, tt.want)
		}
	}
}

func TestIdentifiersAreQuoted(t *testing.T) {
	tb := &Table{Schema: "we`ird", Name: "t", Columns: []Column{{Name: "i`d", DataType: "int"}}, Key: []string{"i`d"}, Index: "PRIMARY"}
	if got := tb.ChecksumQuery(Chunk{}); !strings.Contains(got, "`we``ird`.`t`") || !strings.Contains(got, "`i``d`") {
		t.Errorf("identifiers not quoted: %s", got)
	}
}

func TestKeyString(t *testing.T) {
	keys := [][]Value{
		{Text("a:b"), Text("c")},
		{Text("a"), Text("b:c")},
		{Text("ab"), Text("c")},
		{Text(""), Text("abc")},
		{Null, Text("abc")},
		{Text("N;"), Text("abc")},
	}
	seen := map[string]int{}
	for i, k := range keys {
		s := KeyString(k)
		if j, dup := seen[s]; dup {
			t.Errorf("keys %d and %d share encoding %q", j, i, s)
		}
		seen[s] = i
	}
}

func TestValidate(t *testing.T) {
	if err := orders().Validate(); err != nil {
		t.Errorf("orders: %v", err)
	}
	noKey := orders()
	noKey.Key = nil
	if err := noKey.Validate(); err == nil || !strings.Contains(err.Error(), "shop.orders has no primary key") {
		t.Errorf("no key: %v", err)
	}
}
