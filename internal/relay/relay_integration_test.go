package relay

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/mariadbd"
	"github.com/meridian-geo/meridian/internal/node"
)

// server is a standalone mariadbd for the relay's tests, stopped when the
// test ends.
type server struct {
	inst *mariadbd.Instance
	root *node.Client
	dir  string
}

func startServer(t *testing.T, ctx context.Context, name string, id int, extra map[string]string) server {
	t.Helper()
	bins, err := mariadbd.FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := mariadbd.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{
		"server_id": strconv.Itoa(id), "gtid_domain_id": strconv.Itoa(id), "log_bin": "mysql-bin",
		"log_slave_updates": "ON", "binlog_format": "ROW", "gtid_strict_mode": "ON",
		"binlog_annotate_row_events": "ON",
	}
	for k, v := range extra {
		settings[k] = v
	}
	base := t.TempDir()
	if err := mariadbd.GrantTraversal(base); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, name)
	inst, err := mariadbd.Start(ctx, bins, mariadbd.Config{Name: name, Dir: dir, Port: ports[0], Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(30 * time.Second); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	root, err := node.Open(ctx, node.Endpoint{Name: name, Socket: inst.Socket(), User: "root"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return server{inst: inst, root: root, dir: dir}
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// filesHolding lists the files under dir whose bytes contain needle.
func filesHolding(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err == nil && bytes.Contains(data, needle) {
			hits = append(hits, strings.TrimPrefix(path, dir+"/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func personalShop(schema, table string) bool {
	return strings.EqualFold(schema, "shop") && (strings.EqualFold(table, "users") || strings.EqualFold(table, "orders"))
}

// TestRelayKeepsPersonalRowsAtHome replicates through a relay over the
// compressed protocol: global rows and the directory rows a trigger writes
// arrive, personal rows (inserted, updated, deleted, in mixed transactions,
// and by a statement-based insert) never do, not even in the replica's
// relay log, and the replica holds the source's GTID position.
func TestRelayKeepsPersonalRowsAtHome(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := startServer(t, ctx, "source", 1, nil)
	dst := startServer(t, ctx, "replica", 2, map[string]string{"slave_compressed_protocol": "ON"})
	exec(t, src.root.DB(),
		"CREATE USER repl@'127.0.0.1' IDENTIFIED BY 'pw'",
		"GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1'")

	r, err := Start(Config{Name: "source", Listen: "127.0.0.1:0", Upstream: fmt.Sprintf("127.0.0.1:%d", src.inst.Port()), Personal: personalShop})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	host, port, _ := strings.Cut(r.Addr(), ":")
	p, _ := strconv.Atoi(port)
	if err := dst.root.ChangeSource(ctx, node.SourceConfig{Connection: "eu", Host: host, Port: p, User: "repl", Password: "pw", ConnectRetry: time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := dst.root.StartReplica(ctx, "eu"); err != nil {
		t.Fatal(err)
	}

	db := src.root.DB()
	exec(t, db,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.users (id BIGINT PRIMARY KEY, email VARCHAR(200), country CHAR(2), secret VARCHAR(100), KEY (email))",
		"CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, customer_id BIGINT, item VARCHAR(100))",
		"CREATE TABLE shop.products (id BIGINT PRIMARY KEY, name VARCHAR(100))",
		"CREATE DATABASE meridian",
		"CREATE TABLE meridian.users_metadata (user_id BIGINT PRIMARY KEY, email_hash VARCHAR(64) NOT NULL, country_code CHAR(2) NOT NULL)",
		"CREATE TRIGGER shop.users_directory AFTER INSERT ON shop.users FOR EACH ROW "+
			"INSERT INTO meridian.users_metadata VALUES (NEW.id, SHA2(LOWER(NEW.email), 256), NEW.country)",
		"INSERT INTO shop.products VALUES (1, 'GLOBAL-PRODUCT-1')",
		"INSERT INTO shop.users VALUES (1, 'canary-one@example.fr', 'FR', 'CANARY-SECRET-1')",
		"BEGIN",
		"INSERT INTO shop.users VALUES (2, 'canary-two@example.fr', 'FR', 'CANARY-SECRET-2')",
		"INSERT INTO shop.orders VALUES (10, 2, 'CANARY-ORDER-ITEM')",
		"INSERT INTO shop.products VALUES (2, 'GLOBAL-PRODUCT-2')",
		"COMMIT",
		"UPDATE shop.users SET secret = 'CANARY-SECRET-3' WHERE id = 1",
		"UPDATE shop.users u JOIN shop.products p ON p.id = 1 SET u.secret = 'CANARY-SECRET-4', p.name = 'GLOBAL-PRODUCT-1b' WHERE u.id = 2",
		"DELETE FROM shop.orders WHERE id = 10",
		"SET SESSION binlog_format = 'STATEMENT'",
		"INSERT INTO shop.users VALUES (5, 'canary-five@example.fr', 'FR', 'CANARY-SECRET-5')",
		"INSERT INTO shop.products VALUES (3, 'GLOBAL-PRODUCT-3')",
		"SET SESSION binlog_format = 'ROW'",
		"INSERT INTO shop.products VALUES (4, 'GLOBAL-PRODUCT-4')",
	)
	// The statement-based insert fired the trigger on the source only; the
	// replica must not run it from the dropped statement either.
	want := gtidState(t, ctx, src.root).Binlog
	waitFor(t, ctx, dst.root, want)

	rdb := dst.root.DB()
	if n := count(t, rdb, "SELECT COUNT(*) FROM shop.products"); n != 4 {
		t.Errorf("replica has %d products, want 4", n)
	}
	var name string
	if err := rdb.QueryRow("SELECT name FROM shop.products WHERE id = 1").Scan(&name); err != nil || name != "GLOBAL-PRODUCT-1b" {
		t.Errorf("product 1 on the replica = %q, %v; want the update made beside a personal row", name, err)
	}
	if n := count(t, rdb, "SELECT COUNT(*) FROM meridian.users_metadata"); n != 2 {
		t.Errorf("replica has %d directory rows, want 2 (the trigger's rows cross, the users' do not)", n)
	}
	for _, table := range []string{"shop.users", "shop.orders"} {
		if n := count(t, rdb, "SELECT COUNT(*) FROM "+table); n != 0 {
			t.Errorf("replica has %d rows in personal table %s", n, table)
		}
	}
	got := gtidState(t, ctx, dst.root)
	if lag := want.Lag(got.Slave); lag[1] != 0 {
		t.Errorf("replica gtid_slave_pos %s trails the source's %s: transactions that only touched personal tables must still arrive", got.Slave, want)
	}
	if err := dst.root.DB().QueryRowContext(ctx, "FLUSH TABLES").Err(); err != nil {
		t.Fatal(err)
	}
	for _, canary := range []string{"CANARY-SECRET", "canary-one@example.fr", "CANARY-ORDER-ITEM", "canary-five"} {
		if hits := filesHolding(t, dst.dir, []byte(canary)); len(hits) > 0 {
			t.Errorf("%q reached the replica's files: %v", canary, hits)
		}
	}
	if hits := filesHolding(t, dst.dir, []byte("GLOBAL-PRODUCT-2")); len(hits) == 0 {
		t.Error("the global row is in none of the replica's files: is the scan blind?")
	}
	st := r.Stats()
	t.Logf("relay: %+v", st)
	if st.DroppedRows == 0 || st.Dumps == 0 || st.Compressed == 0 {
		t.Errorf("relay stats %+v: want a compressed dump and dropped row events", st)
	}
	rs, err := dst.root.Replicas(ctx)
	if err != nil || len(rs) != 1 || rs[0].IORunning != "Yes" || !rs[0].SQLRunning {
		t.Fatalf("replica status %+v, %v: want both threads running", rs, err)
	}
}

func gtidState(t *testing.T, ctx context.Context, c *node.Client) node.GTIDState {
	t.Helper()
	s, err := c.GTIDState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, ctx context.Context, c *node.Client, pos gtid.Position) {
	t.Helper()
	ok, err := c.WaitForGTID(ctx, pos, 60*time.Second)
	if err != nil || !ok {
		rs, _ := c.Replicas(ctx)
		t.Fatalf("replica did not reach %s: %v (status %+v)", pos, err, rs)
	}
}
