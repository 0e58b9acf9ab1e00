package provision

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/topology"
)

// brief is one change as a test expects it: node, kind and a piece of its summary.
type brief struct{ node, kind, summary string }

func briefs(p Plan) []brief {
	var out []brief
	for _, c := range p.Changes {
		out = append(out, brief{c.Node, c.Kind, c.Summary})
	}
	return out
}

func checkPlan(t *testing.T, p Plan, want []brief) {
	t.Helper()
	got := briefs(p)
	if len(got) != len(want) {
		t.Fatalf("plan has %d changes, want %d:\n%s", len(got), len(want), p)
	}
	for i := range want {
		if got[i].node != want[i].node || got[i].kind != want[i].kind || !strings.Contains(got[i].summary, want[i].summary) {
			t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, c := range p.Changes {
		for _, secret := range []string{testCreds.Admin.Password, testCreds.Replication.Password, testCreds.App.Password} {
			if strings.Contains(c.Summary, secret) {
				t.Errorf("summary %q shows a password", c.Summary)
			}
		}
	}
}

func TestDiffConvergedIsEmpty(t *testing.T) {
	for name, yaml := range map[string]string{
		"active-passive": activePassiveYAML, "active-active": activeActiveYAML,
		"hub-and-spoke": hubAndSpokeYAML, "follow-the-sun": followTheSunYAML, "galera": galeraYAML,
	} {
		t.Run(name, func(t *testing.T) {
			topo := parseTopology(t, yaml)
			p, err := Diff(topo, noon, fakeEndpoints{topo}, testCreds, converged(topo, noon))
			if err != nil {
				t.Fatal(err)
			}
			if !p.Empty() {
				t.Fatalf("converged estate has a plan:\n%s", p)
			}
			if got := p.String(); got != "No changes. The estate matches the topology.\n" {
				t.Errorf("String() = %q", got)
			}
		})
	}
}

// A fresh estate gets accounts everywhere, then the layout's connections.
func TestDiffFreshEstate(t *testing.T) {
	tests := []struct {
		name, yaml string
		channels   []brief
	}{
		{"active-passive", activePassiveYAML, []brief{
			{"eu-2", KindCreateChannel, "create replication connection 'eu' on eu-2: from eu-1 at 127.0.0.1:10101 (gtid slave_pos)"},
			{"us-1", KindCreateChannel, "create replication connection 'eu' on us-1: from eu-1 at 127.0.0.1:20101 (gtid slave_pos)"},
		}},
		{"active-active", activeActiveYAML, []brief{
			{"eu-1", KindCreateChannel, "create replication connection 'us' on eu-1: from us-1 at 127.0.0.1:20201 (gtid slave_pos, do_domain_ids=2)"},
			{"us-1", KindCreateChannel, "create replication connection 'eu' on us-1: from eu-1 at 127.0.0.1:20101 (gtid slave_pos, do_domain_ids=1)"},
		}},
		{"hub-and-spoke", hubAndSpokeYAML, []brief{
			{"eu-1", KindCreateChannel, "'us' on eu-1: from us-1 at 127.0.0.1:20201"},
			{"apac-1", KindCreateChannel, "'us' on apac-1: from us-1 at 127.0.0.1:20201"},
		}},
		{"follow-the-sun at noon", followTheSunYAML, []brief{
			{"apac-1", KindCreateChannel, "'eu' on apac-1: from eu-1"},
			{"us-1", KindCreateChannel, "'eu' on us-1: from eu-1"},
		}},
		{"galera", galeraYAML, []brief{
			{"us-1", KindCreateChannel, "create replication connection 'eu' on us-1: from eu-1 at 127.0.0.1:20101 (gtid slave_pos, ssl)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo := parseTopology(t, tt.yaml)
			p, err := Diff(topo, noon, fakeEndpoints{topo}, testCreds, fresh(topo, noon))
			if err != nil {
				t.Fatal(err)
			}
			var want []brief
			for _, name := range nodeNames(topo) {
				want = append(want,
					brief{name, KindCreateUser, "create user 'repl'@'%' on " + name + " with REPLICATION SLAVE on *.*"},
					brief{name, KindCreateUser, "create user 'app'@'%' on " + name + " with SELECT, INSERT"})
			}
			checkPlan(t, p, append(want, tt.channels...))
		})
	}
}

func TestDiffDrift(t *testing.T) {
	topo := parseTopology(t, activePassiveYAML)
	base := converged(topo, noon)
	eu := func(conn string, fn func(*node.ReplicaStatus)) func(*NodeState) {
		return func(st *NodeState) {
			for i := range st.Replicas {
				if st.Replicas[i].Connection == conn {
					fn(&st.Replicas[i])
				}
			}
		}
	}
	tests := []struct {
		name    string
		obs     Observed
		want    []brief
		restart bool
	}{
		{"live setting", edit(base, "eu-1", func(st *NodeState) { st.Variables["gtid_strict_mode"] = Variable{Value: "OFF"} }),
			[]brief{{"eu-1", KindSetting, "set gtid_strict_mode = ON on eu-1 (now OFF)"}}, false},
		{"size setting", edit(base, "eu-2", func(st *NodeState) { st.Variables["max_binlog_size"] = Variable{Value: "104857600"} }),
			[]brief{{"eu-2", KindSetting, "set max_binlog_size = 1G on eu-2 (now 104857600)"}}, false},
		{"restart setting", edit(base, "us-1", func(st *NodeState) {
			st.Variables["log_slave_updates"] = Variable{Value: "OFF", NeedRestart: true}
		}), []brief{{"us-1", KindSetting, "log_slave_updates = ON on us-1 (now OFF): the server cannot change it live; install /etc/mysql/mariadb.conf.d/60-meridian.cnf"}}, true},
		{"account missing", edit(base, "us-1", func(st *NodeState) { delete(st.Accounts, "app") }),
			[]brief{{"us-1", KindCreateUser, "create user 'app'@'%' on us-1"}}, false},
		{"password differs", edit(base, "eu-1", func(st *NodeState) {
			a := st.Accounts["repl"]
			a.AuthString = nativePasswordHash("old")
			st.Accounts["repl"] = a
		}), []brief{{"eu-1", KindPassword, "set the password of 'repl'@'%' on eu-1: it differs from the replication credentials"}}, false},
		{"other auth plugin", edit(base, "eu-1", func(st *NodeState) {
			a := st.Accounts["repl"]
			a.Plugin = "ed25519"
			st.Accounts["repl"] = a
		}), []brief{{"eu-1", KindPassword, "set the password of 'repl'@'%'"}}, false},
		{"privilege missing", edit(base, "eu-1", func(st *NodeState) {
			st.Accounts["repl"] = AccountState{Plugin: "mysql_native_password", AuthString: nativePasswordHash("repl-secret"), Require: "NONE",
				Grants: []string{"GRANT USAGE ON *.* TO `repl`@`%` IDENTIFIED BY PASSWORD 'x'"}}
		}), []brief{{"eu-1", KindGrant, "grant REPLICATION SLAVE on *.* to 'repl'@'%' on eu-1"}}, false},
		{"privilege too many", edit(base, "eu-1", func(st *NodeState) {
			a := st.Accounts["app"]
			a.Grants = []string{grantLine("app", "app-secret", "SELECT", "SUPER", "READ_ONLY ADMIN"), "GRANT ALL PRIVILEGES ON `shop`.* TO `app`@`%`"}
			st.Accounts["app"] = a
		}), []brief{{"eu-1", KindGrant, "regrant 'app'@'%' on eu-1: revoke READ_ONLY ADMIN, SUPER, then grant SELECT, INSERT"}}, false},
		{"grant option", edit(base, "eu-1", func(st *NodeState) {
			a := st.Accounts["repl"]
			a.Grants = []string{grantLine("repl", "repl-secret", "REPLICATION SLAVE") + " WITH GRANT OPTION"}
			st.Accounts["repl"] = a
		}), []brief{{"eu-1", KindGrant, "revoke GRANT OPTION"}}, false},
		{"read_only fence and open", edit(edit(base, "eu-1", func(st *NodeState) { st.ReadOnly = true }), "us-1", func(st *NodeState) { st.ReadOnly = false }),
			[]brief{
				{"us-1", KindReadOnly, "set read_only = ON on us-1: not writable in the active-passive layout"},
				{"eu-1", KindReadOnly, "set read_only = OFF on eu-1: writable in the active-passive layout"},
			}, false},
		{"connection missing", edit(base, "us-1", func(st *NodeState) { st.Replicas = nil }),
			[]brief{{"us-1", KindCreateChannel, "create replication connection 'eu' on us-1: from eu-1 at 127.0.0.1:20101 (gtid slave_pos)"}}, false},
		{"connection elsewhere", edit(base, "us-1", eu("eu", func(r *node.ReplicaStatus) { r.SourcePort = 10101; r.DoDomainIDs = []uint32{3} })),
			[]brief{{"us-1", KindChangeChannel, "change replication connection 'eu' on us-1: source 127.0.0.1:10101 → 127.0.0.1:20101; do_domain_ids 3 → none"}}, false},
		{"connection without gtid", edit(base, "eu-2", eu("eu", func(r *node.ReplicaStatus) { r.UsingGTID = "No"; r.ConnectRetry = 60 })),
			[]brief{{"eu-2", KindChangeChannel, "gtid No → slave_pos; connect_retry 60s → 10s"}}, false},
		{"connection user and ssl", edit(base, "eu-2", eu("eu", func(r *node.ReplicaStatus) { r.SourceUser = "root"; r.SSL = true })),
			[]brief{{"eu-2", KindChangeChannel, "user root → repl; ssl Yes → No"}}, false},
		{"password refused", edit(base, "us-1", eu("eu", func(r *node.ReplicaStatus) {
			r.IORunning, r.LastIOErrno, r.LastIOError = "Connecting", 1045, "Access denied"
		})), []brief{{"us-1", KindChangeChannel, "the source refuses the replication login (error 1045)"}}, false},
		{"parallel mode", edit(base, "us-1", func(st *NodeState) { st.ParallelModes["eu"] = "conservative" }),
			[]brief{{"us-1", KindChangeChannel, "slave_parallel_mode conservative → optimistic"}}, false},
		{"connection stopped", edit(base, "us-1", eu("eu", func(r *node.ReplicaStatus) {
			r.IORunning, r.SQLRunning, r.LastSQLError = "No", false, "Duplicate entry"
		})), []brief{{"us-1", KindStartChannel, "start replication connection 'eu' on us-1 (io No, sql No; last error: Duplicate entry)"}}, false},
		{"sql thread stopped", edit(base, "eu-2", eu("eu", func(r *node.ReplicaStatus) { r.SQLRunning = false })),
			[]brief{{"eu-2", KindStartChannel, "start replication connection 'eu' on eu-2 (io Yes, sql No)"}}, false},
		{"connecting is running", edit(base, "us-1", eu("eu", func(r *node.ReplicaStatus) { r.IORunning = "Connecting" })), nil, false},
		{"connection name case", edit(base, "us-1", func(st *NodeState) {
			st.Replicas[0].Connection = "EU"
			st.ParallelModes = map[string]string{"EU": "optimistic"}
		}), nil, false},
		{"connection not in layout", edit(base, "eu-1", func(st *NodeState) {
			st.Replicas = append(st.Replicas, node.ReplicaStatus{Connection: "us", SourceHost: "127.0.0.1", SourcePort: 20201, IORunning: "Yes", SQLRunning: true})
		}), []brief{{"eu-1", KindRemoveChannel, "remove replication connection 'us' on eu-1 (from 127.0.0.1:20201): not in the active-passive layout"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Diff(topo, noon, fakeEndpoints{topo}, testCreds, tt.obs)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, p, tt.want)
			for _, c := range p.Changes {
				if c.NeedsRestart != tt.restart {
					t.Errorf("%s: NeedsRestart = %v, want %v", c.Summary, c.NeedsRestart, tt.restart)
				}
			}
		})
	}
}

func TestDiffOrder(t *testing.T) {
	topo := parseTopology(t, activePassiveYAML)
	obs := edit(fresh(topo, noon), "us-1", func(st *NodeState) {
		st.ReadOnly = false
		st.Variables["sync_binlog"] = Variable{Value: "0"}
		st.Replicas = []node.ReplicaStatus{{Connection: "old", SourceHost: "10.0.0.9", SourcePort: 3306, IORunning: "No"}}
	})
	p, err := Diff(topo, noon, fakeEndpoints{topo}, testCreds, obs)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range p.Changes {
		if len(kinds) == 0 || kinds[len(kinds)-1] != c.Kind {
			kinds = append(kinds, c.Kind)
		}
	}
	want := []string{KindSetting, KindCreateUser, KindReadOnly, KindRemoveChannel, KindCreateChannel}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds in order %v, want %v", kinds, want)
	}
	out := p.String()
	if !strings.HasPrefix(out, "eu-1:\n") {
		t.Errorf("nodes not in topology order:\n%s", out)
	}
	for _, line := range []string{
		"eu-1:\n  + create user 'repl'@'%' on eu-1",
		"\nus-1:\n  ~ set sync_binlog = 1 on us-1 (now 0)\n  + create user 'repl'@'%' on us-1",
		"  - remove replication connection 'old' on us-1 (from 10.0.0.9:3306)",
		"Plan: 8 to create, 2 to change, 1 to remove, 0 needing a restart.",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("String() lacks %q:\n%s", line, out)
		}
	}
}

// Moving follow-the-sun's primary fences the old primary before opening the
// new one, and rewires the connections.
func TestDiffFollowTheSunHandover(t *testing.T) {
	topo := parseTopology(t, followTheSunYAML)
	evening := time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC)
	p, err := Diff(topo, evening, fakeEndpoints{topo}, testCreds, converged(topo, noon))
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, []brief{
		{"eu-1", KindReadOnly, "set read_only = ON on eu-1"},
		{"us-1", KindReadOnly, "set read_only = OFF on us-1"},
		{"apac-1", KindRemoveChannel, "remove replication connection 'eu' on apac-1"},
		{"us-1", KindRemoveChannel, "remove replication connection 'eu' on us-1"},
		{"apac-1", KindCreateChannel, "create replication connection 'us' on apac-1: from us-1"},
		{"eu-1", KindCreateChannel, "create replication connection 'us' on eu-1: from us-1"},
	})
}

