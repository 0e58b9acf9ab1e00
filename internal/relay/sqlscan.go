package relay

import "strings"

type tableRef struct{ schema, name string }

// dmlKeywords start the statements that change rows; a statement-based
// binlog carries them as text.
var dmlKeywords = map[string]bool{"INSERT": true, "REPLACE": true, "UPDATE": true, "DELETE": true, "LOAD": true, "WITH": true}

// changedTables reads a statement well enough for the filter: whether it
// may change rows (its first keyword), and every name in it that could be
// a table, bare names taken in schema. It over-approximates on purpose (a
// column named like a personal table counts): the cost of a false match is
// a statement kept in its region, of a miss a leak.
func changedTables(text []byte, schema string) ([]tableRef, bool) {
	words := scanWords(string(text))
	if len(words) == 0 {
		return nil, false
	}
	first := words[0]
	if first.quoted || !dmlKeywords[strings.ToUpper(first.text)] {
		return nil, false
	}
	var refs []tableRef
	for _, w := range words[1:] {
		refs = append(refs, tableRef{schema, w.text})
		if w.qualifier != "" {
			refs = append(refs, tableRef{w.qualifier, w.text})
		}
	}
	return refs, true
}

type word struct {
	text, qualifier string
	quoted          bool
}

// scanWords splits SQL into identifiers and keywords, joining "a.b" into
// one word qualified by a, and skipping strings, numbers and comments.
func scanWords(s string) []word {
	var words []word
	dotted := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			i = skipQuoted(s, i, c)
			dotted = false
		case c == '`':
			end := skipQuoted(s, i, '`')
			text := strings.ReplaceAll(s[i+1:max(i+1, end-1)], "``", "`")
			words = appendWord(words, word{text: text, quoted: true}, dotted)
			dotted, i = false, end
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			if end := strings.Index(s[i+2:], "*/"); end >= 0 {
				i += end + 4
			} else {
				i = len(s)
			}
		case c == '#' || (c == '-' && i+2 < len(s) && s[i+1] == '-' && (s[i+2] == ' ' || s[i+2] == '\t')):
			if end := strings.IndexByte(s[i:], '\n'); end >= 0 {
				i += end + 1
			} else {
				i = len(s)
			}
		case c == '.':
			dotted = len(words) > 0
			i++
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			if c < '0' || c > '9' || dotted {
				words = appendWord(words, word{text: s[i:j]}, dotted)
			}
			dotted, i = false, j
		default:
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				dotted = false
			}
			i++
		}
	}
	return words
}

// appendWord adds w, qualified by the previous word when a dot joined them.
func appendWord(words []word, w word, dotted bool) []word {
	if dotted && len(words) > 0 {
		prev := words[len(words)-1]
		w.qualifier = prev.text
		return append(words, w)
	}
	return append(words, w)
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80
}

// skipQuoted returns the index after the string or identifier quoted by q
// that starts at i; a doubled quote or (in strings) a backslash escapes.
func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q && j+1 < len(s) && s[j+1] == q:
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}
