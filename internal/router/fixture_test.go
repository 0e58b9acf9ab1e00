package router_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/estate"
	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/router/protocol"
	"github.com/meridian-geo/meridian/internal/router/routertest"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
)

// fixture is an active-passive sandbox (primary eu-1, replica eu-2, DR
// us-1) with a readwritesplit router in eu in front of it.
type fixture struct {
	sb    *sandbox.Sandbox
	view  *router.LiveView
	base  router.View
	svc   *router.Service
	app   sandbox.Account
	admin map[string]*sql.DB
	log   *slog.Logger
}

// nodes of the active-passive example.
var nodes = []string{"eu-1", "eu-2", "us-1"}

func startFixture(t *testing.T) *fixture {
	t.Helper()
	topo, _, err := estate.LoadTopology("examples/active-passive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := sandboxtest.Logger(t)
	sb := sandboxtest.Up(t, "active-passive.yaml", func(o *sandbox.Options) { o.Topology = topo })
	info, err := sb.Info()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sb: sb, app: info.Credentials, admin: map[string]*sql.DB{}, log: log}
	f.base = routertest.SandboxView(info, topo, "eu", time.Now())
	if f.base.Primary != "eu-1" {
		t.Fatalf("view primary = %q, want eu-1", f.base.Primary)
	}
	f.view = router.NewLiveView(f.base)
	creds := sb.Credentials()
	for _, name := range nodes {
		n, _ := info.Node(name)
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd = creds.Admin.User, creds.Admin.Password
		cfg.Net, cfg.Addr = "tcp", fmt.Sprintf("%s:%d", n.Host, n.Port)
		db := openDB(t, cfg)
		db.SetMaxOpenConns(2)
		f.admin[name] = db
		// Room for the 17 MiB round trip, on every server it replicates to.
		if _, err := db.Exec("SET GLOBAL max_allowed_packet = 64*1024*1024"); err != nil {
			t.Fatal(err)
		}
	}
	// whoami holds, on each node, that node's name: a plain read of it
	// tells which server a statement ran on.
	for _, stmt := range []string{"CREATE DATABASE meridian_test", "CREATE TABLE meridian_test.whoami (node VARCHAR(10))"} {
		if _, err := f.admin["eu-1"].Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	f.waitReplicated(t, "eu-2", "us-1")
	for name, db := range f.admin {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{"SET SESSION sql_log_bin = 0", "INSERT INTO meridian_test.whoami VALUES ('" + name + "')", "SET SESSION sql_log_bin = 1"} {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		conn.Close()
	}
	f.svc, err = router.NewService(router.ServiceConfig{
		Name: "eu-rw", Region: "eu", Kind: router.ReadWriteSplit,
		Admin:  router.Credentials{User: creds.Admin.User, Password: creds.Admin.Password},
		Logger: log,
	}, f.view, nil)
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Serve(serveCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		f.svc.Close()
	})
	return f
}

func openDB(t *testing.T, cfg *mysql.Config) *sql.DB {
	t.Helper()
	cfg.Timeout = 5 * time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

// appConfig is the driver configuration of the application account
// through the router: server-side prepared statements, no interpolation.
func (f *fixture) appConfig() *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = f.app.User, f.app.Password
	cfg.Net, cfg.Addr = "tcp", f.svc.Addr().String()
	cfg.DBName = "meridian_test"
	cfg.InterpolateParams = false
	return cfg
}

func (f *fixture) appDB(t *testing.T) *sql.DB {
	t.Helper()
	return openDB(t, f.appConfig())
}

// status reads a global status counter of a node.
func (f *fixture) status(t *testing.T, node, name string) int64 {
	t.Helper()
	var n string
	var v int64
	if err := f.admin[node].QueryRow("SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// counters reads several status counters of every node.
func (f *fixture) counters(t *testing.T, names ...string) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, node := range nodes {
		out[node] = map[string]int64{}
		for _, name := range names {
			out[node][name] = f.status(t, node, name)
		}
	}
	return out
}

// setView publishes a changed copy of the base view for the rest of the
// test, and restores the base view afterwards.
func (f *fixture) setView(t *testing.T, change func(v *router.View)) {
	t.Helper()
	f.view.Set(f.changed(change))
	t.Cleanup(func() { f.view.Set(f.base) })
}

// changed is a changed copy of the base view.
func (f *fixture) changed(change func(v *router.View)) router.View {
	v := router.View{Primary: f.base.Primary, Nodes: map[string]router.NodeView{}}
	for name, n := range f.base.Nodes {
		v.Nodes[name] = n
	}
	change(&v)
	return v
}

// waitReplicated waits until the replicas (eu-2 when none is named) have
// applied everything eu-1 wrote.
func (f *fixture) waitReplicated(t *testing.T, replicas ...string) {
	t.Helper()
	if len(replicas) == 0 {
		replicas = []string{"eu-2"}
	}
	var pos string
	if err := f.admin["eu-1"].QueryRow("SELECT @@global.gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	for _, name := range replicas {
		var r int
		if err := f.admin[name].QueryRow("SELECT MASTER_GTID_WAIT(?, 30)", pos).Scan(&r); err != nil || r != 0 {
			t.Fatalf("%s did not reach %s: %d %v", name, pos, r, err)
		}
	}
}

// whoami is the plain read that names the server it ran on.
const whoami = "SELECT node FROM meridian_test.whoami"

// who runs a query whose first column is a node name (whoami, and
// variants of it) and returns it.
func who(t *testing.T, q interface {
	QueryRow(string, ...any) *sql.Row
}, query string, args ...any) string {
	t.Helper()
	var node string
	if err := q.QueryRow(query, args...).Scan(&node); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return node
}

// rawClient speaks the protocol to the router directly, for what no
// driver does: COM_CHANGE_USER, COM_RESET_CONNECTION, hand-made packets.
type rawClient struct {
	t     *testing.T
	conn  *protocol.Conn
	salt  []byte
	caps  uint32
	stage protocol.Stage1
}

func (f *fixture) raw(t *testing.T, caps uint32) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", f.svc.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	stage := protocol.Stage1Of(f.app.Password)
	conn, g, got, err := protocol.Connect(nc, protocol.Login{User: f.app.User, Password: &stage, DB: "meridian_test",
		Caps: caps, Charset: 45, MaxPacket: 1 << 24, ReadBuffer: 4096})
	if err != nil {
		nc.Close()
		t.Fatalf("raw login: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, salt: g.Salt, caps: got, stage: stage}
}

// roundTrip sends one command and returns the answer's packets.
func (c *rawClient) roundTrip(payload []byte) ([][]byte, error) {
	c.conn.NetConn().SetDeadline(time.Now().Add(30 * time.Second))
	c.conn.ResetSeq()
	if err := c.conn.WritePacket(payload); err != nil {
		return nil, err
	}
	if err := c.conn.Flush(); err != nil {
		return nil, err
	}
	return c.readAnswer(payload[0])
}

// readAnswer reads a text or binary result (EOF-terminated, as the raw
// client never asks for CLIENT_DEPRECATE_EOF), an OK or an ERR.
func (c *rawClient) readAnswer(cmd byte) ([][]byte, error) {
	var packets [][]byte
	read := func() ([]byte, error) {
		p, err := c.conn.ReadPacket(nil, 1<<26)
		if err == nil {
			packets = append(packets, p)
		}
		return p, err
	}
	p, err := read()
	if err != nil {
		return nil, err
	}
	switch {
	case cmd == protocol.ComStatistics:
		return packets, nil
	case cmd == protocol.ComFieldList:
		for p[0] != 0xfe && p[0] != 0xff {
			if p, err = read(); err != nil {
				return nil, err
			}
		}
		return packets, nil
	case p[0] == 0xff:
		e, _ := protocol.ParseERR(p)
		return packets, e
	case p[0] == 0x00 && cmd == protocol.ComStmtPrepare:
		params, columns := binary.LittleEndian.Uint16(p[7:]), binary.LittleEndian.Uint16(p[5:])
		for _, n := range []uint16{params, columns} {
			for i := 0; n > 0 && i <= int(n); i++ {
				if _, err := read(); err != nil {
					return nil, err
				}
			}
		}
		return packets, nil
	case p[0] == 0x00, p[0] == 0xfe:
		return packets, nil
	}
	for eofs := 0; eofs < 2; {
		p, err := read()
		if err != nil {
			return nil, err
		}
		if p[0] == 0xff {
			e, _ := protocol.ParseERR(p)
			return packets, e
		}
		if p[0] == 0xfe && len(p) < 9 {
			eofs++
		}
	}
	return packets, nil
}

// query runs a text query and returns the first column of the first row
// ("NULL" for NULL).
func (c *rawClient) query(sql string) (string, error) {
	packets, err := c.roundTrip(append([]byte{protocol.ComQuery}, sql...))
	if err != nil {
		return "", err
	}
	if len(packets) < 2 {
		return "", nil
	}
	columns := int(packets[0][0])
	row := packets[1+columns+1]
	if row[0] == 0xfb {
		return "NULL", nil
	}
	return string(row[1 : 1+int(row[0])]), nil
}

func (c *rawClient) mustQuery(sql string) string {
	c.t.Helper()
	v, err := c.query(sql)
	if err != nil {
		c.t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// serverError extracts a server error's number from a driver or raw error.
func serverError(err error) (uint16, string) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number, me.Message
	}
	var se *protocol.ServerError
	if errors.As(err, &se) {
		return se.Code, se.Message
	}
	return 0, ""
}

// parallel runs f n times concurrently.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
}
