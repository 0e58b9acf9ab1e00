package router_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/router"
)

// TestFidelity checks, with real drivers against the router and directly
// against its primary, that a client sees what MariaDB itself would show
// it: each subtest is one fidelity bug the router had.
func TestFidelity(t *testing.T) {
	f := startFixture(t)
	t.Run("StaleConnection", func(t *testing.T) { testStaleConnection(t, f) })
	t.Run("IdleBackendKilled", func(t *testing.T) { testIdleBackendKilled(t, f) })
	t.Run("AuthPlugins", func(t *testing.T) { testAuthPlugins(t, f) })
	t.Run("MariaDBConnector", func(t *testing.T) { testMariaDBConnector(t, f) })
	t.Run("Compression", func(t *testing.T) { testCompression(t, f) })
	// Last: it promotes eu-2.
	t.Run("TransactionReplayedOnNewPrimary", func(t *testing.T) { testTransactionReplay(t, f) })
}

// directConfig is appConfig pointed at the primary eu-1 itself.
func (f *fixture) directConfig(t *testing.T) *mysql.Config {
	info, err := f.sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := info.Node("eu-1")
	cfg := f.appConfig()
	cfg.Addr = fmt.Sprintf("%s:%d", n.Host, n.Port)
	return cfg
}

// bothWays runs check against the primary directly and through the
// router, each with a pool of one connection.
func (f *fixture) bothWays(t *testing.T, check func(t *testing.T, db *sql.DB)) {
	for _, side := range []struct {
		name string
		cfg  *mysql.Config
	}{{"Direct", f.directConfig(t)}, {"Router", f.appConfig()}} {
		t.Run(side.name, func(t *testing.T) {
			db := openDB(t, side.cfg)
			db.SetMaxOpenConns(1)
			db.SetMaxIdleConns(1)
			check(t, db)
		})
	}
}

// testStaleConnection: a session sets wait_timeout = 2, idles 3 s and
// begins a transaction. MariaDB closes the idle connection and the driver
// opens a new one, where neither the user variable nor wait_timeout
// survive; the router must close the client's connection the same way.
func testStaleConnection(t *testing.T, f *fixture) {
	f.bothWays(t, func(t *testing.T, db *sql.DB) {
		for _, stmt := range []string{"SET @carried = 'old session'", "SET SESSION wait_timeout = 2"} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		time.Sleep(3500 * time.Millisecond)
		tx, err := db.Begin()
		if err != nil {
			t.Fatalf("BEGIN after the server ended the idle session: %v", err)
		}
		var carried sql.NullString
		var timeout int
		if err := tx.QueryRow("SELECT @carried, @@session.wait_timeout").Scan(&carried, &timeout); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if carried.Valid || timeout == 2 {
			t.Errorf("the new session has the discarded state: @carried = %q, wait_timeout = %d", carried.String, timeout)
		}
	})
}

// testIdleBackendKilled: the server ends a backend connection the
// session did not use for its latest command (its replica, while it
// writes). A direct connection would still be alive, so the router keeps
// the client's and replays the session's state on a new backend.
func testIdleBackendKilled(t *testing.T, f *fixture) {
	db := f.appDB(t)
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET @kept = 'replayed'"); err != nil {
		t.Fatal(err)
	}
	if got := who(t, db, whoami); got != "eu-2" {
		t.Fatalf("a plain read ran on %s, want eu-2", got)
	}
	var readOnly int
	if err := db.QueryRow("SELECT @@global.read_only").Scan(&readOnly); err != nil { // on the primary: the replica idles
		t.Fatal(err)
	}
	var id int64
	if err := f.admin["eu-2"].QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? ORDER BY ID DESC LIMIT 1", f.app.User).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin["eu-2"].Exec(fmt.Sprintf("KILL %d", id)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	var node, kept string
	if err := db.QueryRow("SELECT node, @kept FROM meridian_test.whoami").Scan(&node, &kept); err != nil {
		t.Fatalf("a read after the idle replica connection was killed: %v", err)
	}
	if node != "eu-2" || kept != "replayed" {
		t.Errorf("read on %s with @kept = %q, want eu-2 and the replayed value", node, kept)
	}
}

