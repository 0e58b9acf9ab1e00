package census_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/backup"
	"github.com/meridian-geo/meridian/internal/bytescan"
	"github.com/meridian-geo/meridian/internal/census"
	"github.com/meridian-geo/meridian/internal/controller"
	"github.com/meridian-geo/meridian/internal/erasure"
	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/mariadbd"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/sandbox"
	"github.com/meridian-geo/meridian/internal/sandbox/sandboxtest"
	"github.com/meridian-geo/meridian/internal/topology"
	"github.com/meridian-geo/meridian/internal/wan"
)

// residencyYAML is the e-commerce case study cut down for the suite: a
// Galera region (eu), a primary/replica region (us, whose replica needs
// the region's personal data) and a single node (apac). The full estate
// runs in bench/residency. Replication is not compressed: the WAN links'
// byte scan must see what crosses in clear (compression would hide a
// canary from it; the relay's own test covers compressed links).
const residencyYAML = `
name: residency
architecture: active-active
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
  - {name: apac, gtid_domain_id: 3}
clusters:
  - {name: eu-galera, kind: galera, region: eu, nodes: [{name: eu-1}, {name: eu-2}]}
  - {name: us-main, kind: primary-replica, region: us, nodes: [{name: us-1}, {name: us-2}]}
  - {name: apac-main, kind: single, region: apac, nodes: [{name: apac-1}]}
links:
  - {between: [eu, us], rtt: 80ms}
  - {between: [us, apac], rtt: 180ms}
  - {between: [eu, apac], rtt: 250ms}
services:
  - {name: eu-rw, region: eu, kind: readwritesplit}
  - {name: us-rw, region: us, kind: readwritesplit}
  - {name: apac-rw, region: apac, kind: readwritesplit}
jurisdictions:
  - {country: FR, name: France, region: eu, law: GDPR, local_storage: true}
  - {country: US, name: United States, region: us, law: CCPA}
  - {country: SG, name: Singapore, region: apac, law: PDPA}
tables:
  - {match: shop.users, home: {column: country, lookup: country}, personal: true}
  - {match: shop.orders, home: {column: customer_id, lookup: user}, personal: true}
users: {table: shop.users, id: id, email: email, country: country}
`

// shopSchema is the application's: users and orders are personal,
// products global.
var shopSchema = []string{
	"CREATE DATABASE IF NOT EXISTS shop",
	"CREATE TABLE IF NOT EXISTS shop.users (id BIGINT PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE, country CHAR(2) NOT NULL, full_name VARCHAR(200))",
	"CREATE TABLE IF NOT EXISTS shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT NOT NULL, item VARCHAR(200), KEY (customer_id))",
	"CREATE TABLE IF NOT EXISTS shop.products (id BIGINT PRIMARY KEY, name VARCHAR(200))",
}

// canaryUser is a user whose personal columns carry unique values.
type canaryUser struct {
	id      int64
	country string
	region  string
	service string // the router it is created through
}

func (u canaryUser) email() string {
	return fmt.Sprintf("user%d@example.%s", u.id, strings.ToLower(u.country))
}
func (u canaryUser) name() string { return fmt.Sprintf("CANARY-%s-NAME-%d", u.country, u.id) }
func (u canaryUser) item() string { return fmt.Sprintf("CANARY-%s-ORDER-%d", u.country, u.id) }
func (u canaryUser) needles() []string {
	return []string{u.email(), u.name(), u.item()}
}

type fixture struct {
	t     *testing.T
	sb    *sandbox.Sandbox
	info  *sandbox.Info
	topo  *topology.Topology
	watch *wan.Watch
}

