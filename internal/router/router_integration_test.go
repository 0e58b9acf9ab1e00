package router_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// TestRouter runs every end-to-end check against one sandbox: starting
// an estate costs seconds, a check milliseconds.
func TestRouter(t *testing.T) {
	f := startFixture(t)
	db := f.appDB(t)
	if _, err := db.Exec("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), body LONGBLOB)"); err != nil {
		t.Fatal(err)
	}
	t.Run("ReadWriteSplit", func(t *testing.T) { testReadWriteSplit(t, f, db) })
	t.Run("Transactions", func(t *testing.T) { testTransactions(t, f, db) })
	t.Run("SessionState", func(t *testing.T) { testSessionState(t, f) })
	t.Run("TemporaryTablePins", func(t *testing.T) { testTemporaryTable(t, f) })
	t.Run("MultiStatements", func(t *testing.T) { testMultiStatements(t, f) })
	t.Run("LargePackets", func(t *testing.T) { testLargePackets(t, f) })
	t.Run("WrongPassword", func(t *testing.T) { testWrongPassword(t, f) })
	t.Run("UnknownDatabase", func(t *testing.T) { testUnknownDatabase(t, f) })
	t.Run("TLS", func(t *testing.T) { testTLS(t, f) })
	t.Run("ChangeUser", func(t *testing.T) { testChangeUser(t, f) })
	t.Run("ResetConnection", func(t *testing.T) { testResetConnection(t, f) })
	t.Run("ParameterTypesFollowStatement", func(t *testing.T) { testParameterTypes(t, f) })
	t.Run("OtherCommands", func(t *testing.T) { testOtherCommands(t, f) })
	t.Run("AuthSwitch", func(t *testing.T) { testAuthSwitch(t, f) })
	t.Run("CursorFetch", func(t *testing.T) { testCursor(t, f) })
	t.Run("MalformedPacket", func(t *testing.T) { testMalformed(t, f) })
	t.Run("PrimaryMoves", func(t *testing.T) { testPrimaryMoves(t, f) })
	t.Run("FencedAndLaggingReplicas", func(t *testing.T) { testReplicaEligibility(t, f) })
	t.Run("LocalInfile", func(t *testing.T) { testLocalInfile(t, f) })
	t.Run("SessionTrackingForTheRouterAlone", func(t *testing.T) { testCausalTracking(t, f) })
	t.Run("CloseCutsBusySessions", func(t *testing.T) { testCloseBusy(t, f) })
	t.Run("ThousandConnections", func(t *testing.T) { testManyConnections(t, f) })
}

// startService runs another service in front of the fixture's sandbox,
// in eu unless cfg names a region, a readwritesplit one unless cfg names
// another kind.
func (f *fixture) startService(t *testing.T, cfg router.ServiceConfig, view router.View) *router.Service {
	t.Helper()
	return f.startServiceOn(t, cfg, router.NewLiveView(view))
}

