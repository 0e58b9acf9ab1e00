package topology

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// index maps field paths ("clusters[0].nodes[1].name") to the YAML nodes they
// were read from, so every problem found after decoding can name its line.
type index struct {
	entries []entry
	byPath  map[string]int // first entry of each path
}

// entry is one value of the document; key is nil for list items and the root.
type entry struct {
	path       string
	key, value *yaml.Node
}

func newIndex(root *yaml.Node) *index {
	x := &index{byPath: map[string]int{}}
	x.walk("", nil, root)
	return x
}

func (x *index) walk(path string, key, n *yaml.Node) {
	if _, seen := x.byPath[path]; !seen {
		x.byPath[path] = len(x.entries)
	}
	x.entries = append(x.entries, entry{path: path, key: key, value: n})
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Value == "<<" { // merge keys carry no field of their own
				continue
			}
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
			}
			x.walk(child, k, n.Content[i+1])
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			x.walk(fmt.Sprintf("%s[%d]", path, i), nil, item)
		}
	}
}

// has reports whether the file sets path to a non-null value.
func (x *index) has(path string) bool {
	i, ok := x.byPath[path]
	return ok && x.entries[i].value.ShortTag() != "!!null"
}

// line is where path is written or, when the file leaves it out, where its
// nearest written parent is.
func (x *index) line(path string) int {
	for {
		if i, ok := x.byPath[path]; ok {
			e := x.entries[i]
			if e.key != nil {
				return e.key.Line
			}
			return e.value.Line
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// parentPath drops the last element: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// keyAt finds the mapping key named key written on line.
func (x *index) keyAt(line int, key string) (entry, bool) {
	for _, e := range x.entries {
		if e.key != nil && e.key.Line == line && e.key.Value == key {
			return e, true
		}
	}
	return entry{}, false
}

// valueAt finds the value written on line that matches what the decoder said
// about it: its column when known, its tag, the start of its text and the Go
// type it was decoded into ("" where unknown).
func (x *index) valueAt(line, column int, tag, prefix, goType string) (entry, bool) {
	for _, e := range x.entries {
		v := e.value
		switch {
		case v.Line != line,
			column > 0 && v.Column != column,
			tag != "" && v.ShortTag() != tag,
			!strings.HasPrefix(v.Value, prefix),
			goType != "" && typeAt(e.path) != goType:
			continue
		}
		return e, true
	}
	return entry{}, false
}
