// Package classify decides where a client's SQL statement may run in a
// read/write-splitting router: on the primary, on a replica, or on every
// backend the session uses (session commands, replayed so that a statement
// keeps the meaning it has on a direct connection).
//
// Classification is pure: Classify looks at one statement text. Session turns
// classifications into routing decisions with the state a client connection
// accumulates: transactions, autocommit, pins to the primary and the session
// commands to replay on a newly opened backend.
//
// Statements are parsed with the TiDB parser; what it does not understand of
// MariaDB's dialect (RETURNING, SET STATEMENT ... FOR, EXECUTE IMMEDIATE,
// FOR SYSTEM_TIME, SELECT ... INTO @v, XA, HANDLER, compound statements) is
// recognised from tokens before parsing, and what it parses as a plain read
// although it is not (NEXTVAL, GET_LOCK, @v := ...) is recognised from tokens
// in every statement. Anything unparseable or unknown goes to the primary.
// The content of executable comments (/*!NNNNN ... */, /*M!NNNNNN ... */) is
// classified as if the server ran it, whatever the version. Strings are read
// as in the default sql_mode (backslash escapes, no ANSI_QUOTES).
//
// Routing rules, one line each (Reason in brackets):
//
//	SELECT, TABLE, WITH ... SELECT, UNION/INTERSECT/EXCEPT replica [read]
//	SELECT ... FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE  primary [locking read]
//	SELECT ... INTO OUTFILE / DUMPFILE                    primary [select into]
//	SELECT ... INTO @v, SELECT @v := ..., GET DIAGNOSTICS primary + pin [user variable assignment]
//	SELECT reading @v                                     replica: every way of giving @v a value either
//	                                                      replays it on all backends or pins the session
//	stored (unknown) function call, db.f()                primary [stored function]
//	NEXTVAL/SETVAL/NEXT VALUE FOR, LASTVAL/PREVIOUS VALUE primary [nextval] [lastval]
//	GET_LOCK                                              primary + pin [get_lock]
//	RELEASE_ALL_LOCKS                                     primary + unpin of named locks
//	RELEASE_LOCK, IS_FREE_LOCK, IS_USED_LOCK              primary [named lock]
//	FOUND_ROWS(), ROW_COUNT(), @@warning_count/error_count same backend as last [found_rows] [row_count] [session result]
//	LAST_INSERT_ID([expr]), @@last_insert_id/identity/insert_id/last_gtid  primary: only writes set them
//	CONNECTION_ID(), MASTER_GTID_WAIT, LOAD_FILE          primary
//	@@global.x, @@server_id, @@read_only, @@gtid_*, @@wsrep_* primary [server state]
//	performance_schema.*, sys.*, information_schema.PROCESSLIST/*_STATUS/*_VARIABLES/INNODB_*  primary [server state]
//	FOR SYSTEM_TIME (system-versioned history)            primary [system-versioned read] (unparsed)
//	INSERT/UPDATE/DELETE/REPLACE/LOAD DATA, ... RETURNING primary [write] [returning]
//	CREATE/ALTER/DROP/RENAME/TRUNCATE                     primary, ends the transaction [ddl]
//	CREATE TEMPORARY TABLE                                primary + pin (until reset) [temporary table]
//	DROP TEMPORARY TABLE                                  primary (the pin stays)
//	SHOW tables/columns/create/index/databases/grants...  replica [show]
//	SHOW WARNINGS/ERRORS/PROFILE(S)                       same backend as last [show warnings]
//	SHOW VARIABLES/STATUS/PROCESSLIST/MASTER/SLAVE/BINLOG/ENGINE/other  primary [server state]
//	DESCRIBE, EXPLAIN                                     replica [explain]; EXPLAIN ANALYZE routes as its statement
//	BEGIN, START TRANSACTION [READ WRITE]                 primary, begins a transaction
//	START TRANSACTION READ ONLY                           replica, begins a read-only transaction
//	COMMIT, ROLLBACK [AND CHAIN]                          primary (the transaction's backend), ends it
//	ROLLBACK TO, SAVEPOINT, RELEASE SAVEPOINT             primary (the transaction's backend)
//	XA START/BEGIN ... XA COMMIT/ROLLBACK                 primary, begins/ends a transaction [xa]
//	SET autocommit=0 / =1                                 all backends; 0 keeps the session on the primary until 1;
//	                                                      a value it cannot read (@v) counts as 0 until the server says
//	SET [SESSION] var, SET NAMES, SET CHARACTER SET, SET ROLE  all backends, replayed [session variable]
//	SET @v = constant expression                          all backends, replayed [user variable]
//	SET @v = query / NOW() / RAND() / @@server_id ...     primary + pin [user variable not replayable]
//	SET TRANSACTION ... (next transaction only)           all backends, not replayed
//	SET GLOBAL var                                        primary [set global]
//	SET GLOBAL mixed with session variables               primary + pin
//	SET STATEMENT ... FOR stmt                            as stmt
//	USE db                                                all backends, replayed, only the last kept [use]
//	LOCK TABLES, FLUSH TABLES WITH READ LOCK              primary + pin until UNLOCK TABLES
//	UNLOCK TABLES                                         primary + unpin
//	PREPARE, EXECUTE (SQL level)                          primary + pin (until reset) [prepared statement]
//	DEALLOCATE PREPARE                                    primary
//	EXECUTE IMMEDIATE, CALL, HANDLER, BEGIN NOT ATOMIC/IF/WHILE/... (may change the session unseen)
//	                                                      primary + pin [execute immediate] [call] [handler] [compound statement]
//	KILL                                                  primary
//	DO expr                                               as SELECT expr
//	other statements (GRANT, FLUSH, ANALYZE, admin ...)   primary
//	unparseable, empty, unterminated                      primary; an unparseable SET or USE also pins
//	several statements (a;b)                              replica if all are plain reads, else primary;
//	                                                      a session command among them pins
package classify

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	// The parser needs a value driver; test_driver is the light one.
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// Route is where a statement may run.
type Route uint8