// TestResidency is the canary test on a small estate, and what
// follows from placement: users of FR, US and SG are created through their
// region's router with unique canary values in personal columns, and a
// global row beside them; the WAN links, which scan every byte, never see
// a canary, while the global row crosses; no file of another region's
// nodes holds one (TestResidencyAcrossSwitchover moves the primary). Then
// the audit finds a row planted by hand and the controller's metric shows
// it; a backup of EU restored into a new node equals the EU primary and
// holds no other region's personal rows; a US user erased with
// --purge-logs is in no file of any node; an EU user erased after the
// backup stays erased when the older backup is restored.
func TestResidency(t *testing.T) {
	if testing.Short() {
		t.Skip("a five-node estate with Galera")
	}
	ctx := context.Background()
	topo, _, err := topology.Parse("residency.yaml", []byte(residencyYAML))
	if err != nil {
		t.Fatal(err)
	}
	sb := sandboxtest.Up(t, "ecommerce.yaml", func(o *sandbox.Options) {
		o.Topology, o.Controller, o.Services = topo, true, true
		o.ConfigureController = func(c *controller.Config) { c.ResidencyAuditInterval = time.Second }
	})
	e := &fixture{t: t, sb: sb, topo: sb.Topology()}
	e.refreshInfo()
	e.watch = sb.Links().Watch("CANARY-", "GLOBAL-PRODUCT")
	defer e.watch.Stop()

	for _, stmt := range shopSchema {
		e.exec(ctx, e.admin("eu-1"), stmt)
	}
	e.waitTable(ctx, "shop.products")
	e.apply(ctx)

	fr := canaryUser{id: 101, country: "FR", region: "eu", service: "eu-rw"}
	us := canaryUser{id: 201, country: "US", region: "us", service: "us-rw"}
	sg := canaryUser{id: 301, country: "SG", region: "apac", service: "apac-rw"}
	users := []canaryUser{fr, us, sg}
	for _, u := range users {
		e.create(ctx, u)
	}
	e.exec(ctx, e.service("eu-rw"), "INSERT INTO shop.products VALUES (1, 'GLOBAL-PRODUCT-1')")

	// A personal row of the wrong region is refused where it would be stored.
	_, err = e.service("us-rw").ExecContext(ctx, "INSERT INTO shop.users VALUES (999, 'x@example.fr', 'FR', 'CANARY-FR-WRONG')")
	if err == nil || !strings.Contains(err.Error(), "keep their personal data in region eu; this node is in region us") {
		t.Errorf("an FR user written in us: err = %v, want the residency refusal", err)
	}

	e.waitDirectory(ctx, users...)
	e.checkPlacement(ctx, users)

	e.checkAudit(ctx, fr)
	old := e.checkBackupRestore(ctx, users)
	e.checkErasure(ctx, us, fr, old)
}

func (e *fixture) refreshInfo() {
	info, err := e.sb.Info()
	if err != nil {
		e.t.Fatal(err)
	}
	e.info = info
}

func (e *fixture) endpoints() provision.Endpoints {
	return sandbox.Endpoints(e.info, e.topo, e.sb.Credentials())
}

func (e *fixture) admin(name string) *sql.DB { return sandboxtest.Admin(e.t, e.sb, name).DB() }

// service connects to a router service as the application.
func (e *fixture) service(name string) *sql.DB {
	e.t.Helper()
	for _, s := range e.info.Services {
		if s.Name == name {
			cfg := mysql.NewConfig()
			cfg.User, cfg.Passwd = e.info.Credentials.User, e.info.Credentials.Password
			cfg.Net, cfg.Addr = "tcp", fmt.Sprintf("%s:%d", s.Host, s.Port)
			db, err := sql.Open("mysql", cfg.FormatDSN())
			if err != nil {
				e.t.Fatal(err)
			}
			e.t.Cleanup(func() { db.Close() })
			return db
		}
	}
	e.t.Fatalf("no service %s", name)
	return nil
}

