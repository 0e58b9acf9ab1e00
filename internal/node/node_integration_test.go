package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/mariadbd"
)

// replPassword exercises quoting end to end: the server must store exactly
// this password for the replica to log in with it.
const replPassword = `r'e"p\l;--`

// startServer starts a standalone replication-ready mariadbd and returns a
// root client over its socket. Both are stopped in t.Cleanup.
func startServer(t *testing.T, ctx context.Context, b mariadbd.Binaries, base, name string, port int, serverID uint32) (*mariadbd.Instance, *Client) {
	t.Helper()
	id := strconv.FormatUint(uint64(serverID), 10)
	inst, err := mariadbd.Start(ctx, b, mariadbd.Config{
		Name: name,
		Dir:  filepath.Join(base, name),
		Port: port,
		Settings: map[string]string{
			"server_id":         id,
			"gtid_domain_id":    id,
			"log_bin":           "mariadb-bin",
			"log_slave_updates": "ON",
			"binlog_format":     "ROW",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(30 * time.Second); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return inst, openClient(t, ctx, Endpoint{Name: name, Socket: inst.Socket(), User: "root"})
}

func openClient(t *testing.T, ctx context.Context, e Endpoint) *Client {
	t.Helper()
	c, err := Open(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func gtidState(t *testing.T, ctx context.Context, c *Client) GTIDState {
	t.Helper()
	s, err := c.GTIDState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// onlyReplica returns the server's single replication connection.
func onlyReplica(t *testing.T, ctx context.Context, c *Client) ReplicaStatus {
	t.Helper()
	rs, err := c.Replicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%s has %d replication connections, want 1: %+v", c.Name(), len(rs), rs)
	}
	return rs[0]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAgainstMariaDB(t *testing.T) {
	b, err := mariadbd.FindBinaries()
	if err != nil {
		t.Fatal(err) // never skip: a missing server is a broken environment
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := t.TempDir()
	must(t, mariadbd.GrantTraversal(base))
	ports, err := mariadbd.FreePorts(3)
	must(t, err)
	source, src := startServer(t, ctx, b, base, "source", ports[0], 1)
	replica, rep := startServer(t, ctx, b, base, "replica", ports[1], 2)

	t.Run("open failure names node and address", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[2])
		_, err := Open(ctx, Endpoint{Name: "ghost", Addr: addr, User: "root", Timeout: time.Second})
		if err == nil || !strings.Contains(err.Error(), "ghost") || !strings.Contains(err.Error(), addr) {
			t.Fatalf("error %v, want one naming ghost and %s", err, addr)
		}
	})

	t.Run("QuoteString round-trips through the server", func(t *testing.T) {
		for _, s := range []string{"", "it's", `a\b`, `\'`, "nul\x00byte", "ctrl-z\x1a\r\n", `"dq"`, "żółw", replPassword} {
			var got string
			must(t, src.DB().QueryRowContext(ctx, "SELECT "+QuoteString(s)).Scan(&got))
			if got != s {
				t.Errorf("SELECT %s = %q, want %q", QuoteString(s), got, s)
			}
		}
	})

	t.Run("QuoteString holds when the server default is NO_BACKSLASH_ESCAPES", func(t *testing.T) {
		old, err := src.Variables(ctx, "sql_mode")
		must(t, err)
		must(t, src.SetGlobal(ctx, "sql_mode", "NO_BACKSLASH_ESCAPES"))
		defer func() { must(t, src.SetGlobal(ctx, "sql_mode", old["sql_mode"])) }()
		fresh := openClient(t, ctx, Endpoint{Name: "source", Socket: source.Socket(), User: "root"})
		var got string
		must(t, fresh.DB().QueryRowContext(ctx, "SELECT "+QuoteString(`a\'b`)).Scan(&got))
		if got != `a\'b` {
			t.Errorf("got %q", got)
		}
	})

	for _, stmt := range []string{
		"CREATE DATABASE meridian_test",
		"CREATE TABLE meridian_test.t (id INT PRIMARY KEY)",
	} {
		_, err := src.DB().ExecContext(ctx, stmt)
		must(t, err)
	}

	t.Run("ExecLocal leaves the binlog alone", func(t *testing.T) {
		before := gtidState(t, ctx, src)
		if len(before.Binlog) == 0 {
			t.Fatal("the source has written nothing to its binlog")
		}
		must(t, src.ExecLocal(ctx,
			"CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY "+QuoteString(replPassword),
			"GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'",
		))
		after := gtidState(t, ctx, src)
		if after.Binlog.String() != before.Binlog.String() {
			t.Errorf("gtid_binlog_pos moved from %s to %s", before.Binlog, after.Binlog)
		}
		// The user exists with exactly that password: it can log in.
		openClient(t, ctx, Endpoint{Name: "source-as-repl", Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), User: "repl", Password: replPassword})
	})

	t.Run("ExecLocal errors name the statement without its password", func(t *testing.T) {
		for _, stmt := range []string{
			"CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'hunter2'",      // exists already
			"CREATE USER 'x'@'127.0.0.1' IDENTIFIED BY 'hunter2' garbage", // syntax error echoing the text
		} {
			err := src.ExecLocal(ctx, "SELECT 1", stmt)
			if err == nil {
				t.Fatalf("%s succeeded", stmt)
			}
			if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "IDENTIFIED BY '***'") {
				t.Errorf("error %q", err)
			}
			var me *mysql.MySQLError
			if !errors.As(err, &me) {
				t.Errorf("error %v does not unwrap to the server error", err)
			}
		}
	})

	eu := SourceConfig{
		Connection: "eu-west", Host: "127.0.0.1", Port: ports[0], User: "repl", Password: replPassword,
		ConnectRetry: time.Second, HeartbeatPeriod: 500 * time.Millisecond,
	}
	must(t, rep.ChangeSource(ctx, eu))
	must(t, rep.StartReplica(ctx, eu.Connection))
	_, err = src.DB().ExecContext(ctx, "INSERT INTO meridian_test.t VALUES (1)")
	must(t, err)
	written := gtidState(t, ctx, src).Binlog

	t.Run("replication runs", func(t *testing.T) {
		ok, err := rep.WaitForGTID(ctx, written, 30*time.Second)
		must(t, err)
		if !ok {
			t.Fatalf("replica did not reach %s", written)
		}
		r := onlyReplica(t, ctx, rep)
		if r.Connection != "eu-west" || r.SourcePort != ports[0] || r.SourceUser != "repl" || r.IORunning != "Yes" ||
			!r.SQLRunning || r.UsingGTID != "Slave_Pos" || r.SecondsBehind == nil || r.ConnectRetry != 1 ||
			!r.GTIDIOPos.Contains(written) || r.LastIOErrno != 0 || r.LastSQLErrno != 0 {
			t.Errorf("status %+v", r)
		}
		if s := gtidState(t, ctx, rep); !s.Slave.Contains(written) || !s.Current.Contains(written) {
			t.Errorf("replica positions %+v do not contain %s", s, written)
		}
	})

	t.Run("StopReplicaSQL stops only the applier", func(t *testing.T) {
		must(t, rep.StopReplicaSQL(ctx, eu.Connection))
		r := onlyReplica(t, ctx, rep)
		if r.SQLRunning || r.IORunning != "Yes" {
			t.Errorf("after StopReplicaSQL: IO %s, SQL %v", r.IORunning, r.SQLRunning)
		}
	})

	t.Run("WaitForGTID times out on a position never written", func(t *testing.T) {
		future := gtid.Position{1: {Domain: 1, Server: 1, Seq: written.Seq(1) + 1000}}
		begin := time.Now()
		ok, err := rep.WaitForGTID(ctx, future, time.Second)
		if err != nil || ok {
			t.Fatalf("WaitForGTID = %v, %v; want false, nil", ok, err)
		}
		if waited := time.Since(begin); waited < time.Second {
			t.Errorf("returned after %s", waited)
		}
		// A wait longer than the read timeout is split, not cut by it.
		short := openClient(t, ctx, Endpoint{Name: "replica", Socket: replica.Socket(), User: "root", Timeout: time.Second})
		ok, err = short.WaitForGTID(ctx, future, 2500*time.Millisecond)
		if err != nil || ok {
			t.Fatalf("long WaitForGTID = %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("ChangeSource refuses a running connection without leaking the password", func(t *testing.T) {
		must(t, rep.StartReplica(ctx, eu.Connection))
		err := rep.ChangeSource(ctx, eu)
		if err == nil {
			t.Fatal("CHANGE MASTER on a running connection succeeded")
		}
		if strings.Contains(err.Error(), replPassword) || !strings.Contains(err.Error(), "MASTER_PASSWORD='***'") {
			t.Errorf("error %q", err)
		}
	})

	t.Run("ChangeSource replaces domain filters", func(t *testing.T) {
		must(t, rep.StopReplica(ctx, eu.Connection))
		filtered := eu
		filtered.DoDomainIDs = []uint32{1}
		must(t, rep.ChangeSource(ctx, filtered))
		if r := onlyReplica(t, ctx, rep); !slices.Equal(r.DoDomainIDs, []uint32{1}) || r.IgnoreDomainIDs != nil {
			t.Fatalf("filters after DO_DOMAIN_IDS=(1): do %v ignore %v", r.DoDomainIDs, r.IgnoreDomainIDs)
		}
		ignoring := eu
		ignoring.IgnoreDomainIDs = []uint32{3, 4}
		must(t, rep.ChangeSource(ctx, ignoring))
		if r := onlyReplica(t, ctx, rep); r.DoDomainIDs != nil || !slices.Equal(r.IgnoreDomainIDs, []uint32{3, 4}) {
			t.Fatalf("filters after switching to IGNORE_DOMAIN_IDS=(3,4): do %v ignore %v", r.DoDomainIDs, r.IgnoreDomainIDs)
		}
		must(t, rep.ChangeSource(ctx, eu))
		if r := onlyReplica(t, ctx, rep); r.DoDomainIDs != nil || r.IgnoreDomainIDs != nil {
			t.Fatalf("filters survived a ChangeSource without them: do %v ignore %v", r.DoDomainIDs, r.IgnoreDomainIDs)
		}
		// The reconfigured connection still replicates.
		must(t, rep.StartReplica(ctx, eu.Connection))
		_, err := src.DB().ExecContext(ctx, "INSERT INTO meridian_test.t VALUES (2)")
		must(t, err)
		ok, err := rep.WaitForGTID(ctx, gtidState(t, ctx, src).Binlog, 30*time.Second)
		if err != nil || !ok {
			t.Fatalf("WaitForGTID after reconfiguration = %v, %v", ok, err)
		}
	})

	t.Run("read_only and variables", func(t *testing.T) {
		for _, on := range []bool{true, false} {
			must(t, rep.SetReadOnly(ctx, on))
			got, err := rep.ReadOnly(ctx)
			must(t, err)
			if got != on {
				t.Errorf("ReadOnly = %v after SetReadOnly(%v)", got, on)
			}
		}
		must(t, rep.SetGlobal(ctx, "max_connections", "200"))
		must(t, rep.SetGlobal(ctx, "slave_net_timeout", "30"))
		vars, err := rep.Variables(ctx, "server_id", "GTID_DOMAIN_ID", "log_bin", "max_connections", "slave_net_timeout", "no_such_variable")
		must(t, err)
		want := map[string]string{"server_id": "2", "gtid_domain_id": "2", "log_bin": "ON", "max_connections": "200", "slave_net_timeout": "30"}
		if fmt.Sprint(vars) != fmt.Sprint(want) {
			t.Errorf("Variables = %v, want %v", vars, want)
		}
		if err := rep.SetGlobal(ctx, "max_connections = 1, read_only", "1"); err == nil {
			t.Error("SetGlobal accepted an injected name")
		}
		status, err := rep.WsrepStatus(ctx)
		must(t, err)
		for k := range status {
			if k != strings.ToLower(k) || !strings.HasPrefix(k, "wsrep_") {
				t.Errorf("WsrepStatus key %q", k)
			}
		}
	})

	t.Run("Replicas sorted, ResetReplicaAll removes connections", func(t *testing.T) {
		must(t, rep.StopReplica(ctx, eu.Connection))
		apac := eu
		apac.Connection, apac.Port = "apac", ports[2] // MariaDB refuses two connections to one host:port
		must(t, rep.ChangeSource(ctx, apac))
		rs, err := rep.Replicas(ctx)
		must(t, err)
		if len(rs) != 2 || rs[0].Connection != "apac" || rs[1].Connection != "eu-west" {
			t.Fatalf("connections %+v, want apac then eu-west", rs)
		}
		must(t, rep.ResetReplicaAll(ctx, apac.Connection))
		must(t, rep.ResetReplicaAll(ctx, eu.Connection))
		rs, err = rep.Replicas(ctx)
		must(t, err)
		if len(rs) != 0 {
			t.Errorf("connections left: %+v", rs)
		}
		if err := rep.StartReplica(ctx, eu.Connection); err == nil || !strings.Contains(err.Error(), "START SLAVE 'eu-west'") {
			t.Errorf("StartReplica of a removed connection: %v", err)
		}
	})
}
