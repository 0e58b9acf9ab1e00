package classify

import "strings"

// The lexer splits MariaDB SQL into tokens without allocating. It follows the
// TiDB lexer where MariaDB and TiDB agree (so that a statement's digest and its
// parse see the same tokens) and MariaDB where they differ: the content of
// executable comments /*!NNNNN ... */ and /*M!NNNNNN ... */ is lexed as SQL,
// whatever the version number, because MariaDB runs it.
//
// It assumes the default sql_mode: backslash escapes in strings and "..." as a
// string (not ANSI_QUOTES).

type tokKind uint8

const (
	tokWord   tokKind = iota + 1 // unquoted identifier or keyword
	tokQuoted                    // `identifier`
	tokString                    // '...', "...", X'..', B'..', N'..'
	tokNumber
	tokParam   // ?
	tokUserVar // @name, @'name', @`name`
	tokSysVar  // @@name, @@session.name
	tokOp      // operator or punctuation
)

type token struct {
	kind       tokKind
	start, end int // byte offsets in the lexed text
}

const (
	ccIdent = 1 << iota // continues an unquoted identifier
	ccDigit
	ccSpace // separates tokens
	ccHex
	ccSkip // may start whitespace or a comment (other than ' ')
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= '0' && c <= '9':
			t[c] = ccIdent | ccDigit | ccHex
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			t[c] = ccIdent | ccHex
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '$', c >= 0x80:
			t[c] = ccIdent
		}
	}
	// The TiDB lexer uses unicode.IsSpace on single bytes, which includes
	// NEL (0x85) and NBSP (0xA0) where a token may start.
	for _, c := range []byte{' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0} {
		t[c] |= ccSpace | ccSkip
	}
	for _, c := range []byte{'#', '-', '/', '*'} {
		t[c] |= ccSkip
	}
	return t
}()

func isDigit(c byte) bool { return charClass[c]&ccDigit != 0 }

type lexer struct {
	src string
	pos int
	// inExec is set inside an executable comment, whose "*/" is skipped.
	inExec bool
	// broken records an unterminated comment, string or quoted identifier.
	broken bool
	// prev is the kind of the previous token and prevOp its byte when it is a
	// one-byte operator: a '.' after an identifier makes a following number
	// an identifier (t.1a), a '.' elsewhere may start a number (.5).
	prev   tokKind
	prevOp byte
	// marks, when not nil, receives the [start, end) offsets of executable
	// comment openers and closers, so that the parser can be given their
	// content without them.
	marks *[]int
}

func (l *lexer) mark(start, end int) {
	if l.marks != nil {
		*l.marks = append(*l.marks, start, end)
	}
}

// skip moves past whitespace and comments.
func (l *lexer) skip() {
	src := l.src
	i := l.pos
	for i < len(src) {
		c := src[i]
		switch {
		case charClass[c]&ccSpace != 0:
			i++
		case c == '#':
			i = lineEnd(src, i)
		case c == '-' && i+1 < len(src) && src[i+1] == '-' && (i+2 == len(src) || charClass[src[i+2]]&ccSpace != 0):
			i = lineEnd(src, i)
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			if n := execOpener(src[i:]); n > 0 {
				l.mark(i, i+n)
				l.inExec = true
				i += n
				continue
			}
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				l.broken = true
				i = len(src)
				continue
			}
			i += 2 + end + 2
		case c == '*' && l.inExec && i+1 < len(src) && src[i+1] == '/':
			l.mark(i, i+2)
			l.inExec = false
			i += 2
		default:
			l.pos = i
			return
		}
	}
	l.pos = i
}

func lineEnd(src string, i int) int {
	if n := strings.IndexByte(src[i:], '\n'); n >= 0 {
		return i + n + 1
	}
	return len(src)
}

// execOpener returns the length of an executable comment opener at the start
// of s: "/*!" or "/*M!" and an optional 5 or 6 digit server version.
func execOpener(s string) int {
	var n int
	switch {
	case strings.HasPrefix(s, "/*!"):
		n = 3
	case strings.HasPrefix(s, "/*M!"):
		n = 4
	default:
		return 0
	}
	digits := 0
	for n+digits < len(s) && digits < 6 && isDigit(s[n+digits]) {
		digits++
	}
	if digits >= 5 {
		n += digits
	}
	return n
}

