package node

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// QuoteString returns s as a MariaDB string literal. Every character that
// could end the literal or confuse the parser is escaped, so any string is
// safe to splice into a statement. It relies on backslash escapes, which the
// sessions of a Client always have (Open turns NO_BACKSLASH_ESCAPES off), so
// use it only for statements run through a Client.
func QuoteString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case 0x1a:
			b.WriteString(`\Z`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// maxConnectionName is MariaDB's documented limit for a replication
// connection name. 10.11 accepts somewhat longer names, but nothing
// guarantees that; staying inside the documented limit keeps names portable.
const maxConnectionName = 64

// checkConnection validates a replication connection name. "" is MariaDB's
// default (unnamed) connection. Names are compared case-insensitively by the
// server; control characters are refused because they end up in file names.
func checkConnection(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("connection name %q is not valid UTF-8", name)
	}
	if n := utf8.RuneCountInString(name); n > maxConnectionName {
		return fmt.Errorf("connection name %q has %d characters, MariaDB allows at most %d", name, n, maxConnectionName)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return fmt.Errorf("connection name %q contains a control character", name)
	}
	return nil
}

var variableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// checkVariable validates a system variable name before it is spliced into
// SET GLOBAL (variable names cannot be bound as parameters).
func checkVariable(name string) error {
	if !variableName.MatchString(name) {
		return fmt.Errorf("variable name %q: want lower-case letters, digits and '_'", name)
	}
	return nil
}

var bareValue = regexp.MustCompile(`^(-?[0-9]+(\.[0-9]+)?|(?i:ON|OFF))$`)

// valueLiteral writes a SET GLOBAL value: numbers and ON/OFF as they are,
// anything else as a string literal.
func valueLiteral(v string) string {
	if bareValue.MatchString(v) {
		return v
	}
	return QuoteString(v)
}

// secretLiteral finds string literals that hold credentials: IDENTIFIED BY
// 'pw', IDENTIFIED VIA ... USING|AS 'pw', PASSWORD('pw'), MASTER_PASSWORD='pw'.
// It errs on the side of redacting (ORDER BY 'x' is redacted too).
var secretLiteral = regexp.MustCompile(`(?i)((?:\bBY|\bUSING|\bAS|PASSWORD\s*[(=]?)\s*)'((?:[^'\\]|\\.|'')*)'`)

// redact returns stmt with credential literals replaced by '***', and the
// literals' contents as written in stmt.
func redact(stmt string) (shown string, secrets []string) {
	for _, m := range secretLiteral.FindAllStringSubmatch(stmt, -1) {
		if m[2] != "" {
			secrets = append(secrets, m[2])
		}
	}
	return secretLiteral.ReplaceAllString(stmt, "${1}'***'"), secrets
}

// echoedText is where MariaDB error messages quote statement text, possibly
// truncated: "near '...' at line 1" (1064), "String '...' is too long" (1470).
var echoedText = regexp.MustCompile(`(?s)(near |String )'.*'`)

// scrub removes secrets from the error message of a statement that held them:
// echoed statement text goes entirely, and any verbatim copy elsewhere.
func scrub(msg string, secrets []string) string {
	if len(secrets) == 0 {
		return msg
	}
	msg = echoedText.ReplaceAllString(msg, "${1}'***'")
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "***")
	}
	return msg
}