// A node whose binlog holds transactions of its own that the new source
// already has must add them to gtid_slave_pos first; one the source lacks
// is refused; a domain the source never saw is left alone.
func TestDiffAlignment(t *testing.T) {
	topo := parseTopology(t, followTheSunYAML)
	evening := time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC)
	pos := func(s string) gtid.Position {
		p, err := gtid.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	withGTID := func(obs Observed, name, binlog, slave string) Observed {
		return edit(obs, name, func(st *NodeState) { st.GTID = node.GTIDState{Binlog: pos(binlog), Slave: pos(slave)} })
	}
	base := converged(topo, noon)
	tests := []struct {
		name    string
		obs     Observed
		want    string // in eu-1's create summary
		wantErr string
	}{
		{"source has them", withGTID(withGTID(base, "eu-1", "1-101-50,3-301-7", "3-301-7"), "us-1", "1-101-50,3-301-7", "1-101-50,3-301-7"),
			"; first add 1-101-50 to gtid_slave_pos: this node's own transactions, which us-1 already has", ""},
		{"source lacks the domain", withGTID(withGTID(base, "eu-1", "1-101-50", ""), "us-1", "", ""), "(gtid slave_pos)", ""},
		{"source lacks some", withGTID(withGTID(base, "eu-1", "1-101-50", ""), "us-1", "1-101-48", "1-101-48"), "",
			"node eu-1 has transactions 1-49..50 that its new source us-1 lacks"},
		{"source unreachable", withGTID(edit(base, "us-1", func(st *NodeState) { st.Err = errors.New("connection refused") }), "eu-1", "1-101-50", ""), "",
			"cannot compare GTIDs with source us-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Diff(topo, evening, fakeEndpoints{topo}, testCreds, tt.obs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.Changes {
				if c.Node == "eu-1" && c.Kind == KindCreateChannel {
					if !strings.HasSuffix(c.Summary, tt.want) {
						t.Errorf("summary %q, want it to end with %q", c.Summary, tt.want)
					}
					return
				}
			}
			t.Fatalf("no connection created on eu-1:\n%s", p)
		})
	}
}

