package classify

import (
	"fmt"
	"slices"
	"testing"
)

// step is one statement of a session script: where it should go, then it is
// committed as if the backend answered OK.
type step struct {
	sql    string
	route  Route
	same   bool   // Decision.Class.SameBackend
	reason string // Decision.Reason, when not empty
}

func runSteps(t *testing.T, s *Session, steps []step) {
	t.Helper()
	for _, st := range steps {
		c := Classify(st.sql)
		before := *s
		d := s.Decide(c)
		if fmt.Sprint(before) != fmt.Sprint(*s) {
			t.Fatalf("Decide(%q) changed the session", st.sql)
		}
		if d.Route != st.route || d.Class.SameBackend != st.same || (st.reason != "" && d.Reason != st.reason) {
			t.Errorf("%q: decided %s same=%v [%s], want %s same=%v [%s]",
				st.sql, d.Route, d.Class.SameBackend, d.Reason, st.route, st.same, st.reason)
		}
		s.Commit(st.sql, d.Class)
	}
}

func TestSessionTransaction(t *testing.T) {
	s := NewSession()
	runSteps(t, s, []step{
		{"SELECT 1", Replica, false, "read"},
		{"BEGIN", Primary, false, "begin"},
		{"SELECT * FROM t", Primary, false, "in transaction"},
		{"SELECT FOUND_ROWS()", Primary, true, "in transaction"},
		{"SET @x = 1", All, false, "user variable"},
		{"UPDATE t SET a = 1", Primary, false, "write"},
		{"SAVEPOINT a", Primary, false, "savepoint"},
		{"ROLLBACK TO SAVEPOINT a", Primary, false, ""},
		{"SELECT 2", Primary, false, "in transaction"},
		{"COMMIT", Primary, false, "commit"},
		{"SELECT 3", Replica, false, "read"},
		{"START TRANSACTION", Primary, false, ""},
		{"CREATE TABLE t2 (a INT)", Primary, false, "ddl"}, // commits implicitly
		{"SELECT 4", Replica, false, "read"},
		{"COMMIT AND CHAIN", Primary, false, ""},
	})
	if !s.InTransaction() {
		t.Fatal("COMMIT AND CHAIN should leave a transaction open")
	}
	runSteps(t, s, []step{
		{"ROLLBACK", Primary, false, ""},
		{"SELECT 5", Replica, false, ""},
	})
	if s.InTransaction() || s.Pinned() {
		t.Fatalf("state after ROLLBACK: %+v", s)
	}
}

func TestSessionAutocommitOff(t *testing.T) {
	s := NewSession()
	runSteps(t, s, []step{
		{"SET autocommit=0", All, false, "autocommit"},
		{"SELECT 1", Primary, false, "autocommit off"},
		{"COMMIT", Primary, false, ""},
		{"SELECT 2", Primary, false, "autocommit off"}, // still autocommit off
		{"SET autocommit=1", All, false, "autocommit"},
		{"SELECT 3", Replica, false, "read"},
		{"BEGIN", Primary, false, ""},
		{"SET autocommit=1", All, false, ""}, // already on: no implicit commit
		{"SELECT 4", Primary, false, "in transaction"},
		{"COMMIT", Primary, false, ""},
		{"SET autocommit=0", All, false, ""},
		{"UPDATE t SET a = 1", Primary, false, ""},
		{"SET autocommit=1", All, false, ""}, // commits
		{"SELECT 5", Replica, false, ""},
	})
	if got := s.Replay(); !slices.Equal(got, []string{"SET autocommit=1"}) {
		t.Errorf("Replay() = %q", got)
	}
}

func TestSessionReadOnlyTransaction(t *testing.T) {
	s := NewSession()
	runSteps(t, s, []step{
		{"START TRANSACTION READ ONLY", Replica, false, "read-only transaction"},
		{"SELECT * FROM t", Replica, true, "read-only transaction"},
		{"SELECT * FROM t FOR UPDATE", Replica, true, "read-only transaction"},
		{"UPDATE t SET a = 1", Replica, true, "read-only transaction"}, // fails there, as on a direct connection
		{"SET @x = 1", All, false, ""},
		{"COMMIT", Replica, true, "read-only transaction"},
		{"SELECT 1", Replica, false, "read"},
		{"START TRANSACTION READ ONLY", Replica, false, ""},
	})
	if !s.ReadOnlyTransaction() || !s.InTransaction() {
		t.Fatalf("not in a read-only transaction: %+v", s)
	}
	runSteps(t, s, []step{
		{"BEGIN", Primary, false, "begin"}, // a read-write transaction goes to the primary
		{"SELECT 1", Primary, false, "in transaction"},
		{"COMMIT", Primary, false, ""},
		{"SET autocommit=0", All, false, ""},
		{"START TRANSACTION READ ONLY", Primary, false, "autocommit off"},
	})
	// A pin inside a read-only transaction goes to the primary; the
	// transaction's COMMIT still goes to its backend.
	s.Reset()
	runSteps(t, s, []step{
		{"START TRANSACTION READ ONLY", Replica, false, ""},
		{"SELECT GET_LOCK('a', 1)", Primary, false, "get_lock"},
		{"SELECT 1", Primary, false, "pinned: named lock"},
		{"COMMIT", Replica, true, "read-only transaction"},
		{"SELECT 2", Primary, false, "pinned: named lock"},
	})
}

