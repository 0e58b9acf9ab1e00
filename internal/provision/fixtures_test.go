package provision

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Inline topologies, one per architecture plus Galera.
const (
	activePassiveYAML = `
name: ap
architecture: active-passive
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - name: eu-main
    kind: primary-replica
    region: eu
    nodes: [{name: eu-1}, {name: eu-2}]
  - name: us-dr
    kind: single
    region: us
    nodes: [{name: us-1}]
links:
  - {between: [eu, us], rtt: 80ms}
roles: {primary: eu, dr: us}
`
	activeActiveYAML = `
name: aa
architecture: active-active
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - {name: eu-main, kind: single, region: eu, nodes: [{name: eu-1}]}
  - {name: us-main, kind: single, region: us, nodes: [{name: us-1}]}
links:
  - {between: [eu, us], rtt: 80ms}
`
	hubAndSpokeYAML = `
name: hub
architecture: hub-and-spoke
regions:
  - {name: us, gtid_domain_id: 2}
  - {name: eu, gtid_domain_id: 1}
  - {name: apac, gtid_domain_id: 3}
clusters:
  - {name: us-hub, kind: single, region: us, nodes: [{name: us-1}]}
  - {name: eu-spoke, kind: single, region: eu, nodes: [{name: eu-1}]}
  - {name: apac-spoke, kind: single, region: apac, nodes: [{name: apac-1}]}
roles: {hub: us}
`
	followTheSunYAML = `
name: fts
architecture: follow-the-sun
regions:
  - {name: apac, gtid_domain_id: 3}
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - {name: apac-main, kind: single, region: apac, nodes: [{name: apac-1}]}
  - {name: eu-main, kind: single, region: eu, nodes: [{name: eu-1}]}
  - {name: us-main, kind: single, region: us, nodes: [{name: us-1}]}
schedule:
  - {region: apac, from: "00:00", to: "08:00"}
  - {region: eu, from: "08:00", to: "16:00"}
  - {region: us, from: "16:00", to: "24:00"}
`
	galeraYAML = `
name: gal
architecture: active-passive
regions:
  - {name: eu, gtid_domain_id: 1}
  - {name: us, gtid_domain_id: 2}
clusters:
  - name: eu-galera
    kind: galera
    region: eu
    nodes: [{name: eu-1}, {name: eu-2}, {name: eu-3}]
  - {name: us-dr, kind: single, region: us, nodes: [{name: us-1}]}
roles: {primary: eu, dr: us}
replication:
  compressed: true
  tls: {ca: /etc/mysql/ssl/ca.pem, cert: /etc/mysql/ssl/client.pem, key: /etc/mysql/ssl/client.key, verify_server_cert: true}
`
)

// noon is inside follow-the-sun's eu window.
var noon = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

var testCreds = Credentials{
	Admin:       Account{User: "meridian", Password: "admin-secret"},
	Replication: Account{User: "repl", Password: "repl-secret"},
	App:         Account{User: "app", Password: "app-secret"},
}

func parseTopology(t *testing.T, yaml string) *topology.Topology {
	t.Helper()
	topo, _, err := topology.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("parse topology: %v", err)
	}
	return topo
}

// fakeEndpoints gives every node the port 10000 + server_id, and a replica
// in another region reaches it through a "proxy" at 20000 + server_id.
type fakeEndpoints struct{ topo *topology.Topology }

func (f fakeEndpoints) Admin(name string) node.Endpoint {
	return node.Endpoint{Name: name, Addr: fmt.Sprintf("127.0.0.1:%d", 10000+f.topo.ServerID(name))}
}

func (f fakeEndpoints) SourceAddr(replica, source string) (string, int, error) {
	if f.topo.NodeRegion(replica) == f.topo.NodeRegion(source) {
		return "127.0.0.1", 10000 + int(f.topo.ServerID(source)), nil
	}
	return "127.0.0.1", 20000 + int(f.topo.ServerID(source)), nil
}

// restartOnly are the settings MariaDB 10.11 cannot change live.
var restartOnly = map[string]bool{"log_bin": true, "log_slave_updates": true}

// serverSpelling is how the server reports some wanted values.
var serverSpelling = map[string]string{"max_binlog_size": "1073741824", "expire_logs_days": "7.000000"}

// grantLine is SHOW GRANTS' line for an account holding privileges.
func grantLine(user, password string, privileges ...string) string {
	return fmt.Sprintf("GRANT %s ON *.* TO `%s`@`%%` IDENTIFIED BY PASSWORD '%s'",
		strings.Join(privileges, ", "), user, nativePasswordHash(password))
}

