package checksum

import (
	"reflect"
	"strconv"
	"testing"
)

func bound(s string) []Value { return []Value{Text(s)} }

func val(s string) *Value { v := Text(s); return &v }

func TestIntegerKey(t *testing.T) {
	tests := []struct {
		key  []string
		cols []Column
		want bool
	}{
		{[]string{"id"}, []Column{{Name: "id", DataType: "bigint"}}, true},
		{[]string{"id"}, []Column{{Name: "id", DataType: "varchar"}}, false},
		{[]string{"a", "b"}, []Column{{Name: "a", DataType: "int"}, {Name: "b", DataType: "int"}}, false},
		{[]string{"y"}, []Column{{Name: "y", DataType: "year"}}, false},
	}
	for _, tt := range tests {
		tb := &Table{Schema: "s", Name: "t", Columns: tt.cols, Key: tt.key, Index: "PRIMARY"}
		if got := tb.IntegerKey(); got != tt.want {
			t.Errorf("%v: %v, want %v", tt.cols, got, tt.want)
		}
	}
}

// walk runs a chunker over a table whose keys are given, counting each
// chunk's rows as the servers would, and answers the chunks.
func walk(t *testing.T, keys []int64, density float64, rows int) []Chunk {
	t.Helper()
	var min, max *Value
	if len(keys) > 0 {
		min, max = val(itoa(keys[0])), val(itoa(keys[len(keys)-1]))
	}
	c, err := NewIntChunker(0, nil, min, max, density)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []Chunk
	for len(chunks) < 1000 {
		ch := c.Next(rows)
		n := int64(0)
		var next *Value
		for _, k := range keys {
			if inChunk(ch, k) {
				n++
			}
			if next == nil && ch.Upper != nil && k > atoi(ch.Upper[0].Text) {
				next = val(itoa(k))
			}
		}
		chunks = append(chunks, ch)
		if n > 0 {
			next = nil
		}
		c.Done(ch, n, next)
		if ch.Last() {
			return chunks
		}
	}
	t.Fatal("the walk does not end")
	return nil
}

func inChunk(c Chunk, k int64) bool {
	return (c.Lower == nil || k > atoi(c.Lower[0].Text)) && (c.Upper == nil || k <= atoi(c.Upper[0].Text))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestIntChunkerCoversEveryKeyOnce(t *testing.T) {
	var dense, gappy []int64
	for k := int64(1); k <= 10_000; k++ {
		dense = append(dense, k)
	}
	for k := int64(1); k <= 1000; k++ {
		gappy = append(gappy, k)
	}
	for k := int64(1_000_000_000); k < 1_000_005_000; k++ {
		gappy = append(gappy, k)
	}
	for name, keys := range map[string][]int64{"dense": dense, "a gap of a billion": gappy, "empty": nil, "one row": {42}} {
		t.Run(name, func(t *testing.T) {
			chunks := walk(t, keys, 1, 1000)
			if chunks[0].Lower != nil || !chunks[len(chunks)-1].Last() {
				t.Errorf("first chunk not open below or last not open above: %+v ... %+v", chunks[0], chunks[len(chunks)-1])
			}
			for i := 1; i < len(chunks); i++ {
				if !reflect.DeepEqual(chunks[i].Lower, chunks[i-1].Upper) || chunks[i].Index != i {
					t.Fatalf("chunks %d and %d are not contiguous: %+v %+v", i-1, i, chunks[i-1], chunks[i])
				}
			}
			// Keys outside the planner's range (a row only another node has)
			// still fall in a chunk: the ends are open.
			for _, k := range append(keys, -5, 2_000_000_000) {
				n := 0
				for _, c := range chunks {
					if inChunk(c, k) {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("key %d falls in %d chunks", k, n)
				}
			}
			if len(chunks) > len(keys)/1000+4 {
				t.Errorf("%d chunks for %d keys of 1000-row chunks: a gap costs more than a chunk", len(chunks), len(keys))
			}
		})
	}
}

func TestIntChunkerShrinksOnDenseKeys(t *testing.T) {
	c, err := NewIntChunker(0, bound("100"), nil, val("1000000"), 0.001) // sparse so far: a step of 1,000,000 keys
	if err != nil {
		t.Fatal(err)
	}
	ch := c.Next(1000)
	if ch.Upper != nil {
		t.Fatalf("expected the whole rest in one chunk, got %+v", ch)
	}
	smaller, ok := c.Shrink(ch, 999_900, 1000) // but the optimizer sees every key there
	if !ok || smaller.Upper == nil || smaller.Upper[0].Text != "1100" || smaller.Lower[0].Text != "100" {
		t.Errorf("shrunk to %+v (%v), want keys 101-1100", smaller, ok)
	}
	if _, ok := c.Shrink(smaller, 3000, 1000); ok {
		t.Error("an estimate within 4x shrank the chunk")
	}
}

func TestIntChunkerResumes(t *testing.T) {
	c, err := NewIntChunker(7, bound("5000"), val("1"), val("10000"), 1)
	if err != nil {
		t.Fatal(err)
	}
	ch := c.Next(1000)
	want := Chunk{Index: 7, Lower: bound("5000"), Upper: bound("6000")}
	if !reflect.DeepEqual(ch, want) {
		t.Errorf("resumed at %+v, want %+v", ch, want)
	}
	if _, err := NewIntChunker(0, bound("x"), nil, nil, 1); err == nil {
		t.Error("a non-integer bound was accepted")
	}
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