const (
	// Primary: writes, locking reads, unsure, unparseable.
	Primary Route = iota
	// Replica: a plain read that may go to a replica.
	Replica
	// All: a session command, run on the primary (whose answer goes to the
	// client) and replayed on every other backend the session has or opens.
	All
)

func (r Route) String() string {
	switch r {
	case Primary:
		return "primary"
	case Replica:
		return "replica"
	case All:
		return "all"
	}
	return "route(" + strconv.Itoa(int(r)) + ")"
}

// Class is what a statement is, for routing.
type Class struct {
	Route Route
	// BeginTx: BEGIN, START TRANSACTION, XA START, SET autocommit=0.
	BeginTx bool
	// ReadOnlyTx: START TRANSACTION READ ONLY.
	ReadOnlyTx bool
	// EndTx: COMMIT, ROLLBACK (not ROLLBACK TO SAVEPOINT), XA COMMIT/ROLLBACK,
	// statements that commit implicitly (DDL, LOCK TABLES), SET autocommit=1.
	EndTx bool
	// Autocommit is the value a SET autocommit gives (nil when not touched).
	// A value the classifier cannot tell (SET autocommit = @v) reads as off:
	// the session stays on the primary until the server reports otherwise.
	Autocommit *bool
	// Pin: from now on the session must stay on the primary (temporary
	// tables, GET_LOCK, LOCK TABLES, PREPARE, CALL, ...).
	Pin bool
	// Unpin undoes pins that can be undone: UNLOCK TABLES (LOCK TABLES, FLUSH
	// TABLES WITH READ LOCK) and RELEASE_ALL_LOCKS() (GET_LOCK). Temporary
	// tables, prepared statements, opaque statements and unreplayable user
	// variables pin until the session is reset.
	Unpin bool
	// SameBackend: reads session-local results of the previous statement
	// (FOUND_ROWS(), ROW_COUNT(), @@warning_count, SHOW WARNINGS), so it
	// must run where the previous statement ran. LAST_INSERT_ID() and
	// @@last_gtid are primary instead: only writes set them.
	SameBackend bool
	// Reason is short, for logs and tests: "write", "locking read", ...
	Reason string

	// pins and unpins say which pins Pin and Unpin set and clear.
	pins, unpins pinSet
	// replaySets lists (sorted, comma-separated) the session variables a
	// session command sets: "use" for USE, "@v" for user variables. Empty for
	// commands that are not replayed (SET TRANSACTION).
	replaySets string
	// replayReads lists the variables a session command's value depends on,
	// "*" for anything; a replayed command is only dropped for a later one
	// setting the same variables when nothing in between reads them.
	replayReads string
}

