package classify

import (
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// classifyAST classifies a parsed statement that classifyByTokens left alone.
func classifyAST(stmt ast.StmtNode, toks []tok) (Class, bool) {
	switch s := stmt.(type) {
	case *ast.SelectStmt, *ast.SetOprStmt:
		return readClass(stmt, "read"), true
	case *ast.DoStmt:
		return readClass(stmt, "do"), true
	case *ast.ShowStmt:
		return showClass(s), true
	case *ast.ExplainStmt:
		if s.Analyze {
			// EXPLAIN ANALYZE runs its statement.
			return classifyAST(s.Stmt, nil)
		}
		return replica("explain"), true
	case *ast.BeginStmt:
		if s.ReadOnly {
			return Class{Route: Replica, BeginTx: true, ReadOnlyTx: true, Reason: "read-only transaction"}, true
		}
		return Class{Route: Primary, BeginTx: true, Reason: "begin"}, true
	case *ast.SetStmt:
		return setClass(s, toks)
	case *ast.SetRoleStmt:
		return Class{Route: All, Reason: "set role", replaySets: "role"}, true
	case *ast.UseStmt:
		return Class{Route: All, Reason: "use", replaySets: "use"}, true
	case *ast.InsertStmt, *ast.UpdateStmt, *ast.DeleteStmt, *ast.LoadDataStmt, *ast.NonTransactionalDMLStmt:
		return primary("write"), true
	case ast.DDLNode:
		c := primary("ddl")
		c.EndTx = true // DDL commits implicitly
		return c, true
	}
	return primary("other"), true
}

// readClass walks a read for what makes it more than a plain read.
func readClass(stmt ast.Node, reason string) Class {
	w := readWalker{class: replica(reason)}
	stmt.Accept(&w)
	return w.class
}

type readWalker struct{ class Class }

func (w *readWalker) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.SelectStmt:
		if x.LockInfo != nil && x.LockInfo.LockType != ast.SelectLockNone {
			w.class = w.class.restrict(primary("locking read"))
		}
		if x.SelectIntoOpt != nil {
			w.class = w.class.restrict(primary("select into"))
		}
	case *ast.FuncCallExpr:
		_, session := sessionFunctions[x.FnName.L]
		if x.Schema.L != "" || !(session || isReadOnlyFunction(x.FnName.L)) {
			w.class = w.class.restrict(primary("stored function"))
		}
	case *ast.VariableExpr:
		switch {
		case x.Value != nil:
			w.class = w.class.restrict(pinned("user variable assignment", pinUserVar))
		case x.IsSystem:
			route, sameBackend := sysVarRoute(strings.ToLower(x.Name), x.IsGlobal)
			switch {
			case route == Primary:
				w.class = w.class.restrict(primary("server state"))
			case sameBackend:
				w.class = w.class.restrict(Class{Route: Replica, SameBackend: true, Reason: "session result"})
			}
		}
	case *ast.TableName:
		if serverStateTable(x.Schema.L, x.Name.L) {
			w.class = w.class.restrict(primary("server state"))
		}
	}
	return n, false
}

func (w *readWalker) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func showClass(s *ast.ShowStmt) Class {
	switch s.Tp {
	case ast.ShowWarnings, ast.ShowErrors, ast.ShowProfile, ast.ShowProfiles:
		return Class{Route: Replica, SameBackend: true, Reason: "show warnings"}
	case ast.ShowEngines, ast.ShowDatabases, ast.ShowTables, ast.ShowTableStatus, ast.ShowColumns,
		ast.ShowCharset, ast.ShowCollation, ast.ShowCreateTable, ast.ShowCreateView, ast.ShowCreateUser,
		ast.ShowCreateSequence, ast.ShowCreateDatabase, ast.ShowCreateProcedure, ast.ShowGrants,
		ast.ShowTriggers, ast.ShowProcedureStatus, ast.ShowFunctionStatus, ast.ShowIndex, ast.ShowEvents,
		ast.ShowPlugins, ast.ShowPrivileges:
		return replica("show")
	}
	return primary("server state")
}

// charsetVariables are what SET NAMES and SET CHARACTER SET change.
var charsetVariables = []string{"character_set_client", "character_set_connection", "character_set_results", "collation_connection"}

var charsetVariableList = strings.Join(charsetVariables, ",")

// literalContext is what the value of a literal depends on.
var literalContext = append([]string{"sql_mode"}, charsetVariables...)

