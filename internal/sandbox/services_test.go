package sandbox_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/lease"
	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
	"github.com/meridian-geo/meridian/internal/services"
)

// TestServices runs the active-passive sandbox with its controller (in
// the DR region, us) and its router services: each region's service takes
// clients, follows the controller's view, and stops writing when a
// partition cuts it from the controller.
func TestServices(t *testing.T) {
	sb := sandboxtest.Up(t, "active-passive.yaml", func(o *sandbox.Options) {
		o.Controller, o.Services, o.ServiceInterval = true, true, 100*time.Millisecond
		// The partition below outlasts the confirmation window: this test
		// is about the routers' lease, so the controller must not fail over
		// (the controller's chaos tests cover that).
		o.ConfigureController = func(c *controller.Config) { c.Failover.Manual = true }
	})
	info, err := sandbox.ReadInfo(sb.Dir())
	if err != nil {
		t.Fatal(err)
	}
	runServiceChecks(t, sb, sb.Services(), info)
}

func runServiceChecks(t *testing.T, sb *sandbox.Sandbox, set *services.Set, info *sandbox.Info) {
	want := map[string]sandbox.ServiceInfo{
		"eu-rw":       {Name: "eu-rw", Region: "eu", Kind: "readwritesplit"},
		"us-rw":       {Name: "us-rw", Region: "us", Kind: "readwritesplit"},
		"global-read": {Name: "global-read", Region: "eu", Kind: "readconnroute"},
	}
	for _, s := range info.Services {
		w := want[s.Name]
		w.Host, w.Port = "127.0.0.1", s.Port
		if s != w || s.Port == 0 {
			t.Errorf("sandbox.json service %+v: want %+v on a loopback port", s, w)
		}
		delete(want, s.Name)
	}
	if len(want) > 0 {
		t.Errorf("sandbox.json services %+v lack %v", info.Services, want)
	}
	eu := serviceDB(t, info, "eu-rw")
	for _, stmt := range []string{
		"CREATE DATABASE IF NOT EXISTS meridian_test",
		"CREATE TABLE meridian_test.routed (id INT PRIMARY KEY)",
		"INSERT INTO meridian_test.routed VALUES (1)",
	} {
		if _, err := eu.Exec(stmt); err != nil {
			t.Fatalf("%s through eu-rw: %v", stmt, err)
		}
	}
	// The replica has the row once it is replicated; the view knows its
	// lag once the monitor measured it.
	waitFor(t, "a read through eu-rw served by the replica eu-2", 20*time.Second, func() error {
		before := queries(set, "eu-rw", "eu-2")
		var n int
		if err := eu.QueryRow("SELECT COUNT(*) FROM meridian_test.routed").Scan(&n); err != nil || n != 1 {
			return fmt.Errorf("count = %d, %v", n, err)
		}
		if queries(set, "eu-rw", "eu-2") == before {
			return errors.New("not served by eu-2")
		}
		return nil
	})

	t.Run("API", func(t *testing.T) {
		resp, err := http.Get(info.API + "/api/v1/services")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var listed []services.Status
		if err := json.NewDecoder(resp.Body).Decode(&listed); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v1/services: %s, %v", resp.Status, err)
		}
		var names []string
		for _, st := range listed {
			names = append(names, st.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"eu-rw", "global-read", "us-rw"}) {
			t.Errorf("GET /api/v1/services lists %v", names)
		}
	})

	t.Run("GlobalRead", func(t *testing.T) {
		var n int
		if err := serviceDB(t, info, "global-read").QueryRow("SELECT COUNT(*) FROM meridian_test.routed").Scan(&n); err != nil || n != 1 {
			t.Errorf("read through global-read: %d rows, %v", n, err)
		}
	})

	t.Run("ReadsLeaveAKilledReplica", func(t *testing.T) {
		idle := serviceDB(t, info, "eu-rw")
		idle.SetMaxIdleConns(1)
		if err := idle.Ping(); err != nil {
			t.Fatal(err)
		}
		if err := sb.Kill("eu-2"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "eu-2 down in eu-rw's view", 10*time.Second, func() error {
			if !slices.Contains(status(set, "eu-rw").Unavailable, "eu-2") {
				return errors.New("still up")
			}
			return nil
		})
		waitFor(t, "reads served by the primary eu-1", 10*time.Second, func() error {
			before := queries(set, "eu-rw", "eu-1")
			var n int
			if err := idle.QueryRow("SELECT COUNT(*) FROM meridian_test.routed").Scan(&n); err != nil {
				return err
			}
			if queries(set, "eu-rw", "eu-1") == before {
				return errors.New("not served by eu-1")
			}
			return nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sb.Start(ctx, "eu-2"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("LeaseLostUnderPartition", func(t *testing.T) {
		// Reads must stay on the replica: the primary takes nothing
		// without a lease.
		waitFor(t, "eu-2 back in eu-rw's view", 20*time.Second, func() error {
			before := queries(set, "eu-rw", "eu-2")
			if _, err := eu.Exec("SELECT 1 FROM meridian_test.routed"); err != nil {
				return err
			}
			if queries(set, "eu-rw", "eu-2") == before {
				return errors.New("not served by eu-2")
			}
			return nil
		})
		heal := sandboxtest.Partition(t, sb, "eu", "us")
		cut := time.Now()
		id := 100
		// A write waits for the lease up to the router's write hold before
		// it is refused.
		refusedWithin := lease.DefaultDuration + router.DefaultWriteHold
		waitFor(t, "writes through eu-rw refused with 1290", 2*refusedWithin, func() error {
			id++
			_, err := eu.Exec("INSERT INTO meridian_test.routed VALUES (?)", id)
			if code := mysqlCode(err); code != 1290 {
				return fmt.Errorf("insert: %v", err)
			}
			return nil
		})
		if took := time.Since(cut); took > refusedWithin+time.Second {
			t.Errorf("writes refused %s after the partition, want within the lease and the write hold (%s)", took, refusedWithin)
		}
		var n int
		if err := eu.QueryRow("SELECT COUNT(*) FROM meridian_test.routed").Scan(&n); err != nil {
			t.Errorf("read through eu-rw without a lease: %v", err)
		}
		heal()
		waitFor(t, "writes through eu-rw after the heal", 15*time.Second, func() error {
			id++
			_, err := eu.Exec("INSERT INTO meridian_test.routed VALUES (?)", id)
			return err
		})
	})
}

// serviceDB connects to a router service of the sandbox as the application.
func serviceDB(t *testing.T, info *sandbox.Info, name string) *sql.DB {
	t.Helper()
	for _, s := range info.Services {
		if s.Name == name {
			db := openApp(t, info, s.Host, s.Port)
			db.SetMaxOpenConns(1)
			return db
		}
	}
	t.Fatalf("no service %s in sandbox.json", name)
	return nil
}

func status(set *services.Set, service string) services.Status {
	for _, s := range set.Statuses() {
		if s.Name == service {
			return s
		}
	}
	return services.Status{}
}

// queries is how many commands a service sent to a node so far.
func queries(set *services.Set, service, node string) uint64 {
	return status(set, service).Backends[node].Queries
}

func mysqlCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func waitFor(t *testing.T, what string, timeout time.Duration, try func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := try()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