// pinSet records why a session is pinned to the primary.
type pinSet uint8

const (
	pinTempTable pinSet = 1 << iota
	pinLockTables
	pinNamedLock
	pinPrepared
	pinOpaque
	pinUserVar
	pinReplayOverflow
)

// undoablePins are the pins a statement can release.
const undoablePins = pinLockTables | pinNamedLock

var pinReasons = [...]string{
	"pinned: temporary table",
	"pinned: table lock",
	"pinned: named lock",
	"pinned: prepared statement",
	"pinned: opaque statement",
	"pinned: user variable",
	"pinned: too many session commands",
}

// reason names the first pin of the set.
func (p pinSet) reason() string {
	for i, r := range pinReasons {
		if p&(1<<i) != 0 {
			return r
		}
	}
	return ""
}

func primary(reason string) Class { return Class{Route: Primary, Reason: reason} }

func replica(reason string) Class { return Class{Route: Replica, Reason: reason} }

func pinned(reason string, p pinSet) Class {
	return Class{Route: Primary, Reason: reason, Pin: true, pins: p}
}

// restrict adds the effects of e to c: the stricter route wins (primary over
// all over same-backend replica over replica) and brings its reason; flags
// accumulate.
func (c Class) restrict(e Class) Class {
	if strictness(e) > strictness(c) {
		c.Route, c.Reason = e.Route, e.Reason
	}
	c.SameBackend = c.SameBackend || e.SameBackend
	c.pins |= e.pins
	c.unpins |= e.unpins
	c.Pin, c.Unpin = c.pins != 0, c.unpins != 0
	return c
}

func strictness(c Class) int {
	switch c.Route {
	case Replica:
		if c.SameBackend {
			return 1
		}
		return 0
	case All:
		return 2
	}
	return 3
}

// classify classifies a statement text without the cache. cacheable is false
// when the class may differ for another text with the same digest.
func classify(sql string) (_ Class, cacheable bool) {
	parts, broken := splitStatements(sql)
	switch {
	case broken:
		return primary("unterminated string or comment"), true
	case len(parts) == 0:
		return primary("empty"), true
	case len(parts) == 1:
		return classifyStatement(parts[0], 0)
	}
	return classifyMulti(parts)
}

// splitStatements splits a text at the top-level ';' into statements that
// have at least one token.
func splitStatements(sql string) (parts []string, broken bool) {
	l := lexer{src: sql}
	start, tokens := 0, 0
	for {
		t, ok := l.next()
		if !ok {
			break
		}
		if t.kind == tokOp && sql[t.start] == ';' {
			if tokens > 0 {
				parts = append(parts, sql[start:t.start])
			}
			start, tokens = t.end, 0
			continue
		}
		tokens++
	}
	if tokens > 0 {
		parts = append(parts, sql[start:])
	}
	return parts, l.broken
}