// authAccounts creates the accounts of other plugins: 'ed' (ed25519,
// password "ed secret") and 'both' (ed25519 "ed side" or
// mysql_native_password "native side").
func (f *fixture) authAccounts(t *testing.T) {
	t.Helper()
	f.installEd25519(t)
	for _, stmt := range []string{
		"CREATE USER IF NOT EXISTS 'ed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed secret')",
		"CREATE USER IF NOT EXISTS 'both'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed side') OR mysql_native_password USING PASSWORD('native side')",
		"GRANT SELECT ON meridian_test.* TO 'ed'@'%', 'both'@'%'",
	} {
		if _, err := f.admin["eu-1"].Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	f.waitReplicated(t, "eu-2", "us-1")
}

// installEd25519 loads MariaDB's ed25519 authentication plugin on every
// node (a replica must have it to apply CREATE USER ... VIA ed25519).
func (f *fixture) installEd25519(t *testing.T) {
	t.Helper()
	for _, name := range nodes {
		var n int
		if err := f.admin[name].QueryRow("SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			if _, err := f.admin[name].Exec("INSTALL SONAME 'auth_ed25519'"); err != nil {
				t.Fatalf("install auth_ed25519 on %s: %v", name, err)
			}
		}
	}
}

// testAuthPlugins: accounts the router cannot check itself (ed25519,
// several methods, an expired password) log in through it as they do
// directly, and COM_CHANGE_USER reaches them too.
func testAuthPlugins(t *testing.T, f *fixture) {
	f.authAccounts(t)
	login := func(t *testing.T, cfg *mysql.Config, user, password string) (string, error) {
		cfg.User, cfg.Passwd = user, password
		cfg.AllowNativePasswords = true
		db := openDB(t, cfg)
		var current string
		var err error
		// go-sql-driver drops a trailing 0 byte from the server's 32-byte
		// ed25519 nonce and then refuses it as malformed (1 login in 256,
		// directly as through the router): such a login is tried again.
		for range 4 {
			if err = db.QueryRow("SELECT CURRENT_USER()").Scan(&current); !errors.Is(err, mysql.ErrMalformPkt) {
				break
			}
		}
		return current, err
	}
	for _, c := range []struct {
		user, password string
		ok             bool
	}{
		{"ed", "ed secret", true}, {"both", "ed side", true}, {"ed", "wrong", false},
		// The server switches this client to ed25519, then to
		// mysql_native_password: go-sql-driver refuses a second switch,
		// directly as through the router.
		{"both", "native side", false},
	} {
		t.Run(c.user+"/"+c.password, func(t *testing.T) {
			direct, directErr := login(t, f.directConfig(t), c.user, c.password)
			routed, routedErr := login(t, f.appConfig(), c.user, c.password)
			code, _ := serverError(directErr)
			routedCode, _ := serverError(routedErr)
			t.Logf("directly: %q, %v; through the router: %q, %v", direct, directErr, routed, routedErr)
			if direct != routed || (directErr == nil) != (routedErr == nil) || code != routedCode {
				t.Errorf("directly: %q, %v; through the router: %q, %v", direct, directErr, routed, routedErr)
			}
			if (routedErr == nil) != c.ok {
				t.Errorf("login through the router: %v, want success %t", routedErr, c.ok)
			}
		})
	}
}

// testMariaDBConnector runs MariaDB's own Node.js connector
// (testdata/node/mariadb.js) against the primary and through the router:
// bulk execution, a batch over 16 MiB, ed25519 and multi-method logins,
// the server's version and capabilities, a connection the server closes.
// Both runs must print the same.
func testMariaDBConnector(t *testing.T, f *fixture) {
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "mariadb")); err != nil {
		t.Fatalf("mariadb is not installed in internal/router/%s: run scripts/setup.sh (or npm ci --prefix internal/router/%s): %v", nodeDir, nodeDir, err)
	}
	f.authAccounts(t)
	direct := f.directConfig(t)
	host, port := f.routerAddr(t)
	run := func(suffix, host, port string) []string {
		env := []string{"MERIDIAN_HOST=" + host, "MERIDIAN_PORT=" + port, "MERIDIAN_USER=" + f.app.User,
			"MERIDIAN_PASSWORD=" + f.app.Password, "MERIDIAN_DB=meridian_test", "MERIDIAN_SUFFIX=" + suffix}
		return strings.Split(strings.TrimSpace(runTool(t, "", env, "node", filepath.Join(nodeDir, "mariadb.js"))), "\n")
	}
	directHost, directPort, _ := net.SplitHostPort(direct.Addr)
	want := run("direct", directHost, directPort)
	got := run("router", host, port)
	for i := range max(len(want), len(got)) {
		w, g := "(nothing)", "(nothing)"
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		t.Logf("%s", g)
		if w != g {
			t.Errorf("through the router: %s\n                          directly: %s", g, w)
		}
	}
}