func TestDiffUnreachableNode(t *testing.T) {
	topo := parseTopology(t, activePassiveYAML)
	obs := edit(fresh(topo, noon), "us-1", func(st *NodeState) {
		st.Err = errors.New("node us-1 (127.0.0.1:10201): connect: connection refused")
	})
	p, err := Diff(topo, noon, fakeEndpoints{topo}, testCreds, obs)
	if err == nil || !strings.Contains(err.Error(), "node us-1 is unreachable, not planned: node us-1 (127.0.0.1:10201): connect: connection refused") {
		t.Fatalf("err = %v", err)
	}
	for _, c := range p.Changes {
		if c.Node == "us-1" {
			t.Errorf("unreachable node planned: %s", c.Summary)
		}
	}
	if len(p.Changes) != 5 { // two accounts on each of eu-1 and eu-2, eu-2's connection
		t.Errorf("plan for the reachable nodes:\n%s", p)
	}
	delete(obs.Nodes, "eu-2")
	if _, err := Diff(topo, noon, fakeEndpoints{topo}, testCreds, obs); err == nil || !strings.Contains(err.Error(), "node eu-2 was not observed") {
		t.Errorf("err = %v, want eu-2 not observed", err)
	}
}

func TestDiffUnknownVariable(t *testing.T) {
	topo := parseTopology(t, activePassiveYAML)
	obs := edit(converged(topo, noon), "eu-1", func(st *NodeState) { delete(st.Variables, "binlog_row_image") })
	_, err := Diff(topo, noon, fakeEndpoints{topo}, testCreds, obs)
	if err == nil || !strings.Contains(err.Error(), "node eu-1: server 10.11.19-MariaDB-0+deb12u1-log has no variable binlog_row_image") {
		t.Fatalf("err = %v", err)
	}
}