// next returns the next token; ok is false at the end of the text.
func (l *lexer) next() (t token, ok bool) {
	src := l.src
	i := l.pos
	if i < len(src) && src[i] == ' ' { // the usual separator, without a call
		i++
	}
	if i < len(src) && charClass[src[i]]&ccSkip != 0 {
		l.pos = i
		l.skip()
		i = l.pos
	}
	if i >= len(src) {
		return token{}, false
	}
	c := src[i]
	kind := tokOp
	end := i + 1
	afterDot := l.prev == tokOp && l.prevOp == '.'
	switch {
	case isDigit(c):
		if afterDot {
			kind, end = tokWord, identEnd(src, i)
		} else {
			kind, end = scanNumber(src, i)
		}
	case charClass[c]&ccIdent != 0:
		if isStringPrefix(c) && i+1 < len(src) && src[i+1] == '\'' {
			kind, end = tokString, l.quotedEnd(src, i+1, true)
		} else {
			kind, end = tokWord, identEnd(src, i)
		}
	case c == '\'' || c == '"':
		kind, end = tokString, l.quotedEnd(src, i, true)
	case c == '`':
		kind, end = tokQuoted, l.quotedEnd(src, i, false)
	case c == '@':
		if i+1 < len(src) && src[i+1] == '@' {
			kind, end = tokSysVar, l.varEnd(src, i+2)
		} else {
			kind, end = tokUserVar, l.varEnd(src, i+1)
		}
	case c == '?':
		kind = tokParam
	case c == '.' && i+1 < len(src) && isDigit(src[i+1]) && !afterIdentifier(l.prev):
		kind, end = scanFloat(src, i)
	default:
		end = i + opLen(src[i:])
	}
	l.pos = end
	l.prev, l.prevOp = kind, 0
	if kind == tokOp && end == i+1 {
		l.prevOp = c
	}
	return token{kind: kind, start: i, end: end}, true
}

func afterIdentifier(k tokKind) bool { return k == tokWord || k == tokQuoted }

func isStringPrefix(c byte) bool {
	switch c | 0x20 {
	case 'x', 'b', 'n':
		return true
	}
	return false
}

func identEnd(src string, i int) int {
	for i < len(src) && charClass[src[i]]&ccIdent != 0 {
		i++
	}
	return i
}

// scanNumber follows the TiDB lexer: hexadecimal 0x.., bit 0b.., integers,
// decimals and floats; an integer running into identifier characters (1abc)
// and malformed hex/bit literals are identifiers.
func scanNumber(src string, i int) (tokKind, int) {
	start := i
	if src[i] == '0' && i+1 < len(src) {
		switch src[i+1] {
		case 'x', 'X':
			j := i + 2
			for j < len(src) && charClass[src[j]]&ccHex != 0 {
				j++
			}
			if j == i+2 {
				return tokWord, identEnd(src, start)
			}
			return tokNumber, j
		case 'b':
			j := i + 2
			for j < len(src) && (src[j] == '0' || src[j] == '1') {
				j++
			}
			if j == i+2 || (j < len(src) && isDigit(src[j])) {
				return tokWord, identEnd(src, start)
			}
			return tokNumber, j
		case 'B':
			return tokWord, identEnd(src, start)
		}
	}
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	if i < len(src) {
		switch c := src[i]; {
		case c == '.' || c == 'e' || c == 'E':
			return scanFloat(src, start)
		case charClass[c]&ccIdent != 0:
			return tokWord, identEnd(src, start)
		}
	}
	return tokNumber, i
}

// scanFloat scans D1 . D2 e D3; an exponent without digits turns the whole
// run of identifier characters into an identifier, as in TiDB (9est).
func scanFloat(src string, start int) (tokKind, int) {
	i := start
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	if i < len(src) && src[i] == '.' {
		i++
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '-' || src[i] == '+') {
			i++
		}
		if i >= len(src) || !isDigit(src[i]) {
			if end := identEnd(src, start); end > start {
				return tokWord, end
			}
			// ".e": TiDB reports an invalid token; one byte keeps us moving.
			return tokOp, start + 1
		}
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	return tokNumber, i
}

// quotedEnd returns the end of the quoted string or identifier whose opening
// quote is at i. Doubled quotes stand for one; backslash escapes apply to
// strings only.
func (l *lexer) quotedEnd(src string, i int, backslash bool) int {
	q := src[i]
	i++
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\\' && backslash:
			i += 2
		case c == q:
			if i+1 < len(src) && src[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		default:
			i++
		}
	}
	l.broken = true
	return len(src)
}

// varEnd returns the end of a variable name starting at i (after the @ or @@).
func (l *lexer) varEnd(src string, i int) int {
	if i < len(src) {
		switch src[i] {
		case '\'', '"':
			return l.quotedEnd(src, i, true)
		case '`':
			return l.quotedEnd(src, i, false)
		}
	}
	for i < len(src) && (charClass[src[i]]&ccIdent != 0 || src[i] == '.') {
		i++
	}
	return i
}

// opLen returns the length of the operator at the start of s: one of
// <=> ->> <= >= <> != := || && << >> -> or a single byte.
func opLen(s string) int {
	if len(s) < 2 {
		return 1
	}
	c1 := s[1]
	switch s[0] {
	case '<':
		if c1 == '=' && len(s) > 2 && s[2] == '>' {
			return 3
		}
		if c1 == '=' || c1 == '>' || c1 == '<' {
			return 2
		}
	case '-':
		if c1 == '>' {
			if len(s) > 2 && s[2] == '>' {
				return 3
			}
			return 2
		}
	case '>':
		if c1 == '=' || c1 == '>' {
			return 2
		}
	case '!', ':':
		if c1 == '=' {
			return 2
		}
	case '|', '&':
		if c1 == s[0] {
			return 2
		}
	}
	return 1
}