// startServiceOn is startService with a view the test may change.
func (f *fixture) startServiceOn(t *testing.T, cfg router.ServiceConfig, view router.ViewSource) *router.Service {
	t.Helper()
	if cfg.Region == "" {
		cfg.Region = "eu"
	}
	if cfg.Kind == "" {
		cfg.Kind = router.ReadWriteSplit
	}
	admin := f.sb.Credentials().Admin
	cfg.Admin = router.Credentials{User: admin.User, Password: admin.Password}
	cfg.Logger = f.log
	svc, err := router.NewService(cfg, view, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return svc
}

func testLocalInfile(t *testing.T, f *fixture) {
	mysql.RegisterReaderHandler("rows", func() io.Reader { return strings.NewReader("900\tfrom a file\n901\tanother\n") })
	defer mysql.DeregisterReaderHandler("rows")
	db := f.appDB(t)
	// One connection, so that the second load meets a primary connection
	// already open (served on the event loop, not by the goroutine).
	db.SetMaxOpenConns(1)
	for _, load := range []string{"INTO TABLE items (id, name)", "REPLACE INTO TABLE items (id, name)"} {
		res, err := db.Exec("LOAD DATA LOCAL INFILE 'Reader::rows' " + load)
		if err != nil {
			t.Fatalf("LOAD DATA LOCAL INFILE: %v", err)
		}
		if n, _ := res.RowsAffected(); n < 2 {
			t.Errorf("%d rows loaded, want 2 or more", n)
		}
	}
}

// testCausalTracking runs a service whose backends track session state
// for the router (causal reads) behind a client that did not ask for it:
// the OK packets must reach the client in the layout it negotiated.
func testCausalTracking(t *testing.T, f *fixture) {
	svc := f.startService(t, router.ServiceConfig{Name: "eu-causal", CausalReads: router.CausalLocal}, f.base)
	cfg := f.appConfig()
	cfg.Addr = svc.Addr().String()
	db := openDB(t, cfg)
	res, err := db.Exec("UPDATE items SET name = 'tracked' WHERE id BETWEEN 10 AND 12")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 3 {
		t.Errorf("%d rows affected, want 3", n)
	}
	if _, err := db.Exec("USE mysql"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRow("SELECT name FROM meridian_test.items WHERE id = 10 FOR UPDATE").Scan(&name); err != nil || name != "tracked" {
		t.Errorf("read back %q, %v", name, err)
	}
}

func testCloseBusy(t *testing.T, f *fixture) {
	svc := f.startService(t, router.ServiceConfig{Name: "eu-closing"}, f.base)
	cfg := f.appConfig()
	cfg.Addr = svc.Addr().String()
	db := openDB(t, cfg)
	failed := make(chan error, 1)
	go func() {
		_, err := db.Exec("DO SLEEP(30)")
		failed <- err
	}()
	time.Sleep(500 * time.Millisecond)
	started := time.Now()
	if err := svc.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if took := time.Since(started); took > 5*time.Second {
		t.Errorf("Close waited %s for a session busy with a statement", took)
	}
	if err := <-failed; err == nil {
		t.Error("the cut statement reported success")
	}
}

func testReadWriteSplit(t *testing.T, f *fixture, db *sql.DB) {
	before := f.counters(t, "Com_stmt_execute", "Com_insert", "Com_select")
	for i := 1; i <= 20; i++ {
		if _, err := db.Exec("INSERT INTO items (id, name) VALUES (?, ?)", i, fmt.Sprintf("item %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	f.waitReplicated(t)
	for i := 1; i <= 20; i++ {
		var name string
		if err := db.QueryRow("SELECT name FROM items WHERE id = ?", i).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name != fmt.Sprintf("item %d", i) {
			t.Errorf("row %d: name %q", i, name)
		}
	}
	after := f.counters(t, "Com_stmt_execute", "Com_insert", "Com_select")
	delta := func(node, name string) int64 { return after[node][name] - before[node][name] }
	if d := delta("eu-1", "Com_insert"); d < 20 {
		t.Errorf("primary eu-1 ran %d inserts, want 20", d)
	}
	if d := delta("eu-2", "Com_stmt_execute"); d < 20 {
		t.Errorf("replica eu-2 executed %d statements, want the 20 reads", d)
	}
	if d := delta("eu-1", "Com_stmt_execute"); d != 20 {
		t.Errorf("primary eu-1 executed %d statements, want the 20 inserts alone", d)
	}
	if d := delta("us-1", "Com_stmt_execute"); d > 0 {
		t.Errorf("us-1 (another region) executed %d statements", d)
	}
	if node := who(t, db, whoami); node != "eu-2" {
		t.Errorf("a plain read was served by %s, want eu-2", node)
	}
	st := f.svc.Stats()
	if st.Backends["eu-1"].Queries == 0 || st.Backends["eu-2"].Queries == 0 {
		t.Errorf("stats %+v: both eu nodes should have served queries", st)
	}
	if _, ok := st.Backends["us-1"]; ok {
		t.Errorf("stats %+v: us-1 received traffic", st)
	}
}

func testTransactions(t *testing.T, f *fixture, db *sql.DB) {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE items SET name = 'changed' WHERE id = ?", 1); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := tx.QueryRow("SELECT name FROM items WHERE id = ?", 1).Scan(&name); err != nil || name != "changed" {
		t.Errorf("read in the transaction: %q, %v; want its own uncommitted write", name, err)
	}
	if node := who(t, tx, whoami); node != "eu-1" {
		t.Errorf("a read in a transaction was served by %s, want the primary", node)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT name FROM items WHERE id = 1").Scan(&name); err != nil || name != "item 1" {
		t.Errorf("after rollback: %q, %v", name, err)
	}

	ro, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if node := who(t, ro, whoami); node != "eu-2" {
		t.Errorf("a read-only transaction ran on %s, want the replica", node)
	}
	if err := ro.Commit(); err != nil {
		t.Fatal(err)
	}
}

func testSessionState(t *testing.T, f *fixture) {
	ctx := context.Background()
	conn, err := f.appDB(t).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.PingContext(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	for _, stmt := range []string{"SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci", "SET @greeting = 'hello'", "USE mysql"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// The replica connection opens now, after the session commands, and
	// must replay them.
	var greeting, collation, db, node string
	if err := conn.QueryRowContext(ctx, "SELECT @greeting, @@collation_connection, DATABASE(), node FROM meridian_test.whoami").Scan(&greeting, &collation, &db, &node); err != nil {
		t.Fatal(err)
	}
	if node != "eu-2" || greeting != "hello" || collation != "utf8mb4_unicode_ci" || db != "mysql" {
		t.Errorf("replica session: server %s, @greeting %q, collation %q, database %q", node, greeting, collation, db)
	}
	if err := conn.QueryRowContext(ctx, "SELECT @greeting, DATABASE(), node FROM meridian_test.whoami FOR UPDATE").Scan(&greeting, &db, &node); err != nil {
		t.Fatal(err)
	}
	if node != "eu-1" || greeting != "hello" || db != "mysql" {
		t.Errorf("primary session: server %s, @greeting %q, database %q", node, greeting, db)
	}
	if _, err := conn.ExecContext(ctx, "SET @greeting = 'again'"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT @greeting").Scan(&greeting); err != nil || greeting != "again" {
		t.Errorf("a session command reaches the open replica too: %q, %v", greeting, err)
	}
}

func testTemporaryTable(t *testing.T, f *fixture) {
	ctx := context.Background()
	conn, err := f.appDB(t).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, stmt := range []string{"CREATE TEMPORARY TABLE scratch (v INT)", "INSERT INTO scratch VALUES (7)"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	var v int
	if err := conn.QueryRowContext(ctx, "SELECT v FROM scratch").Scan(&v); err != nil || v != 7 {
		t.Fatalf("read the temporary table: %d, %v", v, err)
	}
	var node string
	if err := conn.QueryRowContext(ctx, whoami).Scan(&node); err != nil || node != "eu-1" {
		t.Errorf("a session with a temporary table read from %q (%v), want the primary", node, err)
	}
}

func testMultiStatements(t *testing.T, f *fixture) {
	cfg := f.appConfig()
	cfg.MultiStatements = true
	db := openDB(t, cfg)
	rows, err := db.Query("SELECT 1; SELECT 'two', 2; SELECT name FROM items WHERE id = 2")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sets []string
	for {
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, v := range vals {
				parts = append(parts, string(v))
			}
			sets = append(sets, strings.Join(parts, ","))
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sets, "|"); got != "1|two,2|item 2" {
		t.Errorf("result sets %q", got)
	}
	if _, err := db.Exec("INSERT INTO items (id, name) VALUES (100, 'a'); UPDATE items SET name = 'b' WHERE id = 100; DELETE FROM items WHERE id = 100"); err != nil {
		t.Errorf("multi-statement write: %v", err)
	}
	if _, err := db.Exec("SELECT 1; SELECT * FROM no_such_table; SELECT 3"); err == nil {
		t.Errorf("an error in the second statement must reach the client")
	} else if code, _ := serverError(err); code != 1146 {
		t.Errorf("error %v, want 1146", err)
	}
	if node := who(t, db, whoami); node == "" {
		t.Errorf("the connection is unusable after a failed multi-statement")
	}
}

func testLargePackets(t *testing.T, f *fixture) {
	body := make([]byte, 17<<20)
	rand.Read(body)
	db := f.appDB(t)
	if _, err := db.Exec("INSERT INTO items (id, name, body) VALUES (?, 'blob', ?)", 500, body); err != nil {
		t.Fatalf("insert 17 MiB through a prepared statement: %v", err)
	}
	// A driver told the packet limit is small sends parameters ahead of
	// the execution in COM_STMT_SEND_LONG_DATA chunks.
	small := f.appConfig()
	small.MaxAllowedPacket = 4096
	chunked := bytes.Repeat([]byte("0123456789"), 3000)
	if _, err := openDB(t, small).Exec("INSERT INTO items (id, name, body) VALUES (?, 'long data', ?)", 502, chunked); err != nil {
		t.Fatalf("insert with COM_STMT_SEND_LONG_DATA: %v", err)
	}
	var back []byte
	if err := db.QueryRow("SELECT body FROM items WHERE id = 502 FOR UPDATE").Scan(&back); err != nil || !bytes.Equal(back, chunked) {
		t.Errorf("long data read back: %d bytes, %v", len(back), err)
	}
	cfg := f.appConfig()
	cfg.InterpolateParams = true
	text := openDB(t, cfg)
	if _, err := text.Exec("INSERT INTO items (id, name, body) VALUES (?, 'text blob', ?)", 501, body); err != nil {
		t.Fatalf("insert 17 MiB as one text query: %v", err)
	}
	f.waitReplicated(t)
	for _, c := range []struct {
		name string
		db   *sql.DB
		id   int
	}{{"binary protocol", db, 500}, {"text protocol", text, 501}} {
		var got []byte
		var node string
		if err := c.db.QueryRow("SELECT body, (SELECT node FROM whoami) FROM items WHERE id = ?", c.id).Scan(&got, &node); err != nil {
			t.Fatalf("%s: read back: %v", c.name, err)
		}
		if !bytes.Equal(got, body) || node != "eu-2" {
			t.Errorf("%s: read %d bytes from %s, want the same %d bytes from the replica", c.name, len(got), node, len(body))
		}
	}
}

func testWrongPassword(t *testing.T, f *fixture) {
	cfg := f.appConfig()
	cfg.Passwd = "wrong"
	err := openDB(t, cfg).Ping()
	code, msg := serverError(err)
	want := fmt.Sprintf("Access denied for user '%s'@'127.0.0.1' (using password: YES)", f.app.User)
	if code != 1045 || msg != want {
		t.Errorf("wrong password: %v; want 1045 %q", err, want)
	}
	cfg.User = "nobody"
	if code, _ := serverError(openDB(t, cfg).Ping()); code != 1045 {
		t.Errorf("unknown user: error %d, want 1045", code)
	}
}

func testUnknownDatabase(t *testing.T, f *fixture) {
	cfg := f.appConfig()
	cfg.DBName = "no_such_db"
	if code, msg := serverError(openDB(t, cfg).Ping()); code != 1049 || msg != "Unknown database 'no_such_db'" {
		t.Errorf("unknown database: %d %q", code, msg)
	}
}

func testTLS(t *testing.T, f *fixture) {
	cfg := f.appConfig()
	cfg.TLSConfig = "skip-verify"
	if node := who(t, openDB(t, cfg), whoami); node != "eu-2" {
		t.Errorf("over TLS a read went to %s", node)
	}
}

func testChangeUser(t *testing.T, f *fixture) {
	if _, err := f.admin["eu-1"].Exec("CREATE USER IF NOT EXISTS 'other'@'%' IDENTIFIED BY 'other-pw'"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin["eu-1"].Exec("GRANT SELECT ON *.* TO 'other'@'%'"); err != nil {
		t.Fatal(err)
	}
	f.waitReplicated(t)
	c := f.raw(t, protocol.ClientProtocol41|protocol.ClientSecureConnection|protocol.ClientPluginAuth|protocol.ClientConnectWithDB)
	c.mustQuery("SET @marker = 'before'")
	if got := c.mustQuery("SELECT @marker"); got != "before" {
		t.Fatalf("@marker = %q", got)
	}
	changeUser := func(user, password string) error {
		stage := protocol.Stage1Of(password)
		p := append([]byte{protocol.ComChangeUser}, user...)
		p = append(p, 0)
		token := stage.Scramble(c.salt)
		p = append(p, byte(len(token)))
		p = append(p, token...)
		p = append(p, "meridian_test"...)
		p = append(p, 0, 45, 0)
		p = append(p, protocol.NativePassword...)
		p = append(p, 0)
		_, err := c.roundTrip(p)
		return err
	}
	if code, _ := serverError(changeUser("other", "bad")); code != 1045 {
		t.Errorf("change to a wrong password: error %d, want 1045", code)
	}
	if got := c.mustQuery("SELECT CURRENT_USER()"); !strings.HasPrefix(got, f.app.User+"@") {
		t.Errorf("after a failed change the session is %q", got)
	}
	if err := changeUser("other", "other-pw"); err != nil {
		t.Fatalf("change user: %v", err)
	}
	if got := c.mustQuery("SELECT CURRENT_USER()"); got != "other@%" {
		t.Errorf("after COM_CHANGE_USER: CURRENT_USER() = %q", got)
	}
	if got := c.mustQuery("SELECT @marker"); got != "NULL" {
		t.Errorf("after COM_CHANGE_USER: @marker = %q, want a fresh session", got)
	}
	if got := c.mustQuery("SELECT CURRENT_USER() FROM DUAL FOR UPDATE"); got != "other@%" {
		t.Errorf("primary after COM_CHANGE_USER: %q", got)
	}
}

func testResetConnection(t *testing.T, f *fixture) {
	c := f.raw(t, protocol.ClientProtocol41|protocol.ClientSecureConnection|protocol.ClientPluginAuth|protocol.ClientConnectWithDB)
	c.mustQuery("SET @marker = 5")
	c.mustQuery("SELECT 1 FROM DUAL FOR UPDATE")
	if got := c.mustQuery("SELECT @marker"); got != "5" {
		t.Fatalf("@marker on the replica = %q", got)
	}
	if _, err := c.roundTrip([]byte{protocol.ComResetConnection}); err != nil {
		t.Fatalf("COM_RESET_CONNECTION: %v", err)
	}
	for _, q := range []string{"SELECT @marker", "SELECT @marker FROM DUAL FOR UPDATE"} {
		if got := c.mustQuery(q); got != "NULL" {
			t.Errorf("after reset, %s = %q", q, got)
		}
	}
	if got := c.mustQuery("SELECT DATABASE()"); got != "meridian_test" {
		t.Errorf("after reset, DATABASE() = %q", got)
	}
}

// testParameterTypes executes a statement first on the replica (with
// parameter types) and then, in a transaction, on the primary without
// them, as C clients do: the router must supply the types it kept.
func testParameterTypes(t *testing.T, f *fixture) {
	c := f.raw(t, protocol.ClientProtocol41|protocol.ClientSecureConnection|protocol.ClientPluginAuth|protocol.ClientConnectWithDB)
	packets, err := c.roundTrip(append([]byte{protocol.ComStmtPrepare}, "SELECT ? + 1, node FROM whoami"...))
	if err != nil {
		t.Fatal(err)
	}
	id := binary.LittleEndian.Uint32(packets[0][1:])
	execute := func(withTypes bool) (int64, string) {
		p := binary.LittleEndian.AppendUint32([]byte{protocol.ComStmtExecute}, id)
		p = append(p, 0, 1, 0, 0, 0, 0) // flags, iteration count, NULL bitmap
		if withTypes {
			p = append(p, 1, 8, 0) // LONGLONG
		} else {
			p = append(p, 0)
		}
		p = binary.LittleEndian.AppendUint64(p, 41)
		packets, err := c.roundTrip(p)
		if err != nil {
			t.Fatalf("execute (types %v): %v", withTypes, err)
		}
		row := packets[len(packets)-2] // binary row: 0x00, NULL bitmap, values
		sum := int64(binary.LittleEndian.Uint64(row[2:]))
		return sum, string(row[11 : 11+int(row[10])])
	}
	if sum, node := execute(true); sum != 42 || node != "eu-2" {
		t.Errorf("first execute: %d on %s", sum, node)
	}
	c.mustQuery("BEGIN")
	if sum, node := execute(false); sum != 42 || node != "eu-1" {
		t.Errorf("execute without types in a transaction: %d on %s, want 42 on the primary", sum, node)
	}
	c.mustQuery("COMMIT")
}

func testOtherCommands(t *testing.T, f *fixture) {
	c := f.raw(t, protocol.ClientProtocol41|protocol.ClientSecureConnection|protocol.ClientPluginAuth|protocol.ClientConnectWithDB)
	if _, err := c.roundTrip([]byte{protocol.ComPing}); err != nil {
		t.Errorf("COM_PING: %v", err)
	}
	packets, err := c.roundTrip([]byte{protocol.ComStatistics})
	if err != nil || len(packets) != 1 || !bytes.HasPrefix(packets[0], []byte("Uptime")) {
		t.Errorf("COM_STATISTICS: %q %v", packets, err)
	}
	if _, err := c.roundTrip(append([]byte{protocol.ComInitDB}, "mysql"...)); err != nil {
		t.Errorf("COM_INIT_DB: %v", err)
	}
	if got := c.mustQuery("SELECT DATABASE()"); got != "mysql" {
		t.Errorf("after COM_INIT_DB the replica is in %q", got)
	}
	if _, err := c.roundTrip(append([]byte{protocol.ComInitDB}, "no_such_db"...)); err == nil {
		t.Errorf("COM_INIT_DB of a missing database succeeded")
	} else if code, _ := serverError(err); code != 1049 {
		t.Errorf("COM_INIT_DB of a missing database: %v", err)
	}
	packets, err = c.roundTrip(append([]byte{protocol.ComFieldList}, "user\x00"...))
	if err != nil || len(packets) < 2 {
		t.Errorf("COM_FIELD_LIST: %d packets, %v", len(packets), err)
	}
	if _, err := c.roundTrip(append(binary.LittleEndian.AppendUint32([]byte{protocol.ComStmtExecute}, 999), 0, 1, 0, 0, 0)); err == nil {
		t.Errorf("executing an unknown statement succeeded")
	} else if code, _ := serverError(err); code != 1243 {
		t.Errorf("unknown statement: %v", err)
	}
	if got := c.mustQuery("SELECT 'still here'"); got != "still here" {
		t.Errorf("the connection broke: %q", got)
	}
}

func testMalformed(t *testing.T, f *fixture) {
	db := f.appDB(t)
	db.SetMaxOpenConns(1)
	who(t, db, whoami)
	c := f.raw(t, protocol.ClientProtocol41|protocol.ClientSecureConnection|protocol.ClientPluginAuth)
	// A COM_STMT_EXECUTE cut short after its statement id, then garbage.
	raw := c.conn.NetConn()
	raw.Write([]byte{3, 0, 0, 0, protocol.ComStmtExecute, 1, 0})
	raw.Write([]byte{9, 0, 0, 7, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!', '!'})
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The garbage may reach the router after it closed: the reset that
	// answers it is a close too.
	if n, err := io.Copy(io.Discard, raw); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the router did not close the malformed connection: read %d bytes, %v", n, err)
	}
	// Garbage instead of a handshake response.
	nc, err := net.Dial("tcp", f.svc.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte{2, 0, 0, 1, 0xde, 0xad})
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil {
		t.Errorf("a bad handshake response did not close the connection: %v", err)
	}
	who(t, db, whoami)
}

func testPrimaryMoves(t *testing.T, f *fixture) {
	ctx := context.Background()
	conn, err := f.appDB(t).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET @kept = 'yes'"); err != nil {
		t.Fatal(err)
	}
	primary := func() string {
		var node, kept string
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Commit()
		if err := tx.QueryRow("SELECT node, @kept FROM whoami").Scan(&node, &kept); err != nil {
			t.Fatalf("read from the primary: %v", err)
		}
		if kept != "yes" {
			t.Errorf("session variable lost on %s: %q", node, kept)
		}
		return node
	}
	if node := primary(); node != "eu-1" {
		t.Fatalf("primary is %s", node)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE items SET name = 'in flight' WHERE id = 3"); err != nil {
		t.Fatal(err)
	}
	// The primary moves to eu-2 (as a failover would), but eu-2 is still a
	// read-only replica: the transaction's replay there fails, so the
	// transaction is lost; the connection is not.
	f.setView(t, func(v *router.View) {
		v.Primary = "eu-2"
		n := v.Nodes["eu-1"]
		n.Writer = false
		v.Nodes["eu-1"] = n
	})
	_, err = tx.Exec("UPDATE items SET name = 'in flight' WHERE id = 4")
	if code, msg := serverError(err); code != 1927 || !strings.Contains(msg, "transaction rolled back") {
		t.Errorf("statement of a transaction cut by the primary's move: %v", err)
	}
	tx.Rollback()
	if node := primary(); node != "eu-2" {
		t.Errorf("after the move writes go to %s, want eu-2", node)
	}
	f.view.Set(f.base)
	if node := primary(); node != "eu-1" {
		t.Errorf("after moving back writes go to %s, want eu-1", node)
	}
	var name string
	f.waitReplicated(t)
	if err := conn.QueryRowContext(ctx, "SELECT name FROM items WHERE id = 3").Scan(&name); err != nil || name != "item 3" {
		t.Errorf("the cut transaction was not rolled back: %q %v", name, err)
	}
}

func testReplicaEligibility(t *testing.T, f *fixture) {
	db := f.appDB(t)
	f.setView(t, func(v *router.View) {
		n := v.Nodes["eu-2"]
		n.Fenced = true
		v.Nodes["eu-2"] = n
	})
	before := f.svc.Stats().Backends["eu-2"].Queries
	for range 5 {
		if node := who(t, db, whoami); node != "eu-1" {
			t.Errorf("with eu-2 fenced a read went to %s", node)
		}
	}
	if after := f.svc.Stats().Backends["eu-2"].Queries; after != before {
		t.Errorf("fenced eu-2 received %d statements", after-before)
	}

	unknown := router.View{Primary: f.base.Primary, Nodes: map[string]router.NodeView{}}
	for name, n := range f.base.Nodes {
		n.LagSeconds = nil
		unknown.Nodes[name] = n
	}
	svc := f.startService(t, router.ServiceConfig{Name: "eu-fresh", MaxReplicationLag: time.Second}, unknown)
	cfg := f.appConfig()
	cfg.Addr = svc.Addr().String()
	if node := who(t, openDB(t, cfg), whoami); node != "eu-1" {
		t.Errorf("with unknown lag and a bound, a read went to %s, want the primary", node)
	}
}

func testManyConnections(t *testing.T, f *fixture) {
	const n = 1000
	conns := make([]*rawClient, n)
	parallel(n, func(i int) {
		conns[i] = f.raw(t, protocol.ClientProtocol41|protocol.ClientSecureConnection|protocol.ClientPluginAuth)
	})
	if got := f.svc.Stats().Sessions; got < n {
		t.Errorf("%d sessions open, want at least %d", got, n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if got := conns[i].mustQuery("SELECT " + strconv.Itoa(i)); got != strconv.Itoa(i) {
			t.Errorf("connection %d answered %q", i, got)
		}
	}
}

// testAuthSwitch logs in as a client whose default plugin is not
// mysql_native_password: the router asks it to switch.
func testAuthSwitch(t *testing.T, f *fixture) {
	nc, err := net.DialTimeout("tcp", f.svc.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := protocol.NewConn(nc, protocol.Backend, 4096)
	p, err := c.ReadPacket(nil, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	g, err := protocol.ParseGreeting(p)
	if err != nil {
		t.Fatal(err)
	}
	var version string
	if err := f.admin["eu-1"].QueryRow("SELECT VERSION()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	// The server's own version string, as MariaDB sends it.
	if g.Version != "5.5.5-"+version || g.Plugin != protocol.NativePassword {
		t.Errorf("greeting: version %q, plugin %q; the server's is %q", g.Version, g.Plugin, "5.5.5-"+version)
	}
	resp := protocol.HandshakeResponse{Caps: protocol.ClientProtocol41 | protocol.ClientSecureConnection | protocol.ClientPluginAuth,
		MaxPacket: 1 << 24, Charset: 45, User: f.app.User, Auth: []byte("not a native token"), Plugin: "caching_sha2_password"}
	c.WritePacket(resp.Append(nil))
	c.Flush()
	if p, err = c.ReadPacket(nil, 1<<16); err != nil {
		t.Fatal(err)
	}
	plugin, salt, _ := bytes.Cut(p[1:], []byte{0})
	if p[0] != 0xfe || string(plugin) != protocol.NativePassword {
		t.Fatalf("expected an auth switch to mysql_native_password, got %q", p)
	}
	stage := protocol.Stage1Of(f.app.Password)
	c.WritePacket(stage.Scramble(bytes.TrimSuffix(salt, []byte{0})))
	c.Flush()
	if p, err = c.ReadPacket(nil, 1<<16); err != nil || p[0] != 0 {
		t.Errorf("after the switch: %q %v", p, err)
	}
}

// testCursor opens a read-only cursor with COM_STMT_EXECUTE and reads it
// with COM_STMT_FETCH.
func testCursor(t *testing.T, f *fixture) {
	c := f.raw(t, protocol.ClientProtocol41|protocol.ClientSecureConnection|protocol.ClientPluginAuth|protocol.ClientConnectWithDB)
	packets, err := c.roundTrip(append([]byte{protocol.ComStmtPrepare}, "SELECT id FROM items WHERE id <= 5 ORDER BY id"...))
	if err != nil {
		t.Fatal(err)
	}
	id := binary.LittleEndian.Uint32(packets[0][1:])
	c.conn.ResetSeq()
	c.conn.WritePacket(append(binary.LittleEndian.AppendUint32([]byte{protocol.ComStmtExecute}, id), 1, 1, 0, 0, 0)) // CURSOR_TYPE_READ_ONLY
	c.conn.Flush()
	var last []byte
	for range 3 { // column count, column definition, EOF
		if last, err = c.conn.ReadPacket(nil, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if last[0] != 0xfe || binary.LittleEndian.Uint16(last[3:])&protocol.StatusCursorExists == 0 {
		t.Fatalf("no cursor opened: %q", last)
	}
	c.conn.ResetSeq()
	c.conn.WritePacket(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32([]byte{protocol.ComStmtFetch}, id), 10))
	c.conn.Flush()
	rows := 0
	for {
		p, err := c.conn.ReadPacket(nil, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if p[0] == 0xfe {
			break
		}
		if p[0] == 0xff {
			t.Fatalf("fetch: %q", p)
		}
		rows++
	}
	if rows != 5 {
		t.Errorf("fetched %d rows, want 5", rows)
	}
	if got := c.mustQuery("SELECT 'after the cursor'"); got != "after the cursor" {
		t.Errorf("the session broke: %q", got)
	}
}