// classifyMulti folds the classes of several statements sent together: plain
// reads stay plain reads; anything else sends the whole text to the primary.
// Transaction flags follow the statements in order. A session command among
// them pins the session, since replaying the text would repeat its writes.
func classifyMulti(parts []string) (Class, bool) {
	out := replica("multi-statement read")
	cacheable, plain := true, true
	for _, part := range parts {
		c, ok := classifyStatement(part, 0)
		cacheable = cacheable && ok
		if c.Route != Replica || c.SameBackend || c.BeginTx || c.EndTx || c.pins != 0 || c.unpins != 0 {
			plain = false
		}
		if c.Route == All {
			out.pins |= pinOpaque
		}
		if c.EndTx {
			out.EndTx, out.BeginTx, out.ReadOnlyTx = true, false, false
		}
		if c.BeginTx {
			out.BeginTx, out.ReadOnlyTx = true, c.ReadOnlyTx
		}
		if c.Autocommit != nil {
			out.Autocommit = c.Autocommit
		}
		out.pins = out.pins&^c.unpins | c.pins
		out.unpins = out.unpins&^c.pins | c.unpins
		out.SameBackend = out.SameBackend || c.SameBackend
	}
	if !plain {
		out.Route, out.Reason = Primary, "multi-statement"
	}
	out.Pin, out.Unpin = out.pins != 0, out.unpins != 0
	return out, cacheable
}

// maxNesting bounds SET STATEMENT ... FOR SET STATEMENT ... FOR ...
const maxNesting = 4

// classifyStatement classifies a single statement (no top-level ';').
func classifyStatement(sql string, depth int) (Class, bool) {
	var marks []int
	toks := tokenize(sql, &marks)
	if len(toks) == 0 {
		return primary("empty"), true
	}
	effects := sessionEffects(toks)
	if c, cacheable, ok := classifyByTokens(sql, toks, depth); ok {
		return c.restrict(effects), cacheable
	}
	stmt, err := parse(withoutMarks(sql, marks))
	if err != nil {
		c := primary("unparseable")
		switch {
		case toks[0].is("set") || toks[0].is("use"):
			// The session changed in a way the router cannot replay.
			c = pinned("unparseable session command", pinOpaque)
		case toks[0].is("start") && word(toks, 1) == "transaction":
			// A read-only transaction the parser does not follow: on the primary.
			c = Class{Route: Primary, BeginTx: true, Reason: "begin"}
		}
		c = c.restrict(effects)
		if effects.Route == Primary {
			c.Reason = effects.Reason // more precise than "unparseable"
		}
		return c, false
	}
	c, cacheable := classifyAST(stmt, toks)
	return c.restrict(effects), cacheable
}

var parsers = sync.Pool{New: func() any { return parser.New() }}

func parse(sql string) (_ ast.StmtNode, err error) {
	p := parsers.Get().(*parser.Parser)
	defer func() {
		// The test driver panics on some literals (decimals of 80 digits).
		// The parser may be left half-way: it is not reused.
		if r := recover(); r != nil {
			err = fmt.Errorf("parser panic: %v", r)
			return
		}
		parsers.Put(p)
	}()
	stmts, _, err := p.ParseSQL(sql)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, errNotOneStatement
	}
	return stmts[0], nil
}

var errNotOneStatement = errors.New("not exactly one statement")

// withoutMarks blanks executable comment markers, so that the parser reads
// their content as MariaDB does (the TiDB parser skips /*M! comments).
func withoutMarks(sql string, marks []int) string {
	if len(marks) == 0 {
		return sql
	}
	b := []byte(sql)
	for i := 0; i+1 < len(marks); i += 2 {
		for j := marks[i]; j < marks[i+1]; j++ {
			b[j] = ' '
		}
	}
	return string(b)
}

// tok is a token with its text, lower-cased for names, keywords and
// variables: the slow path's view of a statement.
type tok struct {
	kind       tokKind
	text       string
	start, end int
}

func (t tok) is(word string) bool { return t.kind == tokWord && t.text == word }

func (t tok) isOp(op string) bool { return t.kind == tokOp && t.text == op }

func tokenize(sql string, marks *[]int) []tok {
	l := lexer{src: sql, marks: marks}
	var toks []tok
	for {
		t, ok := l.next()
		if !ok {
			return toks
		}
		text := sql[t.start:t.end]
		switch t.kind {
		case tokWord, tokUserVar, tokSysVar:
			text = strings.ToLower(text)
		}
		toks = append(toks, tok{kind: t.kind, text: text, start: t.start, end: t.end})
	}
}

