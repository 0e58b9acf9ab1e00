package provision

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/mariadbd"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/tlsgen"
)

// activePassivePlainYAML replicates eu to us.
const activePassivePlainYAML = `
name: ap-tls
architecture: active-passive
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - {name: eu-main, kind: single, region: eu, nodes: [{name: eu-1, address: "127.0.0.1:%d"}]}
  - {name: us-dr, kind: single, region: us, nodes: [{name: us-1, address: "127.0.0.1:%d"}]}
roles: {primary: eu, dr: us}
`

// activePassiveTLSYAML replicates over TLS; the CA_FILE, CERT_FILE and
// KEY_FILE placeholders receive the paths of generated certificates.
const activePassiveTLSYAML = activePassivePlainYAML + `replication:
  tls: {ca: "CA_FILE", cert: "CERT_FILE", key: "KEY_FILE", verify_server_cert: true}
`

// generateCerts writes a throwaway CA and one certificate issued for hosts,
// which serves as both servers' certificate and the replica's client
// certificate.
func generateCerts(t *testing.T, hosts ...string) tlsgen.Files {
	t.Helper()
	dir := t.TempDir()
	if err := mariadbd.GrantTraversal(dir); err != nil {
		t.Fatal(err)
	}
	// mariadbd started by root runs as mysql and must read the key.
	files, err := tlsgen.Generate(dir, "mysql", hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// tlsYAML is activePassiveTLSYAML using files.
func tlsYAML(files tlsgen.Files) string {
	return strings.NewReplacer("CA_FILE", files.CA, "CERT_FILE", files.Cert, "KEY_FILE", files.Key).Replace(activePassiveTLSYAML)
}

// startTLSEstate starts activePassiveTLSYAML's two servers with a
// certificate issued for hosts.
func startTLSEstate(t *testing.T, hosts ...string) (*estate, tlsgen.Files) {
	t.Helper()
	files := generateCerts(t, hosts...)
	return startEstate(t, tlsYAML(files), 2, nil), files
}

// replicaStatus is one connection's SHOW SLAVE STATUS row as the server
// prints it.
func replicaStatus(t *testing.T, c *node.Client, conn string) map[string]string {
	t.Helper()
	rows, err := c.DB().Query("SHOW SLAVE " + node.QuoteString(conn) + " STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("%s has no connection '%s' (err %v)", c.Name(), conn, rows.Err())
	}
	values := make([]sql.NullString, len(columns))
	dest := make([]any, len(values))
	for i := range values {
		dest[i] = &values[i]
	}
	if err := rows.Scan(dest...); err != nil {
		t.Fatal(err)
	}
	status := make(map[string]string, len(columns))
	for i, col := range columns {
		status[col] = values[i].String
	}
	return status
}

// replicationLogin logs in to addr as the replication account, over TLS
// (without verifying the server, which is not what this checks) or not.
func replicationLogin(addr string, useTLS bool) error {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = testCreds.Replication.User, testCreds.Replication.Password
	cfg.Net, cfg.Addr, cfg.Timeout = "tcp", addr, 5*time.Second
	if useTLS {
		cfg.TLSConfig = "skip-verify"
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Ping()
}

// Replication over TLS as the seed sets it up: the source requires SSL of
// the replication account and the replica verifies the source's certificate.
func TestApplyReplicationTLS(t *testing.T) {
	e, files := startTLSEstate(t, tlsgen.Loopback...)
	for _, name := range []string{"eu-1", "us-1"} {
		var haveSSL string
		if err := e.admin(t, name).DB().QueryRow("SELECT @@have_ssl").Scan(&haveSSL); err != nil || haveSSL != "YES" {
			t.Fatalf("%s: have_ssl = %q (err %v): the server did not take the certificate", name, haveSSL, err)
		}
	}
	first := e.converge(t, noon)
	want := map[string]int{"eu-1 create-user": 2, "us-1 create-user": 2, "us-1 create-channel": 1}
	if got := kinds(first); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first plan kinds %v, want %v", got, want)
	}
	if !strings.Contains(first.String(), "create user 'repl'@'%' on eu-1 with REPLICATION SLAVE on *.*, requiring SSL") ||
		!strings.Contains(first.String(), "(gtid slave_pos, ssl)") {
		t.Errorf("first plan does not say it sets up TLS:\n%s", first)
	}

	// The source refuses the replication account without TLS.
	var grants string
	if err := e.admin(t, "eu-1").DB().QueryRow("SHOW GRANTS FOR 'repl'@'%'").Scan(&grants); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(grants, " REQUIRE SSL") {
		t.Errorf("eu-1: SHOW GRANTS FOR 'repl'@'%%' = %q, want REQUIRE SSL", grants)
	}
	addr := e.ep.Admin("eu-1").Addr
	var myErr *mysql.MySQLError
	if err := replicationLogin(addr, false); !errors.As(err, &myErr) || myErr.Number != errAccessDenied {
		t.Errorf("plaintext login as repl: err %v, want access denied (%d)", err, errAccessDenied)
	}
	if err := replicationLogin(addr, true); err != nil {
		t.Errorf("TLS login as repl: %v", err)
	}

	// Data flows, so the replica is connected: it can only be over TLS.
	exec(t, e.app(t, "eu-1"), "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY)", "INSERT INTO shop.orders VALUES (1), (2)")
	e.waitReplicated(t, "eu-1", "us-1")
	if n := countRows(t, e.admin(t, "us-1"), "shop.orders"); n != 2 {
		t.Fatalf("us-1 has %d orders, want 2", n)
	}
	status := replicaStatus(t, e.admin(t, "us-1"), "eu")
	for col, want := range map[string]string{
		"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Master_SSL_Allowed": "Yes",
		"Master_SSL_Verify_Server_Cert": "Yes", "Master_SSL_CA_File": files.CA, "Master_SSL_Cert": files.Cert,
		"Master_SSL_Key": files.Key, "Last_IO_Errno": "0",
	} {
		if status[col] != want {
			t.Errorf("us-1 connection 'eu': %s = %q, want %q", col, status[col], want)
		}
	}

	// Without replication.tls, the account takes plaintext logins again and
	// the connection drops TLS (the servers keep their certificates).
	e.topo = parseTopology(t, fmt.Sprintf(activePassivePlainYAML, e.ports["eu-1"], e.ports["us-1"]))
	plain := e.converge(t, noon)
	want = map[string]int{"eu-1 account-tls": 1, "us-1 account-tls": 1, "us-1 change-channel": 1}
	if got := kinds(plain); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan without tls: kinds %v, want %v:\n%s", got, want, plain)
	}
	if err := replicationLogin(addr, false); err != nil {
		t.Errorf("plaintext login as repl without replication.tls: %v", err)
	}
	exec(t, e.app(t, "eu-1"), "INSERT INTO shop.orders VALUES (3)")
	e.waitReplicated(t, "eu-1", "us-1")
	if got := replicaStatus(t, e.admin(t, "us-1"), "eu")["Master_SSL_Allowed"]; got != "No" {
		t.Errorf("us-1 connection 'eu' without replication.tls: Master_SSL_Allowed = %q, want No", got)
	}
}

// A source whose certificate is not issued for the address the replica
// connects to is refused when verify_server_cert is on; the plan says so.
func TestApplyReplicationTLSWrongHost(t *testing.T) {
	e, _ := startTLSEstate(t, "localhost") // the replica connects to 127.0.0.1
	e.converge(t, noon)
	us1 := e.admin(t, "us-1")
	deadline := time.Now().Add(30 * time.Second)
	for {
		statuses, err := us1.Replicas(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(statuses) != 1 {
			t.Fatalf("us-1 connections: %+v", statuses)
		}
		s := statuses[0]
		if s.IORunning == "Yes" {
			t.Fatal("us-1 connected to a source whose certificate is not issued for 127.0.0.1")
		}
		if s.LastIOErrno == errSSLConnection {
			if !strings.Contains(s.LastIOError, "SSL certificate validation failure") {
				t.Errorf("us-1 last IO error %q, want a certificate validation failure", s.LastIOError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("us-1 connection: io %s, error %d %q; want error %d", s.IORunning, s.LastIOErrno, s.LastIOError, errSSLConnection)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := e.plan(t, noon)
	if !p.Empty() || len(p.Failing) != 1 {
		t.Fatalf("want no change and one failing connection:\n%s", p)
	}
	for _, part := range []string{"us-1: replication connection 'eu' from eu-1 at 127.0.0.1:", "cannot connect: error 2026:",
		"SSL certificate validation failure", "and issued for 127.0.0.1, the host the replica connects to"} {
		if !strings.Contains(p.String(), part) {
			t.Errorf("plan lacks %q:\n%s", part, p)
		}
	}
}

// Turning TLS on for a running estate: the servers need a restart to take
// their certificate; until then the replica refuses to fall back to
// plaintext and the plan shows why.
func TestApplyReplicationTLSOnRunningEstate(t *testing.T) {
	files := generateCerts(t, tlsgen.Loopback...)
	e := startEstate(t, activePassivePlainYAML, 2, nil)
	e.converge(t, noon)
	exec(t, e.app(t, "eu-1"), "CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY)", "INSERT INTO shop.orders VALUES (1)")
	e.waitReplicated(t, "eu-1", "us-1")

	e.topo = parseTopology(t, fmt.Sprintf(tlsYAML(files), e.ports["eu-1"], e.ports["us-1"]))
	p := e.plan(t, noon)
	t.Logf("plan:\n%s", p)
	want := map[string]int{"eu-1 setting": 3, "us-1 setting": 3, "eu-1 account-tls": 1, "us-1 account-tls": 1, "us-1 change-channel": 1}
	if got := kinds(p); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan kinds %v, want %v", got, want)
	}
	for _, c := range p.Changes {
		if c.Kind == KindSetting && !c.NeedsRestart {
			t.Errorf("%s: a running server cannot change its TLS files", c.Summary)
		}
	}
	if !strings.Contains(p.String(), "ssl_cert = "+files.Cert+" on eu-1 (now unset): the server cannot change it live") {
		t.Errorf("plan does not ask for eu-1's certificate:\n%s", p)
	}
	res := e.apply(t, p)
	if len(res.Nodes) != 2 || len(res.Nodes[0].Restart) != 3 || !strings.Contains(res.Nodes[0].Fragment, "ssl_key = "+files.Key) {
		t.Errorf("apply does not report the restarts with the fragment:\n%s", res)
	}

	// The source has no certificate yet: the replica does not connect.
	waitFailing(t, e, "the server does not support it")

	// Restarted with ServerSettings, the servers serve TLS and the replica
	// reconnects over it (the source first, so the replica connects at once).
	e.restart(t, "eu-1", nil)
	e.restart(t, "us-1", nil)
	if left := e.plan(t, noon); !left.Empty() || len(left.Failing) > 0 {
		t.Fatalf("after the restarts:\n%s", left)
	}
	exec(t, e.app(t, "eu-1"), "INSERT INTO shop.orders VALUES (2)")
	e.waitReplicated(t, "eu-1", "us-1")
	if got := replicaStatus(t, e.admin(t, "us-1"), "eu")["Master_SSL_Allowed"]; got != "Yes" {
		t.Errorf("us-1 connection 'eu': Master_SSL_Allowed = %q, want Yes", got)
	}
}

// waitFailing waits until the plan lists us-1's connection as failing with
// an error containing reason.
func waitFailing(t *testing.T, e *estate, reason string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := e.plan(t, noon)
		if len(p.Failing) == 1 && strings.Contains(p.Failing[0], reason) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("us-1's connection is not failing with %q:\n%s", reason, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
