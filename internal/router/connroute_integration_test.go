package router_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/router"
)

// TestBoundServices runs the readconnroute and diff services against one
// active-passive sandbox.
func TestBoundServices(t *testing.T) {
	f := startFixture(t)
	t.Run("ReadConnRouteBindsLocalReplica", func(t *testing.T) { testConnRouteLocal(t, f) })
	t.Run("ReadConnRouteFallsBackToAnotherRegion", func(t *testing.T) { testConnRouteFallback(t, f) })
	t.Run("ReadConnRoutePrimary", func(t *testing.T) { testConnRoutePrimary(t, f) })
	t.Run("ReadConnRouteClosesWhenServerLeaves", func(t *testing.T) { testConnRouteServerLeaves(t, f) })
	t.Run("ReadConnRouteClosesOnServerLoss", func(t *testing.T) { testConnRouteServerLost(t, f) })
	t.Run("Diff", func(t *testing.T) { testDiff(t, f) })
}

// connRoute starts a readconnroute service on view and opens a client
// pool to it.
func (f *fixture) connRoute(t *testing.T, cfg router.ServiceConfig, view router.ViewSource) (*router.Service, *sql.DB) {
	t.Helper()
	cfg.Kind, cfg.RegionOrder = router.ReadConnRoute, []string{"eu", "us"}
	svc := f.startServiceOn(t, cfg, view)
	dbcfg := f.appConfig()
	dbcfg.Addr = svc.Addr().String()
	return svc, openDB(t, dbcfg)
}

func testConnRouteLocal(t *testing.T, f *fixture) {
	svc, db := f.connRoute(t, router.ServiceConfig{Name: "global-read"}, router.NewLiveView(f.base))
	before := f.status(t, "eu-2", "Com_select")
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 5 {
		if node := who(t, onConn{conn}, whoami); node != "eu-2" {
			t.Errorf("served by %s, want eu-2, the replica of the service's region", node)
		}
	}
	// No classification: a write goes to the bound replica too, which
	// refuses it as read-only.
	_, err = conn.ExecContext(context.Background(), "INSERT INTO whoami VALUES ('x')")
	if code, _ := serverError(err); code != 1290 {
		t.Errorf("write through readconnroute: %v, want the replica's read-only error 1290", err)
	}
	// So does a transaction.
	tx, err := conn.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if node := who(t, tx, whoami); node != "eu-2" {
		t.Errorf("a read in a transaction was served by %s, want the bound eu-2", node)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if d := f.status(t, "eu-2", "Com_select") - before; d < 6 {
		t.Errorf("eu-2 ran %d selects, want 6", d)
	}
	if st := svc.Stats(); st.Backends["eu-1"].Queries+st.Backends["us-1"].Queries != 0 || st.Backends["eu-2"].Connections != 1 || st.Backends["eu-2"].Queries < 8 {
		t.Errorf("stats %+v: want every command on one connection, to eu-2", st)
	}
}

func testConnRouteFallback(t *testing.T, f *fixture) {
	for _, c := range []struct {
		name   string
		change func(v *router.View)
		cfg    router.ServiceConfig
	}{
		{"local replica down", func(v *router.View) { down(v, "eu-2") }, router.ServiceConfig{}},
		{"local replica lagging", func(v *router.View) { setLag(v, "eu-2", 5) }, router.ServiceConfig{MaxReplicationLag: time.Second}},
		{"local replica lag unknown", func(v *router.View) {
			n := v.Nodes["eu-2"]
			n.LagSeconds = nil
			v.Nodes["eu-2"] = n
		}, router.ServiceConfig{MaxReplicationLag: time.Second}},
	} {
		c.cfg.Name = "global-read-fallback"
		_, db := f.connRoute(t, c.cfg, router.NewLiveView(f.changed(c.change)))
		if node := who(t, db, whoami); node != "us-1" {
			t.Errorf("%s: served by %s, want us-1 (the other region's replica)", c.name, node)
		}
	}
	_, db := f.connRoute(t, router.ServiceConfig{Name: "global-read-none"},
		router.NewLiveView(f.changed(func(v *router.View) { down(v, "eu-2"); down(v, "us-1") })))
	if err := db.Ping(); err == nil || !strings.Contains(err.Error(), "no server is available") {
		t.Errorf("login with no replica up: %v, want a refusal saying no server is available", err)
	}
}

func testConnRoutePrimary(t *testing.T, f *fixture) {
	_, db := f.connRoute(t, router.ServiceConfig{Name: "primary-conn", ConnectTo: router.ConnectPrimary}, router.NewLiveView(f.base))
	if node := who(t, db, whoami); node != "eu-1" {
		t.Errorf("served by %s, want the primary eu-1", node)
	}
}

// testConnRouteServerLeaves marks the bound replica down in the view: the
// connection's next command is answered with an error and the connection
// closes.
func testConnRouteServerLeaves(t *testing.T, f *fixture) {
	view := router.NewLiveView(f.base)
	svc, db := f.connRoute(t, router.ServiceConfig{Name: "global-read-leaves"}, view)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if node := who(t, onConn{conn}, whoami); node != "eu-2" {
		t.Fatalf("served by %s, want eu-2", node)
	}
	view.Set(f.changed(func(v *router.View) { down(v, "eu-2") }))
	expectClosed(t, conn, "eu-2")
	if st := svc.Stats(); st.Backends["eu-2"].Connections != 0 || st.Backends["us-1"].Connections != 0 {
		t.Errorf("stats %+v: the connection did not move elsewhere, nor stay open", st)
	}
}

// testConnRouteServerLost kills the router's connection on the bound
// server itself.
func testConnRouteServerLost(t *testing.T, f *fixture) {
	_, db := f.connRoute(t, router.ServiceConfig{Name: "global-read-lost"}, router.NewLiveView(f.base))
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if node := who(t, onConn{conn}, whoami); node != "eu-2" {
		t.Fatalf("served by %s, want eu-2", node)
	}
	// CONNECTION_ID() is the router's id for the client's connection: the
	// backend's is in the server's process list.
	var id int64
	if err := f.admin["eu-2"].QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? ORDER BY ID DESC LIMIT 1", f.app.User).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin["eu-2"].Exec(fmt.Sprintf("KILL CONNECTION %d", id)); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, conn, "")
}

// expectClosed checks that a client's next command fails with the
// router's or the server's error and that the connection is then gone.
func expectClosed(t *testing.T, conn *sql.Conn, node string) {
	t.Helper()
	ctx := context.Background()
	var x int
	err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&x)
	if err == nil {
		t.Fatal("a command on a connection whose server is gone succeeded")
	}
	if code, msg := serverError(err); node != "" && (code != 1927 || !strings.Contains(msg, "server "+node+" of service")) {
		t.Errorf("first command: %v, want error 1927 naming %s", err, node)
	}
	if err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&x); err == nil {
		t.Error("the connection stayed open after its server went away")
	}
}

func down(v *router.View, node string) {
	n := v.Nodes[node]
	n.Up = false
	v.Nodes[node] = n
}

func setLag(v *router.View, node string, seconds float64) {
	n := v.Nodes[node]
	n.LagSeconds = &seconds
	v.Nodes[node] = n
}

// onConn lets who query one pinned connection.
type onConn struct{ *sql.Conn }

func (c onConn) QueryRow(query string, args ...any) *sql.Row {
	return c.QueryRowContext(context.Background(), query, args...)
}