func (e *fixture) exec(ctx context.Context, db *sql.DB, stmt string, args ...any) {
	e.t.Helper()
	var err error
	for attempt := 1; attempt <= 10; attempt++ {
		// Galera aborts a write racing a replicated DDL with a deadlock;
		// a router holds writes (error 1290 after its hold) during a switchover.
		if _, err = db.ExecContext(ctx, stmt, args...); err == nil {
			return
		}
		var me *mysql.MySQLError
		if !errors.As(err, &me) || (me.Number != 1213 && me.Number != 1290) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	e.t.Fatalf("%s: %v", stmt, err)
}

func (e *fixture) create(ctx context.Context, u canaryUser) {
	e.t.Helper()
	db := e.service(u.service)
	e.exec(ctx, db, "INSERT INTO shop.users VALUES (?, ?, ?, ?)", u.id, u.email(), u.country, u.name())
	e.exec(ctx, db, "INSERT INTO shop.orders (customer_id, item) VALUES (?, ?)", u.id, u.item())
}

// eventually retries check until it returns nil or a generous deadline.
func (e *fixture) eventually(what string, check func() error) {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *fixture) count(ctx context.Context, db *sql.DB, query string, args ...any) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

func (e *fixture) waitTable(ctx context.Context, table string) {
	for _, ref := range e.topo.Nodes() {
		db := e.admin(ref.Name)
		e.eventually(ref.Name+" has "+table, func() error {
			_, err := e.count(ctx, db, "SELECT COUNT(*) FROM "+table)
			return err
		})
	}
}

// apply runs plan/apply as `meridian apply` does: the directory triggers
// follow the users table.
func (e *fixture) apply(ctx context.Context) {
	e.t.Helper()
	ep, creds := e.endpoints(), e.sb.Credentials()
	primaries := e.sb.Controller().Primaries()
	obs, err := provision.Observe(ctx, e.topo, ep, creds)
	if err != nil {
		e.t.Fatal(err)
	}
	plan, err := provision.DiffLayout(e.topo, e.topo.LayoutFor(time.Now(), primaries), ep, creds, obs)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := provision.Apply(ctx, e.topo, ep, creds, plan); err != nil {
		e.t.Fatal(err)
	}
	if len(plan.Waiting) > 0 {
		e.t.Fatalf("apply still waits: %v", plan.Waiting)
	}
}

// waitDirectory waits until every node has the users' directory rows and
// the global product.
func (e *fixture) waitDirectory(ctx context.Context, users ...canaryUser) {
	e.t.Helper()
	for _, ref := range e.topo.Nodes() {
		db := e.admin(ref.Name)
		e.eventually(ref.Name+" has the directory rows", func() error {
			for _, u := range users {
				var region string
				err := db.QueryRowContext(ctx, "SELECT "+residency.RegionFunction+"(?)", u.email()).Scan(&region)
				if err != nil {
					return err
				}
				if region != u.region {
					return fmt.Errorf("get_user_data_region(%s) = %s, want %s", u.email(), region, u.region)
				}
			}
			n, err := e.count(ctx, db, "SELECT COUNT(*) FROM shop.products WHERE name = 'GLOBAL-PRODUCT-1'")
			if err == nil && n != 1 {
				err = errors.New("the global product has not arrived")
			}
			return err
		})
	}
}

// checkPlacement: every user's rows exist on each node of their region and
// on no other; no WAN link carried a canary, while the global row crossed
// through the relays; no file of another region holds a canary.
func (e *fixture) checkPlacement(ctx context.Context, users []canaryUser) {
	e.t.Helper()
	for _, ref := range e.topo.Nodes() {
		db := e.admin(ref.Name)
		for _, u := range users {
			want := int64(0)
			if ref.Region == u.region {
				want = 1
			}
			e.eventually(fmt.Sprintf("%s holds user %d's rows %d time(s)", ref.Name, u.id, want), func() error {
				for _, q := range []string{"SELECT COUNT(*) FROM shop.users WHERE id = ?", "SELECT COUNT(*) FROM shop.orders WHERE customer_id = ?"} {
					n, err := e.count(ctx, db, q, u.id)
					if err != nil {
						return err
					}
					if n != want {
						return fmt.Errorf("%s: %d", q, n)
					}
				}
				return nil
			})
		}
	}
	globalCrossed := false
	for hit := range e.watch.Hits() {
		if strings.HasPrefix(hit.Needle, "CANARY-") {
			e.t.Errorf("a canary crossed a WAN link: %+v", hit)
		}
		if hit.Needle == "GLOBAL-PRODUCT" && hit.Downstream {
			globalCrossed = true
		}
	}
	if !globalCrossed {
		e.t.Error("the global row crossed no link: is the WAN scan blind?")
	}
	for _, ref := range e.topo.Nodes() {
		n, _ := e.info.Node(ref.Name)
		for _, u := range users {
			hits, err := bytescan.Dir(n.Datadir, needles(u.needles()))
			if err != nil {
				e.t.Fatal(err)
			}
			switch {
			case ref.Region != u.region && len(hits) > 0:
				e.t.Errorf("%s (region %s) holds %s user %d's values in %v", ref.Name, ref.Region, u.country, u.id, hits)
			case ref.Region == u.region && len(hits) == 0 && ref.Name == e.topo.LinkNodeFor(u.region, e.sb.Controller().Primaries()):
				e.t.Errorf("%s holds none of user %d's values: is the file scan blind?", ref.Name, u.id)
			}
		}
	}
}

func needles(values []string) [][]byte {
	var out [][]byte
	for _, v := range values {
		out = append(out, []byte(v))
	}
	return out
}

// checkAudit plants an order of an EU user on the US replica outside the
// binlog: the audit finds it, and the controller's metric shows it.
func (e *fixture) checkAudit(ctx context.Context, eu canaryUser) {
	e.t.Helper()
	report := census.Audit(ctx, e.topo, e.endpoints(), time.Now)
	if !report.Clean() {
		e.t.Fatalf("audit before planting:\n%s", report)
	}
	planted := e.admin("us-2")
	conn, err := planted.Conn(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range []string{"SET SESSION sql_log_bin = 0", fmt.Sprintf("INSERT INTO shop.orders (customer_id, item) VALUES (%d, 'PLANTED')", eu.id)} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			e.t.Fatal(err)
		}
	}
	report = census.Audit(ctx, e.topo, e.endpoints(), time.Now)
	if len(report.Violations) != 1 || report.Violations[0] != (residency.Violation{Node: "us-2", Region: "us", Table: "shop.orders", Home: "eu", Rows: 1}) {
		e.t.Errorf("audit of the planted row:\n%s", report)
	}
	series := `meridian_residency_violations{region="us",table="shop.orders"} 1`
	e.eventually("the controller's metric shows the planted row", func() error {
		resp, err := http.Get(e.info.API + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !bytes.Contains(body, []byte(series)) {
			return errors.New(series + " not exposed yet")
		}
		return nil
	})
	if _, err := conn.ExecContext(ctx, "DELETE FROM shop.orders WHERE item = 'PLANTED'"); err != nil {
		e.t.Fatal(err)
	}
}

// checkBackupRestore backs EU up, restores the backup into a new node that
// catches up from the EU primary, and compares: the same data, and no
// other region's personal rows. It returns the backup, older than the
// erasures that follow.
func (e *fixture) checkBackupRestore(ctx context.Context, users []canaryUser) string {
	e.t.Helper()
	datadirs := map[string]string{}
	for _, n := range e.info.Nodes {
		datadirs[n.Name] = n.Datadir
	}
	primaries := e.sb.Controller().Primaries()
	path, m, err := backup.Take(ctx, backup.Options{Topology: e.topo, Endpoints: e.endpoints(), Primaries: primaries, Region: "eu", Datadirs: datadirs})
	if err != nil {
		e.t.Fatal(err)
	}
	if m.Node == e.topo.LinkNodeFor("eu", primaries) {
		e.t.Errorf("the backup was taken from the primary %s", m.Node)
	}
	base := filepath.Join(e.sb.Dir(), "restored")
	if _, err := backup.Restore(ctx, backup.RestoreOptions{Topology: e.topo, Backup: path, NodeDir: base + "-us", Region: "us", ServerID: 198}); err == nil {
		e.t.Error("an EU backup was restored into region us")
	}
	res, err := backup.Restore(ctx, backup.RestoreOptions{Topology: e.topo, Backup: path, NodeDir: base, Region: "eu", ServerID: 199, Replicating: true})
	if err != nil {
		e.t.Fatal(err)
	}
	restored := e.startRestored(ctx, base, 199)
	primary := e.topo.LinkNodeFor("eu", primaries)
	e.follow(ctx, restored, primary)
	source := sandboxtest.Admin(e.t, e.sb, primary)
	e.eventually("the restored node catches up", func() error {
		want, err := source.GTIDState(ctx)
		if err != nil {
			return err
		}
		got, err := restored.GTIDState(ctx)
		if err != nil {
			return err
		}
		if !gtid.Furthest(got.Binlog, got.Slave).Contains(want.Binlog) {
			return fmt.Errorf("restored at %s, primary at %s", got.Slave, want.Binlog)
		}
		return nil
	})
	for _, table := range []string{"shop.users", "shop.orders", "shop.products", residency.DirectoryTable, residency.JurisdictionTable} {
		e.eventually("restored "+table+" equals the primary's", func() error {
			a, b := checksum(ctx, source.DB(), table), checksum(ctx, restored.DB(), table)
			if a != b {
				return fmt.Errorf("checksum %s on the primary, %s restored", a, b)
			}
			return nil
		})
	}
	census := census.AuditNode(ctx, e.topo, node.Endpoint{Name: "restored", Socket: filepath.Join(base, "mariadbd.sock"), User: "root"}, "eu")
	if report := residency.Judge(time.Now(), []residency.NodeAudit{census}); !report.Clean() {
		e.t.Errorf("the restored EU node holds other regions' personal data:\n%s", report)
	}
	e.t.Logf("backup %s (GTID %s) restored: %d user(s) suppressed", path, m.GTID, len(res.Erased))
	return path
}

func checksum(ctx context.Context, db *sql.DB, table string) string {
	var name string
	var sum sql.NullInt64
	if err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+table+" EXTENDED").Scan(&name, &sum); err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprint(sum.Int64)
}