// converged is what Observe would see on an estate that matches topo at now.
func converged(topo *topology.Topology, now time.Time) Observed {
	ep := fakeEndpoints{topo}
	layout := topo.Layout(now)
	obs := Observed{Nodes: map[string]NodeState{}}
	for _, name := range nodeNames(topo) {
		st := NodeState{
			Addr:          ep.Admin(name).Addr,
			Version:       "10.11.19-MariaDB-0+deb12u1-log",
			Variables:     map[string]Variable{},
			ReadOnly:      !layout.Writable[name],
			Accounts:      map[string]AccountState{},
			ParallelModes: map[string]string{},
		}
		for _, s := range nodeSettings(topo, name) {
			if s.unobserved != "" {
				continue
			}
			v := s.liveValue()
			if spelt, ok := serverSpelling[s.name]; ok {
				v = spelt
			}
			st.Variables[s.name] = Variable{Value: v, NeedRestart: restartOnly[s.name]}
		}
		for _, m := range managedAccounts {
			a := m.account(testCreds)
			require := m.require(topo)
			if require == "" {
				require = "NONE"
			}
			st.Accounts[a.User] = AccountState{
				Plugin:     "mysql_native_password",
				AuthString: nativePasswordHash(a.Password),
				Require:    require,
				Grants:     []string{grantLine(a.User, a.Password, m.privileges...)},
			}
		}
		for _, ch := range layout.Channels {
			if ch.Replica != name {
				continue
			}
			host, port, _ := ep.SourceAddr(ch.Replica, ch.Source)
			r := node.ReplicaStatus{
				Connection: ch.Connection, SourceHost: host, SourcePort: port, SourceUser: testCreds.Replication.User,
				IORunning: "Yes", SQLRunning: true, UsingGTID: "Slave_Pos", DoDomainIDs: ch.DoDomainIDs,
				ConnectRetry: int(topo.Replication.ConnectRetry.Seconds()),
			}
			if tls := topo.Replication.TLS; tls != nil {
				r.SSL, r.SSLCA, r.SSLCert, r.SSLKey, r.SSLVerifyServerCert = true, tls.CA, tls.Cert, tls.Key, tls.VerifyServerCert
			}
			st.Replicas = append(st.Replicas, r)
			st.ParallelModes[ch.Connection] = topo.Replication.ParallelMode
		}
		if residency.Needed(topo) {
			st.Directory = convergedDirectory(topo, name)
		}
		obs.Nodes[name] = st
	}
	return obs
}

// fresh is what Observe sees on servers just installed with ServerSettings:
// settings right, no accounts, no replication, read_only as configured at
// start.
func fresh(topo *topology.Topology, now time.Time) Observed {
	obs := converged(topo, now)
	for name, st := range obs.Nodes {
		st.Accounts = map[string]AccountState{}
		st.Replicas = nil
		st.ParallelModes = map[string]string{}
		obs.Nodes[name] = st
	}
	return obs
}

// edit returns obs with node's state changed by fn (the fixtures are shared).
func edit(obs Observed, name string, fn func(*NodeState)) Observed {
	nodes := make(map[string]NodeState, len(obs.Nodes))
	for k, v := range obs.Nodes {
		nodes[k] = v
	}
	st := nodes[name]
	st.Variables = cloneMap(st.Variables)
	st.Accounts = cloneMap(st.Accounts)
	st.ParallelModes = cloneMap(st.ParallelModes)
	st.Replicas = append([]node.ReplicaStatus(nil), st.Replicas...)
	fn(&st)
	nodes[name] = st
	return Observed{Nodes: nodes}
}

func cloneMap[V any](m map[string]V) map[string]V {
	c := make(map[string]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// convergedDirectory is a node holding every residency object as declared.
func convergedDirectory(topo *topology.Topology, name string) *DirectoryState {
	d := &DirectoryState{Tables: map[string][]string{}, Jurisdictions: map[string]residency.JurisdictionRow{},
		Function: residency.Function.Body, UsersTable: topo.Users != nil, Triggers: map[string]string{}}
	for _, table := range residency.Tables {
		d.Tables[table.Name] = table.Columns
	}
	for _, r := range residency.JurisdictionRows(topo) {
		d.Jurisdictions[r.Country] = r
	}
	for _, tr := range residency.UserTriggers(topo, topo.NodeRegion(name), topo.ServerID(name)) {
		d.Triggers[tr.Name] = tr.Body
	}
	return d
}