func TestDiffGaleraSettings(t *testing.T) {
	topo := parseTopology(t, galeraYAML)
	obs := edit(converged(topo, noon), "eu-2", func(st *NodeState) {
		st.Variables["wsrep_gtid_mode"] = Variable{Value: "OFF"}
		st.Variables["gtid_domain_id"] = Variable{Value: "1"}
		st.ReadOnly = true
	})
	p, err := Diff(topo, noon, fakeEndpoints{topo}, testCreds, obs)
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, p, []brief{
		{"eu-2", KindSetting, "set gtid_domain_id = 1002 on eu-2 (now 1)"},
		{"eu-2", KindSetting, "set wsrep_gtid_mode = ON on eu-2 (now OFF)"},
		{"eu-2", KindReadOnly, "set read_only = OFF on eu-2: writable"},
	})
}

// sandboxEndpoints overrides durability settings, as the sandbox does.
type sandboxEndpoints struct{ fakeEndpoints }

func (sandboxEndpoints) SettingOverrides(string) map[string]string {
	return map[string]string{"sync_binlog": "0"}
}

func TestDiffSettingOverrides(t *testing.T) {
	topo := parseTopology(t, activeActiveYAML)
	obs := converged(topo, noon)
	for _, name := range []string{"eu-1", "us-1"} {
		obs = edit(obs, name, func(st *NodeState) { st.Variables["sync_binlog"] = Variable{Value: "0"} })
	}
	ep := sandboxEndpoints{fakeEndpoints{topo}}
	p, err := Diff(topo, noon, ep, testCreds, obs)
	if err != nil || !p.Empty() {
		t.Fatalf("overridden setting planned: %v\n%s", err, p)
	}
	p, _ = Diff(topo, noon, ep, testCreds, converged(topo, noon))
	checkPlan(t, p, []brief{
		{"eu-1", KindSetting, "set sync_binlog = 0 on eu-1 (now 1)"},
		{"us-1", KindSetting, "set sync_binlog = 0 on us-1 (now 1)"},
	})
}