// word returns the i-th token's lower-case text if it is a word.
func word(toks []tok, i int) string {
	if i < len(toks) && toks[i].kind == tokWord {
		return toks[i].text
	}
	return ""
}

func hasWord(toks []tok, w string) bool { return indexWords(toks, w) >= 0 }

// indexWords finds the first run of consecutive words.
func indexWords(toks []tok, words ...string) int {
	for i := 0; i+len(words) <= len(toks); i++ {
		match := true
		for j, w := range words {
			if !toks[i+j].is(w) {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

// sessionEffects finds, in any statement, what the parser would take for a
// plain read: session functions, sequences, user variable assignments.
func sessionEffects(toks []tok) Class {
	c := replica("read")
	for i, t := range toks {
		switch {
		case (t.kind == tokWord || t.kind == tokQuoted) && i+1 < len(toks) && toks[i+1].isOp("(") &&
			(i == 0 || !toks[i-1].isOp(".")):
			f, ok := sessionFunctions[strings.ToLower(strings.Trim(t.text, "`"))]
			if !ok {
				continue
			}
			c = c.restrict(Class{Route: f.route, SameBackend: f.sameBackend, pins: f.pins, unpins: f.unpins, Reason: f.reason})
		case t.is("value") && i > 0 && i+1 < len(toks) && toks[i+1].is("for"):
			switch {
			case toks[i-1].is("next"):
				c = c.restrict(primary("nextval"))
			case toks[i-1].is("previous"):
				c = c.restrict(primary("lastval"))
			}
		case t.kind == tokUserVar && i+1 < len(toks) && toks[i+1].isOp(":=") && !setTarget(toks, i):
			c = c.restrict(pinned("user variable assignment", pinUserVar))
		}
	}
	return c
}

// setTarget reports a variable assigned by SET itself (SET @a := 1, @b := 2),
// which the SET classification handles, rather than inside an expression.
func setTarget(toks []tok, i int) bool {
	return toks[0].is("set") && i > 0 && (toks[i-1].is("set") || toks[i-1].isOp(","))
}

// classifyByTokens classifies the statements recognised from their tokens:
// MariaDB syntax the TiDB parser rejects, and statements whose routing only
// depends on their first words.
func classifyByTokens(sql string, toks []tok, depth int) (_ Class, cacheable, ok bool) {
	first, second := word(toks, 0), word(toks, 1)
	switch first {
	case "set":
		if second == "statement" {
			c, cacheable := setStatement(sql, toks, depth)
			return c, cacheable, true
		}
		if setNames(toks) {
			// The parser rejects character sets it does not know (koi8r).
			return Class{Route: All, Reason: "set names", replaySets: charsetVariableList}, true, true
		}
	case "execute":
		if second == "immediate" {
			return pinned("execute immediate", pinOpaque), true, true
		}
		return pinned("prepared statement", pinPrepared), true, true
	case "prepare":
		return pinned("prepared statement", pinPrepared), true, true
	case "deallocate":
		return primary("prepared statement"), true, true
	case "drop":
		switch second {
		case "prepare":
			return primary("prepared statement"), true, true
		case "temporary":
			return primary("drop temporary table"), true, true
		}
	case "create":
		if second == "temporary" || (second == "or" && word(toks, 2) == "replace" && word(toks, 3) == "temporary") {
			return pinned("temporary table", pinTempTable), true, true
		}
	case "handler":
		return pinned("handler", pinOpaque), true, true
	case "call":
		return pinned("call", pinOpaque), true, true
	case "begin":
		if second == "not" {
			return pinned("compound statement", pinOpaque), true, true
		}
		return Class{Route: Primary, BeginTx: true, Reason: "begin"}, true, true
	case "start":
		// START TRANSACTION READ ONLY may go to a replica: the parser must
		// agree that it is one.
		if second == "transaction" && indexWords(toks, "read", "only") < 0 {
			return Class{Route: Primary, BeginTx: true, Reason: "begin"}, true, true
		}
	case "commit", "rollback":
		if first == "rollback" && hasWord(toks, "to") {
			return primary("rollback to savepoint"), true, true
		}
		chain := indexWords(toks, "and", "chain") > 0
		return Class{Route: Primary, EndTx: true, BeginTx: chain, Reason: first}, true, true
	case "savepoint", "release":
		return primary("savepoint"), true, true
	case "xa":
		switch second {
		case "start", "begin":
			return Class{Route: Primary, BeginTx: true, Reason: "xa"}, true, true
		case "commit", "rollback":
			return Class{Route: Primary, EndTx: true, Reason: "xa"}, true, true
		}
		return primary("xa"), true, true
	case "lock":
		c := pinned("lock tables", pinLockTables)
		c.EndTx = true // LOCK TABLES commits implicitly
		return c, true, true
	case "unlock":
		return Class{Route: Primary, Unpin: true, unpins: pinLockTables, Reason: "unlock tables"}, true, true
	case "flush":
		if indexWords(toks, "read", "lock") > 0 {
			return pinned("lock tables", pinLockTables), true, true
		}
		return primary("flush"), true, true
	case "kill":
		return primary("kill"), true, true
	case "get":
		// GET DIAGNOSTICS assigns user variables on one backend.
		return pinned("get diagnostics", pinUserVar), true, true
	case "if", "case", "while", "loop", "repeat", "declare":
		return pinned("compound statement", pinOpaque), true, true
	}
	if first != "" && len(toks) > 1 && toks[1].isOp(":") {
		return pinned("compound statement", pinOpaque), true, true // label: BEGIN ... END
	}
	switch {
	case hasWord(toks, "returning"):
		return primary("returning"), true, true
	case indexWords(toks, "for", "system_time") >= 0:
		return primary("system-versioned read"), true, true
	}
	if first == "select" || first == "with" || first == "values" || first == "table" || (len(toks) > 0 && toks[0].isOp("(")) {
		if i := indexWords(toks, "into"); i >= 0 {
			switch {
			case i+1 < len(toks) && toks[i+1].kind == tokUserVar:
				return pinned("select into variable", pinUserVar), true, true
			default:
				return primary("select into"), true, true
			}
		}
	}
	return Class{}, false, false
}

// setNames recognises SET NAMES x [COLLATE y], SET CHARACTER SET x and
// SET CHARSET x, with x and y names, strings or DEFAULT.
func setNames(toks []tok) bool {
	i := 2
	switch word(toks, 1) {
	case "names", "charset":
	case "character":
		if word(toks, 2) != "set" {
			return false
		}
		i = 3
	default:
		return false
	}
	name := func(i int) bool {
		return i < len(toks) && (toks[i].kind == tokWord || toks[i].kind == tokString || toks[i].kind == tokQuoted)
	}
	switch {
	case !name(i):
		return false
	case len(toks) == i+1:
		return true
	}
	return word(toks, 1) == "names" && toks[i+1].is("collate") && name(i+2) && len(toks) == i+3
}

// setStatement classifies SET STATEMENT var=value[, ...] FOR statement as its
// statement: the variables only hold while it runs.
func setStatement(sql string, toks []tok, depth int) (Class, bool) {
	if depth >= maxNesting {
		return primary("unparseable"), true
	}
	parens := 0
	for i := 2; i < len(toks); i++ {
		switch {
		case toks[i].isOp("("):
			parens++
		case toks[i].isOp(")"):
			parens--
		case parens == 0 && toks[i].is("for") && i+1 < len(toks):
			c, cacheable := classifyStatement(sql[toks[i+1].start:], depth+1)
			if c.Route == All {
				// A session command limited to one statement cannot be replayed.
				c = c.restrict(pinned("set statement", pinOpaque))
			}
			return c, cacheable
		}
	}
	return primary("unparseable"), true
}