// testCompression: the compressed protocol, which the router used to
// withhold, with the mariadb command-line client (--compress) and
// go-sql-driver (compress=true): large and small answers, a prepared
// statement, a multi-packet request.
func testCompression(t *testing.T, f *fixture) {
	const script = "SELECT LENGTH(REPEAT('compressible ', 100000)), 'short';\nSELECT node FROM meridian_test.whoami;\n"
	host, port := f.routerAddr(t)
	options := secretFile(t, "client.cnf", fmt.Sprintf("[client]\nuser=%s\npassword=%s\n", f.app.User, f.app.Password))
	got := runTool(t, script, nil, "mariadb", "--defaults-extra-file="+options, "--compress", "-h", host, "-P", port, "-N", "-B")
	if want := "1300000\tshort\neu-2\n"; got != want {
		t.Errorf("mariadb --compress through the router printed %q, want %q", got, want)
	}
	for _, side := range []struct {
		name string
		cfg  *mysql.Config
	}{{"direct", f.directConfig(t)}, {"router", f.appConfig()}} {
		if err := side.cfg.Apply(mysql.EnableCompression(true)); err != nil {
			t.Fatal(err)
		}
		db := openDB(t, side.cfg)
		var n int
		var short string
		if err := db.QueryRow("SELECT LENGTH(?), 'short'", strings.Repeat("compressible ", 2_000_000)).Scan(&n, &short); err != nil {
			t.Fatalf("%s, compressed: %v", side.name, err)
		}
		var compression string
		if err := db.QueryRow("SHOW SESSION STATUS LIKE 'Compression'").Scan(new(string), &compression); err != nil {
			t.Fatal(err)
		}
		if n != 26_000_000 || short != "short" || compression != "ON" {
			t.Errorf("%s, compressed: length %d, %q, Compression %s", side.name, n, short, compression)
		}
	}
}

// testTransactionReplay moves the primary to eu-2 while a client's
// transaction is open on eu-1 (a switchover: eu-1 made read-only, eu-2
// caught up and promoted, the view changed): the client's next statement
// and its COMMIT succeed, on eu-2, where the transaction's writes are
// applied exactly once; eu-1 rolled them back.
func testTransactionReplay(t *testing.T, f *fixture) {
	if _, err := f.admin["eu-1"].Exec("CREATE TABLE meridian_test.replayed (id INT PRIMARY KEY, v VARCHAR(10))"); err != nil {
		t.Fatal(err)
	}
	f.waitReplicated(t, "eu-2", "us-1")
	view := router.NewLiveView(f.base)
	svc := f.startServiceOn(t, router.ServiceConfig{Name: "eu-replay"}, view)
	cfg := f.appConfig()
	cfg.Addr = svc.Addr().String()
	db := openDB(t, cfg)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, step := range []func() error{
		func() error { _, err := tx.Exec("INSERT INTO replayed VALUES (1, 'before')"); return err },
		func() error { return tx.QueryRow("SELECT COUNT(*) FROM replayed").Scan(&n) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// The switchover: eu-1 read-only, eu-2 caught up and writable.
	if _, err := f.admin["eu-1"].Exec("SET GLOBAL read_only = 1"); err != nil {
		t.Fatal(err)
	}
	f.waitReplicated(t, "eu-2")
	for _, stmt := range []string{"STOP ALL SLAVES", "SET GLOBAL read_only = 0"} {
		if _, err := f.admin["eu-2"].Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	view.Set(f.changed(func(v *router.View) {
		v.Primary = "eu-2"
		for name, n := range v.Nodes {
			n.Writer = name == "eu-2"
			v.Nodes[name] = n
		}
	}))
	if _, err := tx.Exec("INSERT INTO replayed VALUES (2, 'after')"); err != nil {
		t.Fatalf("the transaction's next statement after the primary moved: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("COMMIT after the primary moved: %v", err)
	}
	var rows, sum int
	if err := f.admin["eu-2"].QueryRow("SELECT COUNT(*), SUM(id) FROM meridian_test.replayed").Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	if err := f.admin["eu-1"].QueryRow("SELECT COUNT(*) FROM meridian_test.replayed").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || sum != 3 || n != 0 {
		t.Errorf("new primary eu-2 holds %d rows (ids summing to %d), old primary eu-1 %d: want 2 rows, 3, and 0", rows, sum, n)
	}
	if st := svc.Stats().Failover; st.Replays != 1 || st.ReplayMismatches != 0 {
		t.Errorf("failover stats %+v, want one replay", st)
	}
}