func TestSessionPins(t *testing.T) {
	s := NewSession()
	runSteps(t, s, []step{
		{"CREATE TEMPORARY TABLE tmp (a INT)", Primary, false, "temporary table"},
		{"SELECT * FROM tmp", Primary, false, "pinned: temporary table"},
		{"SELECT FOUND_ROWS()", Primary, true, "pinned: temporary table"},
		{"SET NAMES utf8mb4", All, false, "set names"},
		{"DROP TEMPORARY TABLE tmp", Primary, false, ""},
		{"UNLOCK TABLES", Primary, false, ""},
		{"SELECT 1", Primary, false, "pinned: temporary table"}, // until the session resets
	})
	s.Reset()
	if s.Pinned() || len(s.Replay()) != 0 {
		t.Fatalf("Reset left %+v", s)
	}

	runSteps(t, s, []step{
		{"SELECT GET_LOCK('job', 10)", Primary, false, "get_lock"},
		{"SELECT * FROM t", Primary, false, "pinned: named lock"},
		{"SELECT RELEASE_LOCK('job')", Primary, false, ""},
		{"SELECT 1", Primary, false, "pinned: named lock"}, // other locks may be held
		{"SELECT RELEASE_ALL_LOCKS()", Primary, false, ""},
		{"SELECT 2", Replica, false, "read"},

		{"LOCK TABLES t READ", Primary, false, "lock tables"},
		{"SELECT * FROM t", Primary, false, "pinned: table lock"},
		{"UNLOCK TABLES", Primary, false, ""},
		{"SELECT * FROM t", Replica, false, ""},

		{"FLUSH TABLES WITH READ LOCK", Primary, false, ""},
		{"SELECT GET_LOCK('a', 1)", Primary, false, ""},
		{"UNLOCK TABLES", Primary, false, ""},
		{"SELECT 3", Primary, false, "pinned: named lock"},
		{"DO RELEASE_ALL_LOCKS()", Primary, false, ""},
		{"SELECT 4", Replica, false, ""},

		{"PREPARE s FROM 'SELECT 1'", Primary, false, ""},
		{"DEALLOCATE PREPARE s", Primary, false, ""},
		{"SELECT 5", Primary, false, "pinned: prepared statement"},
	})
	s.Reset()
	runSteps(t, s, []step{
		{"SET @now = NOW()", Primary, false, "user variable not replayable"},
		{"SELECT @now", Primary, false, "pinned: user variable"},
	})
	s.Reset()
	runSteps(t, s, []step{
		{"CALL p()", Primary, false, "call"},
		{"SELECT 1", Primary, false, "pinned: opaque statement"},
	})
}

// TestSessionForeignClass covers classes the proxy builds itself.
func TestSessionForeignClass(t *testing.T) {
	s := NewSession()
	s.Commit("", Class{Route: Primary, Pin: true})
	if !s.Pinned() {
		t.Fatal("Pin without a reason did not pin")
	}
	s.Commit("", Class{Route: Primary, Unpin: true})
	if !s.Pinned() {
		t.Fatal("Unpin released a pin that cannot be undone")
	}
	s.Reset()
	s.Commit("LOCK TABLES t READ", Classify("LOCK TABLES t READ"))
	s.Commit("", Class{Route: Primary, Unpin: true})
	if s.Pinned() {
		t.Fatal("Unpin did not release a table lock")
	}
}