func TestDiffRefusesSharedAccounts(t *testing.T) {
	topo := parseTopology(t, activeActiveYAML)
	creds := testCreds
	creds.App.User = "meridian"
	if _, err := Diff(topo, noon, fakeEndpoints{topo}, creds, converged(topo, noon)); err == nil ||
		!strings.Contains(err.Error(), `the admin and app accounts are both user "meridian"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestNativePasswordHash(t *testing.T) {
	// SELECT PASSWORD('p') on MariaDB 10.11.
	if got := nativePasswordHash("p"); got != "*7B9EBEED26AA52ED10C0F549FA863F13C39E0209" {
		t.Errorf("hash = %s", got)
	}
}

func TestGlobalPrivileges(t *testing.T) {
	tests := []struct {
		grants []string
		want   []string
	}{
		{[]string{"GRANT USAGE ON *.* TO `nop`@`%`"}, nil},
		{[]string{"GRANT REPLICATION REPLICA ON *.* TO `r`@`%` IDENTIFIED BY PASSWORD '*AB'"}, []string{"REPLICATION SLAVE"}},
		{[]string{"GRANT SELECT, EVENT, TRIGGER ON *.* TO `a`@`%` WITH GRANT OPTION", "GRANT ALL PRIVILEGES ON `db`.* TO `a`@`%`", "GRANT `role1` TO `a`@`%`"},
			[]string{"EVENT", "GRANT OPTION", "SELECT", "TRIGGER"}},
	}
	for _, tt := range tests {
		if got := globalPrivileges(tt.grants); !slices.Equal(got, tt.want) {
			t.Errorf("globalPrivileges(%q) = %q, want %q", tt.grants, got, tt.want)
		}
	}
}

func TestValueKinds(t *testing.T) {
	tests := []struct {
		kind      valueKind
		want, got string
		same      bool
	}{
		{numberValue, "7", "7.000000", true},
		{numberValue, "7", "0.000000", false},
		{boolValue, "ON", "1", true},
		{boolValue, "ON", "OFF", false},
		{sizeValue, "1G", "1073741824", true},
		{sizeValue, "1G", "1073741823", false},
		{wordValue, "ROW", "row", true},
		{wordValue, "optimistic", "conservative", false},
		{pathValue, "/etc/ssl/ca.pem", "/etc/ssl/ca.pem", true},
		{pathValue, "/etc/ssl/ca.pem", "/etc/ssl/CA.pem", false},
		{pathValue, "/etc/ssl/ca.pem", "", false},
	}
	for _, tt := range tests {
		if got := tt.kind.same(tt.want, tt.got); got != tt.same {
			t.Errorf("kind %d same(%q, %q) = %v", tt.kind, tt.want, tt.got, got)
		}
	}
	if got := sizeValue.sqlValue("1G"); got != "1073741824" {
		t.Errorf("sqlValue(1G) = %s", got)
	}
}

// With replication.tls, the replication account requires SSL and the
// servers present the topology's certificate; without it, the account
// requires nothing. The application account's REQUIRE clause is not
// Meridian's.
func TestDiffReplicationTLS(t *testing.T) {
	withTLS := parseTopology(t, galeraYAML)
	plain := parseTopology(t, activePassiveYAML)
	account := func(user, require string) func(*NodeState) {
		return func(st *NodeState) {
			a := st.Accounts[user]
			a.Require = require
			st.Accounts[user] = a
		}
	}
	replica := func(fn func(*node.ReplicaStatus)) func(*NodeState) {
		return func(st *NodeState) { fn(&st.Replicas[0]) }
	}
	tests := []struct {
		name    string
		topo    *topology.Topology
		obs     Observed
		want    []brief
		failing string
	}{
		{"plaintext account", withTLS, edit(converged(withTLS, noon), "eu-1", account("repl", "NONE")),
			[]brief{{"eu-1", KindAccountTLS, "make 'repl'@'%' on eu-1 REQUIRE SSL (now NONE): replication.tls is set"}}, ""},
		{"stricter account", withTLS, edit(converged(withTLS, noon), "us-1", account("repl", "X509")),
			[]brief{{"us-1", KindAccountTLS, "make 'repl'@'%' on us-1 REQUIRE SSL (now X509)"}}, ""},
		{"tls dropped", plain, edit(converged(plain, noon), "eu-1", account("repl", "SSL")),
			[]brief{{"eu-1", KindAccountTLS, "make 'repl'@'%' on eu-1 REQUIRE NONE (now SSL): replication.tls is not set"}}, ""},
		{"application account", withTLS, edit(converged(withTLS, noon), "eu-1", account("app", "SSL")), nil, ""},
		{"server certificate", withTLS, edit(converged(withTLS, noon), "eu-3", func(st *NodeState) {
			st.Variables["ssl_cert"] = Variable{Value: "", NeedRestart: true}
		}), []brief{{"eu-3", KindSetting, "ssl_cert = /etc/mysql/ssl/client.pem on eu-3 (now unset): the server cannot change it live"}}, ""},
		{"unverified source", withTLS, edit(converged(withTLS, noon), "us-1", replica(func(r *node.ReplicaStatus) { r.SSLVerifyServerCert = false })),
			[]brief{{"us-1", KindChangeChannel, "ssl_verify_server_cert No → Yes"}}, ""},
		{"other files", withTLS, edit(converged(withTLS, noon), "us-1", replica(func(r *node.ReplicaStatus) { r.SSLKey = "/tmp/k.pem" })),
			[]brief{{"us-1", KindChangeChannel, `ssl files ["/etc/mysql/ssl/ca.pem" "/etc/mysql/ssl/client.pem" "/tmp/k.pem"] → ["/etc/mysql/ssl/ca.pem" "/etc/mysql/ssl/client.pem" "/etc/mysql/ssl/client.key"]`}}, ""},
		{"no tls on the connection", withTLS, edit(converged(withTLS, noon), "us-1", replica(func(r *node.ReplicaStatus) {
			r.SSL, r.SSLCA, r.SSLCert, r.SSLKey, r.SSLVerifyServerCert = false, "", "", "", false
		})), []brief{{"us-1", KindChangeChannel, "ssl No → Yes; ssl files"}}, ""},
		{"certificate refused", withTLS, edit(converged(withTLS, noon), "us-1", replica(func(r *node.ReplicaStatus) {
			r.IORunning, r.LastIOErrno, r.LastIOError = "Connecting", 2026, "error connecting to master: SSL connection error: SSL certificate validation failure"
		})), nil, "us-1: replication connection 'eu' from eu-1 at 127.0.0.1:20101 cannot connect: error 2026: error connecting to master: SSL connection error: SSL certificate validation failure " +
			"(check that eu-1 serves TLS with a certificate signed by the authority in replication.tls.ca and issued for 127.0.0.1, the host the replica connects to)"},
		{"source down", withTLS, edit(converged(withTLS, noon), "us-1", replica(func(r *node.ReplicaStatus) {
			r.IORunning, r.LastIOErrno, r.LastIOError = "Connecting", 2003, "Can't connect"
		})), nil, "us-1: replication connection 'eu' from eu-1 at 127.0.0.1:20101 cannot connect: error 2003: Can't connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Diff(tt.topo, noon, fakeEndpoints{tt.topo}, testCreds, tt.obs)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, p, tt.want)
			switch {
			case tt.failing == "" && len(p.Failing) > 0:
				t.Errorf("failing connections %q, want none", p.Failing)
			case tt.failing != "" && (len(p.Failing) != 1 || p.Failing[0] != tt.failing):
				t.Errorf("failing connections %q, want %q", p.Failing, tt.failing)
			case tt.failing != "" && !strings.Contains(p.String(), "\nFailing, with nothing to change (the server keeps retrying):\n  "+tt.failing+"\n"):
				t.Errorf("String() does not show the failing connection:\n%s", p)
			}
		})
	}
}

func TestAccountStatements(t *testing.T) {
	withTLS := parseTopology(t, galeraYAML)
	p, err := Diff(withTLS, noon, fakeEndpoints{withTLS}, testCreds,
		edit(fresh(withTLS, noon), "eu-1", func(st *NodeState) {
			st.Accounts["app"] = AccountState{Plugin: "mysql_native_password", AuthString: nativePasswordHash("old"),
				Require: "NONE", Grants: []string{grantLine("app", "old", "SELECT")}}
		}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Changes {
		if c.Node == "eu-1" && c.account != nil {
			got = append(got, accountStatements(c, testCreds)...)
		}
	}
	want := []string{
		"CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'repl-secret' REQUIRE SSL",
		"GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'",
		"ALTER USER 'app'@'%' IDENTIFIED BY 'app-secret'",
		"GRANT INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER, EVENT ON *.* TO 'app'@'%'",
	}
	if !slices.Equal(got, want) {
		t.Errorf("statements:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	drop := Change{Kind: KindAccountTLS, account: &accountChange{role: "replication", require: "NONE"}}
	if got := accountStatements(drop, testCreds); !slices.Equal(got, []string{"ALTER USER 'repl'@'%' REQUIRE NONE"}) {
		t.Errorf("statements of %s: %q", KindAccountTLS, got)
	}
}
