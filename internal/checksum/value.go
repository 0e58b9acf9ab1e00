package checksum

import (
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/meridian-geo/meridian/internal/node"
)

// Value is one column value as the server's text protocol sends it.
type Value struct {
	Text string
	Null bool
}

// Text is a non-NULL value.
func Text(s string) Value { return Value{Text: s} }

// Null is SQL NULL.
var Null = Value{Null: true}

// MarshalJSON writes NULL as null and anything else as its text.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.Null {
		return []byte("null"), nil
	}
	return json.Marshal(v.Text)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *Value) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*v = Null
		return nil
	}
	*v = Value{}
	return json.Unmarshal(data, &v.Text)
}

// String shows the value to people: NULL, its text, or 0x and hexadecimal
// for bytes that are not printable text.
func (v Value) String() string {
	if v.Null {
		return "NULL"
	}
	if !utf8.ValidString(v.Text) || strings.IndexFunc(v.Text, unprintable) >= 0 {
		return "0x" + strings.ToUpper(hex.EncodeToString([]byte(v.Text)))
	}
	return v.Text
}

func unprintable(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' }

// KeyString encodes a key's values into one map key: each value's length,
// then its text, so no two different keys share an encoding.
func KeyString(key []Value) string {
	var b strings.Builder
	for _, v := range key {
		if v.Null {
			b.WriteString("N;")
			continue
		}
		b.WriteString(strconv.Itoa(len(v.Text)))
		b.WriteByte(':')
		b.WriteString(v.Text)
	}
	return b.String()
}

// Column kinds decide how a value is written back into a statement.
var (
	integerTypes = setOf("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year")
	numericTypes = setOf("decimal", "numeric", "float", "double", "real")
	binaryTypes  = setOf("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit")
	// temporalTypes are read as text by CAST: the driver would parse them.
	temporalTypes = setOf("date", "datetime", "timestamp")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

var (
	integerText = regexp.MustCompile(`^-?[0-9]+$`)
	numberText  = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)
)

// Literal writes v as a SQL literal for column c: numbers bare (only when
// they look like numbers), binary data and text that is not valid UTF-8 as
// hexadecimal, other text quoted. The result is safe to splice into a
// statement run through a node.Client (see node.QuoteString).
func Literal(c Column, v Value) string {
	switch {
	case v.Null:
		return "NULL"
	case integerTypes[c.DataType] && integerText.MatchString(v.Text):
		return v.Text
	case numericTypes[c.DataType] && numberText.MatchString(v.Text):
		return v.Text
	case binaryTypes[c.DataType] || !utf8.ValidString(v.Text):
		if v.Text == "" {
			return "''"
		}
		return "X'" + strings.ToUpper(hex.EncodeToString([]byte(v.Text))) + "'"
	}
	return node.QuoteString(v.Text)
}
