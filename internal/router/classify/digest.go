package classify

import "github.com/cespare/xxhash/v2"

// unterminatedMark ends the digest of a statement with an unterminated string,
// quoted identifier or comment. No complete statement can produce it, since
// comments never reach a digest, so such statements never share a digest with
// a valid one.
const unterminatedMark = " /*unterminated*/"

// Digest returns the normalised form of a statement and its 64-bit xxHash. Statements that differ only in literal values, comments, whitespace,
// letter case of keywords and unquoted names, or the length of a list of
// literals share a digest:
//
//	SELECT * FROM t WHERE id IN (1, 2, 3) -- x   =>  select * from t where id in(?+)
//
// Literals become ?, a comma-separated run of literals becomes ?+, repeated
// rows of literals become one, the content of executable comments is kept, a
// trailing ';' is dropped.
func Digest(sql string) (normalised string, hash uint64) {
	buf, _ := appendNormalised(make([]byte, 0, len(sql)), sql)
	return string(buf), xxhash.Sum64(buf)
}

// appendNormalised appends the digest text of sql to dst and reports whether
// sql has an unterminated string, quoted identifier or comment.
func appendNormalised(dst []byte, sql string) (_ []byte, broken bool) {
	l := lexer{src: sql}
	base := len(dst)
	var prevKind tokKind // of the last emitted token; 0 at the start
	var prevOp byte
	semicolon := false
	for {
		t, ok := l.next()
		if !ok {
			break
		}
		var op byte
		if t.kind == tokOp && t.end == t.start+1 {
			op = sql[t.start]
			if op == ';' {
				semicolon = len(dst) > base
				continue
			}
		}
		if semicolon {
			dst = append(dst, ';')
			prevKind, prevOp, semicolon = tokOp, ';', false
		}
		if isLiteral(t.kind) {
			if n := len(dst); n-base >= 2 && dst[n-1] == ',' {
				if dst[n-2] == '?' {
					dst[n-1] = '+'
					prevKind, prevOp = t.kind, op
					continue
				}
				if n-base >= 3 && dst[n-2] == '+' && dst[n-3] == '?' {
					dst = dst[:n-1]
					prevKind, prevOp = t.kind, op
					continue
				}
			}
		}
		if len(dst) > base && spaceBetween(prevKind, prevOp, t.kind, op) {
			dst = append(dst, ' ')
		}
		switch t.kind {
		case tokString, tokNumber, tokParam:
			dst = append(dst, '?')
		case tokWord, tokUserVar, tokSysVar:
			dst = appendLower(dst, sql[t.start:t.end])
		default:
			if op == ')' {
				dst = collapseRows(append(dst, op), base)
			} else if op != 0 {
				dst = append(dst, op)
			} else {
				dst = append(dst, sql[t.start:t.end]...)
			}
		}
		prevKind, prevOp = t.kind, op
	}
	if l.broken {
		dst = append(dst, unterminatedMark...)
	}
	return dst, l.broken
}

// collapseRows folds a repeated row of literals, "(?+), (?+)", into one, so
// that multi-row INSERTs share a digest whatever their row count.
func collapseRows(dst []byte, base int) []byte {
	for _, row := range [...]string{"(?+)", "(?)"} {
		n := len(dst)
		if n-base >= 2*len(row)+2 && string(dst[n-len(row):]) == row && string(dst[n-2*len(row)-2:n-len(row)-2]) == row &&
			dst[n-len(row)-2] == ',' && dst[n-len(row)-1] == ' ' {
			return dst[:n-len(row)-2]
		}
	}
	return dst
}

func isLiteral(k tokKind) bool { return k == tokString || k == tokNumber || k == tokParam }

// spaceBetween gives digests one spelling whatever the original spacing:
// no space after '(' and '.', none before ',', ')' and '.', none between a
// name and '(' (function calls), one space elsewhere.
func spaceBetween(prev tokKind, prevOp byte, cur tokKind, curOp byte) bool {
	if prev == tokOp && (prevOp == '(' || prevOp == '.') {
		return false
	}
	if cur == tokOp {
		switch curOp {
		case ',', ')', '.':
			return false
		case '(':
			return !afterIdentifier(prev)
		}
	}
	return true
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = append(dst, lowerCase[s[i]])
	}
	return dst
}

var lowerCase = func() (t [256]byte) {
	for c := range t {
		t[c] = byte(c)
		if c >= 'A' && c <= 'Z' {
			t[c] += 'a' - 'A'
		}
	}
	return t
}()