func TestSessionReplay(t *testing.T) {
	tests := []struct {
		name string
		sqls []string
		want []string
	}{
		{"use keeps the last", []string{"USE a", "USE b", "USE `c`"}, []string{"USE `c`"}},
		{"same variable", []string{"SET sql_mode = 'A'", "SET time_zone = '+00:00'", "SET sql_mode = 'B'"},
			[]string{"SET time_zone = '+00:00'", "SET sql_mode = 'B'"}},
		{"alias", []string{"SET tx_isolation = 'READ-COMMITTED'", "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"},
			[]string{"SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"}},
		{"names and character set", []string{"SET NAMES latin1", "SET character_set_client = utf8", "SET CHARACTER SET utf8mb4"},
			[]string{"SET CHARACTER SET utf8mb4"}},
		{"user variable overridden", []string{"SET @x = 1", "SET @y = 2", "SET @x = 3"}, []string{"SET @y = 2", "SET @x = 3"}},
		{"user variable read by its next value", []string{"SET @x = 1", "SET @x = @x + 1"}, []string{"SET @x = 1", "SET @x = @x + 1"}},
		{"user variable read in between", []string{"SET @x = 1", "SET @y = @x", "SET @x = 2"},
			[]string{"SET @x = 1", "SET @y = @x", "SET @x = 2"}},
		{"literal needs its character set", []string{"SET NAMES latin1", "SET @s = 'é'", "SET NAMES utf8mb4"},
			[]string{"SET NAMES latin1", "SET @s = 'é'", "SET NAMES utf8mb4"}},
		{"and no longer once overridden", []string{"SET NAMES latin1", "SET @s = 'é'", "SET NAMES utf8mb4", "SET @s = 'x'"},
			[]string{"SET NAMES utf8mb4", "SET @s = 'x'"}},
		{"sql_mode read by a user variable", []string{"SET sql_mode = 'A'", "SET @y = 1", "SET sql_mode = 'B'"},
			[]string{"SET sql_mode = 'A'", "SET @y = 1", "SET sql_mode = 'B'"}},
		{"several variables", []string{"SET @a = 1, @b = 2", "SET @a = 3", "SET @b = 4, @a = 5"}, []string{"SET @b = 4, @a = 5"}},
		{"function reads anything", []string{"USE a", "SET @d = DATABASE()", "USE b"}, []string{"USE a", "SET @d = DATABASE()", "USE b"}},
		{"not replayed", []string{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "SET GLOBAL max_connections = 10",
			"SELECT 1", "SET @t = NOW()", "SET NAMES utf8; SET @a = 1"}, nil},
		{"executable comment", []string{"/*!40101 SET NAMES utf8 */"}, []string{"/*!40101 SET NAMES utf8 */"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSession()
			for _, sql := range tt.sqls {
				s.Commit(sql, Classify(sql))
			}
			if got := s.Replay(); !slices.Equal(got, tt.want) {
				t.Errorf("Replay() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSessionReplayOverflow(t *testing.T) {
	s := NewSession()
	for i := range maxReplay + 10 {
		sql := fmt.Sprintf("SET @v%d = %d", i, i)
		if d := s.Decide(Classify(sql)); d.Route != All {
			t.Fatalf("%s decided %s", sql, d.Route)
		}
		s.Commit(sql, Classify(sql))
	}
	if !s.Pinned() || len(s.Replay()) != maxReplay+1 {
		t.Fatalf("pinned=%v replay=%d", s.Pinned(), len(s.Replay()))
	}
	if d := s.Decide(Classify("SELECT 1")); d.Route != Primary || d.Reason != "pinned: too many session commands" {
		t.Fatalf("SELECT 1 decided %s [%s]", d.Route, d.Reason)
	}
}

func TestSessionObserveServerStatus(t *testing.T) {
	s := NewSession()
	s.Commit("BEGIN", Classify("BEGIN"))
	s.ObserveServerStatus(false, true) // e.g. the transaction was rolled back on deadlock
	if s.InTransaction() {
		t.Fatal("still in transaction after the server said no")
	}
	s.ObserveServerStatus(true, true) // e.g. BEGIN inside a stored procedure
	if !s.InTransaction() || s.ReadOnlyTransaction() {
		t.Fatal("server transaction not adopted")
	}
	s.ObserveServerStatus(false, false) // autocommit off behind our back
	if d := s.Decide(Classify("SELECT 1")); d.Route != Primary || d.Reason != "autocommit off" {
		t.Fatalf("SELECT 1 decided %s [%s]", d.Route, d.Reason)
	}
	s.ObserveServerStatus(false, true)
	if d := s.Decide(Classify("SELECT 1")); d.Route != Replica {
		t.Fatalf("SELECT 1 decided %s [%s]", d.Route, d.Reason)
	}
	s.Commit("START TRANSACTION READ ONLY", Classify("START TRANSACTION READ ONLY"))
	s.ObserveServerStatus(true, true)
	if !s.ReadOnlyTransaction() {
		t.Fatal("read-only transaction lost")
	}
}