// startRestored starts the restored node as a standalone server of the
// region, stopped when the test ends.
func (e *fixture) startRestored(ctx context.Context, dir string, id uint32) *node.Client {
	e.t.Helper()
	bins, err := mariadbd.FindBinaries()
	if err != nil {
		e.t.Fatal(err)
	}
	ports, err := mariadbd.FreePorts(1)
	if err != nil {
		e.t.Fatal(err)
	}
	inst, err := mariadbd.Start(ctx, bins, mariadbd.Config{Name: "restored", Dir: dir, Port: ports[0], Settings: map[string]string{
		"server_id": fmt.Sprint(id), "gtid_domain_id": "99", "log_bin": "mysql-bin", "log_slave_updates": "ON",
		"binlog_format": "ROW", "gtid_strict_mode": "ON", "read_only": "ON", "skip_slave_start": "",
	}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := inst.Stop(30 * time.Second); err != nil {
			e.t.Errorf("stop the restored node: %v", err)
		}
	})
	c, err := node.Open(ctx, node.Endpoint{Name: "restored", Socket: inst.Socket(), User: "root"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// follow makes c a replica of source, inside the region: the new node
// needs the region's personal data.
func (e *fixture) follow(ctx context.Context, c *node.Client, source string) {
	e.t.Helper()
	n, _ := e.info.Node(source)
	creds := e.sb.Credentials()
	err := c.ChangeSource(ctx, node.SourceConfig{Connection: "eu", Host: n.Host, Port: n.Port,
		User: creds.Replication.User, Password: creds.Replication.Password, ConnectRetry: time.Second})
	if err == nil {
		err = c.StartReplica(ctx, "eu")
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// checkErasure erases the US user with --purge-logs: no row, no file of
// any node holds the user's values. Then erases the FR user and restores
// the EU backup taken before: the FR user stays erased.
func (e *fixture) checkErasure(ctx context.Context, us, fr canaryUser, older string) {
	e.t.Helper()
	datadirs := map[string]string{}
	for _, n := range e.info.Nodes {
		datadirs[n.Name] = n.Datadir
	}
	opts := erasure.Options{Topology: e.topo, Endpoints: e.endpoints(), Primaries: e.sb.Controller().Primaries(),
		Email: us.email(), PurgeLogs: true, Datadirs: datadirs}
	started := time.Now()
	report, err := erasure.Erase(ctx, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Logf("erasure with --purge-logs took %s:\n%s", time.Since(started).Round(time.Millisecond), report)
	if !report.Clean(true) || report.Deleted["shop.users"] != 1 || report.Deleted["shop.orders"] != 1 {
		e.t.Errorf("erasure not proven:\n%s", report)
	}
	held := 0
	for _, n := range report.Nodes {
		held += len(n.Files)
	}
	if held == 0 {
		e.t.Error("the report lists no file that held the user: is the search blind?")
	}
	for _, n := range e.info.Nodes {
		if hits, err := bytescan.Dir(n.Datadir, needles(us.needles())); err != nil || len(hits) > 0 {
			e.t.Errorf("after --purge-logs %s still holds the erased user's values: %v %v", n.Name, hits, err)
		}
	}
	if again, err := erasure.Erase(ctx, opts); err != nil || !again.AlreadyErased || !again.Clean(true) {
		e.t.Errorf("a second erasure: %v, already erased %v", err, again != nil && again.AlreadyErased)
	}

	opts.Email, opts.PurgeLogs = fr.email(), false
	if report, err = erasure.Erase(ctx, opts); err != nil || !report.Clean(false) {
		e.t.Fatalf("erase the FR user: %v\n%v", err, report)
	}
	if len(report.Backups) == 0 || report.Backups[0] != older {
		e.t.Errorf("the report lists backups %v, want the older one %s", report.Backups, older)
	}
	dir := filepath.Join(e.sb.Dir(), "restored-old")
	res, err := backup.Restore(ctx, backup.RestoreOptions{Topology: e.topo, Backup: older, NodeDir: dir, Region: "eu", ServerID: 197,
		Suppression: census.Erasures(ctx, e.topo, e.endpoints())})
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.startRestored(ctx, dir, 197)
	for _, q := range []string{"SELECT COUNT(*) FROM shop.users WHERE id = ?", "SELECT COUNT(*) FROM shop.orders WHERE customer_id = ?",
		"SELECT COUNT(*) FROM " + residency.DirectoryTable + " WHERE user_id = ?"} {
		if n, err := e.count(ctx, c.DB(), q, fr.id); err != nil || n != 0 {
			e.t.Errorf("the restored older backup brought the erased user back: %s = %d (%v); suppressed %v", q, n, err, res.Erased)
		}
	}
}