// setClass classifies SET var = value[, ...]: session and user variables are
// replayed on every backend when their values come out the same there;
// global variables belong to the primary.
func setClass(s *ast.SetStmt, toks []tok) (Class, bool) {
	oneShot := word(toks, 1) == "transaction" // SET TRANSACTION: next transaction only
	var sets, reads []string
	var global, local bool
	var pins pinSet
	var autocommit *bool
	reason := "session variable"
	for _, v := range s.Variables {
		switch {
		case v.Name == ast.SetNames || v.Name == ast.SetCharset:
			local = true
			sets = append(sets, charsetVariables...)
			reason = "set names"
		case !v.IsSystem:
			local = true
			sets = append(sets, "@"+strings.ToLower(v.Name))
			reads = append(append(reads, literalContext...), valueReads(v.Value)...)
			if !replayable(v.Value) {
				pins |= pinUserVar
			}
			reason = "user variable"
		case v.IsGlobal || v.IsInstance:
			global = true
		default:
			local = true
			name := canonicalSysVar(strings.ToLower(v.Name))
			if name == "tx_isolation_one_shot" {
				oneShot = true
				continue
			}
			if !replayable(v.Value) {
				pins |= pinOpaque
			}
			if name == "autocommit" {
				on := autocommitOn(v.Value)
				autocommit = &on
			}
			sets = append(sets, name)
			reads = append(reads, valueReads(v.Value)...)
		}
	}
	var c Class
	switch {
	case global && local:
		c = pinned("set global with session variables", pinOpaque)
	case global:
		return primary("set global"), true
	case pins&pinUserVar != 0:
		c = pinned("user variable not replayable", pins)
	case pins != 0:
		c = pinned("session variable not replayable", pins)
	case oneShot:
		c = Class{Route: All, Reason: "set transaction"}
	default:
		c = Class{Route: All, Reason: reason, replaySets: joinSorted(sets), replayReads: joinSorted(reads)}
	}
	if autocommit == nil {
		return c, true
	}
	// The value decides the class, and literals do not reach the digest.
	c.Autocommit, c.BeginTx, c.EndTx = autocommit, !*autocommit, *autocommit
	if c.Route == All {
		c.Reason = "autocommit"
	}
	return c, false
}

// autocommitOn reads the value of SET autocommit; what it cannot read counts
// as off, which keeps the session on the primary.
func autocommitOn(expr ast.ExprNode) bool {
	switch x := expr.(type) {
	case ast.ValueExpr:
		switch v := x.GetValue().(type) {
		case int64:
			return v != 0
		case uint64:
			return v != 0
		case string:
			return strings.EqualFold(v, "on") || strings.EqualFold(v, "true") || v == "1"
		}
	case *ast.ColumnNameExpr:
		return x.Name.Name.L == "on" || x.Name.Name.L == "true"
	case *ast.DefaultExpr:
		return true
	}
	return false
}

func joinSorted(names []string) string {
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ",")
}

// valueReads lists the variables an expression reads, "*" when it reads
// anything else of the session (functions, queries).
func valueReads(expr ast.ExprNode) []string {
	if expr == nil {
		return nil
	}
	var w readsWalker
	expr.Accept(&w)
	return w.reads
}

type readsWalker struct{ reads []string }

func (w *readsWalker) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.VariableExpr:
		if x.IsSystem {
			w.reads = append(w.reads, canonicalSysVar(strings.ToLower(x.Name)))
		} else {
			w.reads = append(w.reads, "@"+strings.ToLower(x.Name))
		}
	case *ast.FuncCallExpr, *ast.SubqueryExpr:
		w.reads = append(w.reads, "*")
	}
	return n, false
}

func (w *readsWalker) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// replayable reports whether an expression gives the same value on every
// backend the session uses: no queries, no assignments, no volatile or stored
// functions, no server-specific variables.
func replayable(expr ast.ExprNode) bool {
	if expr == nil {
		return true
	}
	w := replayWalker{ok: true}
	expr.Accept(&w)
	return w.ok
}

type replayWalker struct{ ok bool }

func (w *replayWalker) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.SubqueryExpr, *ast.ExistsSubqueryExpr, *ast.SelectStmt, *ast.SetOprStmt, *ast.TableName,
		*ast.AggregateFuncExpr, *ast.WindowFuncExpr:
		w.ok = false
	case *ast.FuncCallExpr:
		if x.Schema.L != "" || !isDeterministicFunction(x.FnName.L) {
			w.ok = false
		}
	case *ast.VariableExpr:
		if x.Value != nil {
			w.ok = false
		} else if x.IsSystem {
			route, sameBackend := sysVarRoute(strings.ToLower(x.Name), x.IsGlobal)
			w.ok = w.ok && route != Primary && !sameBackend
		}
	}
	return n, !w.ok
}

func (w *replayWalker) Leave(n ast.Node) (ast.Node, bool) { return n, w.ok }
