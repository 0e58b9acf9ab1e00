package provision

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Kinds of Change. A Plan lists settings first, then accounts, read_only and
// replication connections, so that every connection starts on a server that
// is already configured and whose source already has the replication account.
const (
	KindSetting       = "setting"        // SET GLOBAL, or a restart when NeedsRestart
	KindCreateUser    = "create-user"    // CREATE USER and its grants
	KindPassword      = "password"       // the account's password differs from the credentials
	KindGrant         = "grant"          // the account lacks privileges or holds others
	KindAccountTLS    = "account-tls"    // the account's REQUIRE clause does not follow replication.tls
	KindReadOnly      = "read-only"      // flip read_only
	KindRemoveChannel = "remove-channel" // a connection the layout does not have
	KindChangeChannel = "change-channel" // a connection configured differently from the layout
	KindCreateChannel = "create-channel"
	KindStartChannel  = "start-channel" // configured as wanted but not running
	// KindDirectory creates the residency objects (the users directory, the
	// jurisdictions, get_user_data_region) on one node, outside the binlog;
	// KindDirectoryTrigger the triggers on the users table, once every node
	// has the directory tables their rows replicate into.
	KindDirectory        = "directory"
	KindDirectoryTrigger = "directory-trigger"
)

// Change is one step of a Plan, on one node.
type Change struct {
	Node string
	Kind string
	// Summary says what changes and why, for people; it never holds a password.
	Summary string
	// NeedsRestart marks a setting the running server cannot change: Apply
	// reports it with the option file fragment instead of applying it.
	NeedsRestart bool

	// What Apply needs, by kind.
	setting  *settingChange
	account  *accountChange
	readOnly bool
	channel  *channelChange
	// directory are the statements of a directory change, run outside the
	// binlog and the Galera cluster: every node gets its own.
	directory []string
}

type settingChange struct {
	name, value string // value as SET GLOBAL takes it
}

type accountChange struct {
	role       string   // which credentials: "replication" or "app"
	privileges []string // to grant on *.*
	revokeAll  bool     // revoke every privilege first: the account holds some it must not
	require    string   // the REQUIRE clause to give the account; "" leaves it
}

type channelChange struct {
	source       node.SourceConfig // Password is left empty: Apply adds it
	parallelMode string            // slave_parallel_mode of the connection; "" leaves it
	// align holds, for each domain where the replica has transactions of its
	// own that its source also has, the replica's last one: gtid_slave_pos
	// must include them before the first start, or the source would send them
	// back and the replica would stop on duplicates.
	align gtid.Position
}

// Plan is the ordered list of changes that makes the estate match the
// topology.
type Plan struct {
	Changes []Change
	// Failing lists replication connections configured as the topology
	// wants that cannot reach or log in to their source (the network, the
	// source, or its certificate): no change fixes them, so the plan can be
	// empty while they are broken. The server retries them on its own.
	Failing []string
	// Waiting lists what the plan cannot do yet (the users table of the
	// directory triggers does not exist).
	Waiting []string
	nodes   []string // the topology's node order, for String
}

// Empty reports whether the estate already matches.
func (p Plan) Empty() bool { return len(p.Changes) == 0 }

// String prints the changes grouped by node, terraform style: + create,
// ~ change, - remove, ! needs a restart.
func (p Plan) String() string {
	if p.Empty() {
		return "No changes. The estate matches the topology.\n" + p.failingString()
	}
	byNode := map[string][]Change{}
	nodes := slices.Clone(p.nodes)
	for _, c := range p.Changes {
		if !slices.Contains(nodes, c.Node) {
			nodes = append(nodes, c.Node)
		}
		byNode[c.Node] = append(byNode[c.Node], c)
	}
	var b strings.Builder
	counts := map[string]int{}
	for _, n := range nodes {
		if len(byNode[n]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", n)
		for _, c := range byNode[n] {
			sym := c.symbol()
			counts[sym]++
			fmt.Fprintf(&b, "  %s %s\n", sym, c.Summary)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Plan: %d to create, %d to change, %d to remove, %d needing a restart.\n",
		counts["+"], counts["~"], counts["-"], counts["!"])
	return b.String() + p.failingString()
}

func (p Plan) failingString() string {
	var b strings.Builder
	if len(p.Failing) > 0 {
		b.WriteString("\nFailing, with nothing to change (the server keeps retrying):\n")
		for _, f := range p.Failing {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	if len(p.Waiting) > 0 {
		b.WriteString("\nWaiting:\n")
		for _, w := range p.Waiting {
			fmt.Fprintf(&b, "  %s\n", w)
		}
	}
	return b.String()
}

func (c Change) symbol() string {
	switch {
	case c.NeedsRestart:
		return "!"
	case c.Kind == KindCreateUser || c.Kind == KindCreateChannel || c.Kind == KindDirectory || c.Kind == KindDirectoryTrigger:
		return "+"
	case c.Kind == KindRemoveChannel:
		return "-"
	}
	return "~"
}

// rank orders the kinds in a plan. read_only is turned on everywhere before
// it is turned off anywhere, so a plan that moves the primary never has two
// writable nodes; connections are removed before others are created.
func (c Change) rank() int {
	switch c.Kind {
	case KindSetting:
		return 0
	case KindCreateUser, KindPassword, KindGrant, KindAccountTLS, KindDirectory:
		return 1
	case KindReadOnly:
		if c.readOnly {
			return 2
		}
		return 3
	case KindRemoveChannel:
		return 4
	case KindChangeChannel:
		return 5
	case KindCreateChannel:
		return 6
	case KindDirectoryTrigger:
		return 8
	}
	return 7
}

// SettingOverrides is implemented by Endpoints whose servers deliberately
// run some settings differently from ServerSettings (the sandbox trades
// fsync durability for speed); Diff then expects the overriding values.
type SettingOverrides interface {
	SettingOverrides(node string) map[string]string
}

// Diff decides what makes the observed estate match t's layout at now. It
// only reads its arguments. A node that could not be observed is not
// planned: the error names it (and every other problem) while the plan holds
// the changes of the nodes that were.
func Diff(t *topology.Topology, now time.Time, ep Endpoints, creds Credentials, obs Observed) (Plan, error) {
	return DiffLayout(t, t.Layout(now), ep, creds, obs)
}

// DiffLayout is Diff towards a given layout: the one of the primaries a
// controller chose at run time (topology.LayoutFor), which the file does
// not know after a failover.
func DiffLayout(t *topology.Topology, layout topology.Layout, ep Endpoints, creds Credentials, obs Observed) (Plan, error) {
	if err := checkAccounts(creds); err != nil {
		return Plan{}, err
	}
	overrides, _ := ep.(SettingOverrides)
	names := nodeNames(t)
	var changes []Change
	var failing, waiting []string
	var problems []error
	for _, name := range names {
		st, ok := obs.Nodes[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Errorf("node %s was not observed: not planned", name))
			continue
		case st.Err != nil:
			problems = append(problems, fmt.Errorf("node %s is unreachable, not planned: %w", name, st.Err))
			continue
		}
		var override map[string]string
		if overrides != nil {
			override = overrides.SettingOverrides(name)
		}
		settings, err := diffSettings(t, name, st, override)
		if err != nil {
			problems = append(problems, err)
		}
		changes = append(changes, settings...)
		changes = append(changes, diffAccounts(t, name, st, creds)...)
		changes = append(changes, diffReadOnly(t, name, st, layout)...)
		channels, broken, err := diffChannels(t, name, st, layout, ep, creds, obs)
		if err != nil {
			problems = append(problems, err)
		}
		changes = append(changes, channels...)
		failing = append(failing, broken...)
		directory, wait, err := diffDirectory(t, name, st)
		if err != nil {
			problems = append(problems, err)
		}
		changes = append(changes, directory...)
		waiting = append(waiting, wait...)
	}
	slices.SortStableFunc(changes, func(a, b Change) int { return a.rank() - b.rank() })
	return Plan{Changes: changes, Failing: failing, Waiting: waiting, nodes: names}, errors.Join(problems...)
}

func diffSettings(t *topology.Topology, name string, st NodeState, override map[string]string) ([]Change, error) {
	var changes []Change
	var problems []error
	for _, s := range nodeSettings(t, name) {
		if s.unobserved != "" {
			continue
		}
		want := s.liveValue()
		if v, ok := override[s.name]; ok {
			want = v
		}
		have, ok := st.Variables[s.name]
		if !ok {
			problems = append(problems, fmt.Errorf("node %s: server %s has no variable %s", name, st.Version, s.name))
			continue
		}
		if s.kind.same(want, have.Value) {
			continue
		}
		now := have.Value
		if now == "" {
			now = "unset"
		}
		c := Change{Node: name, Kind: KindSetting, NeedsRestart: have.NeedRestart}
		if have.NeedRestart {
			c.Summary = fmt.Sprintf("%s = %s on %s (now %s): the server cannot change it live; install %s and restart",
				s.name, s.value, name, now, FragmentPath)
		} else {
			c.Summary = fmt.Sprintf("set %s = %s on %s (now %s)", s.name, want, name, now)
			c.setting = &settingChange{name: s.name, value: s.kind.sqlValue(want)}
		}
		changes = append(changes, c)
	}
	return changes, errors.Join(problems...)
}

func diffAccounts(t *topology.Topology, name string, st NodeState, creds Credentials) []Change {
	var changes []Change
	for _, m := range managedAccounts {
		acct := m.account(creds)
		who := accountName(acct.User)
		require := m.require(t)
		have, exists := st.Accounts[acct.User]
		if !exists {
			summary := fmt.Sprintf("create user %s on %s with %s on *.*", who, name, strings.Join(m.privileges, ", "))
			if require == "SSL" {
				summary += ", requiring SSL"
			}
			changes = append(changes, Change{Node: name, Kind: KindCreateUser, Summary: summary,
				account: &accountChange{role: m.role, privileges: m.privileges, require: require}})
			continue
		}
		if have.Plugin != "mysql_native_password" || have.AuthString != nativePasswordHash(acct.Password) {
			changes = append(changes, Change{Node: name, Kind: KindPassword,
				Summary: fmt.Sprintf("set the password of %s on %s: it differs from the %s credentials", who, name, m.role),
				account: &accountChange{role: m.role}})
		}
		missing, extra := privilegeDiff(m.privileges, globalPrivileges(have.Grants))
		switch {
		case len(extra) > 0:
			changes = append(changes, Change{Node: name, Kind: KindGrant,
				Summary: fmt.Sprintf("regrant %s on %s: revoke %s, then grant %s on *.*",
					who, name, strings.Join(extra, ", "), strings.Join(m.privileges, ", ")),
				account: &accountChange{role: m.role, privileges: m.privileges, revokeAll: true}})
		case len(missing) > 0:
			changes = append(changes, Change{Node: name, Kind: KindGrant,
				Summary: fmt.Sprintf("grant %s on *.* to %s on %s", strings.Join(missing, ", "), who, name),
				account: &accountChange{role: m.role, privileges: missing}})
		}
		if require != "" && have.Require != require {
			why := "replication.tls is set: a replica must never log in unencrypted"
			if require == "NONE" {
				why = "replication.tls is not set: replicas log in without TLS"
			}
			changes = append(changes, Change{Node: name, Kind: KindAccountTLS,
				Summary: fmt.Sprintf("make %s on %s REQUIRE %s (now %s): %s", who, name, require, have.Require, why),
				account: &accountChange{role: m.role, require: require}})
		}
	}
	return changes
}

func diffReadOnly(t *topology.Topology, name string, st NodeState, layout topology.Layout) []Change {
	want := !layout.Writable[name]
	if st.ReadOnly == want {
		return nil
	}
	why := "writable in the " + string(t.Architecture) + " layout"
	if want {
		why = "not writable in the " + string(t.Architecture) + " layout"
	}
	return []Change{{Node: name, Kind: KindReadOnly, readOnly: want,
		Summary: fmt.Sprintf("set read_only = %s on %s: %s", onOff(want), name, why)}}
}

// diffChannels plans the node's replication connections. It also returns,
// as failing, the wanted connections that need no change but cannot connect.
func diffChannels(t *topology.Topology, name string, st NodeState, layout topology.Layout,
	ep Endpoints, creds Credentials, obs Observed) ([]Change, []string, error) {
	var changes []Change
	var failing []string
	var problems []error
	wanted := map[string]bool{}
	for _, ch := range layout.Channels {
		if ch.Replica != name {
			continue
		}
		wanted[strings.ToLower(ch.Connection)] = true
		src, err := sourceConfig(t, ch, ep, creds)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		have, exists := findReplica(st.Replicas, ch.Connection)
		var diffs []string
		if exists {
			diffs = channelDiffs(src, have, t.Replication.ParallelMode, st.ParallelModes[have.Connection])
			if len(diffs) == 0 {
				switch {
				case have.IORunning == "No" || !have.SQLRunning:
					changes = append(changes, startChange(name, have))
				case have.IORunning != "Yes" && have.LastIOErrno != 0:
					failing = append(failing, connectionFailure(name, ch.Source, src, have))
				}
				continue
			}
		}
		align, err := alignment(name, st, ch, obs)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		c := Change{Node: name, channel: &channelChange{source: src, parallelMode: t.Replication.ParallelMode, align: align}}
		if exists {
			c.Kind = KindChangeChannel
			c.Summary = fmt.Sprintf("change replication connection '%s' on %s: %s", ch.Connection, name, strings.Join(diffs, "; "))
		} else {
			c.Kind = KindCreateChannel
			c.Summary = fmt.Sprintf("create replication connection '%s' on %s: from %s at %s (%s)",
				ch.Connection, name, ch.Source, hostPort(src.Host, src.Port), channelOptions(src))
		}
		if len(align) > 0 {
			c.Summary += fmt.Sprintf("; first add %s to gtid_slave_pos: this node's own transactions, which %s already has", align, ch.Source)
		}
		changes = append(changes, c)
	}
	for _, r := range st.Replicas {
		if !wanted[strings.ToLower(r.Connection)] {
			changes = append(changes, Change{Node: name, Kind: KindRemoveChannel,
				channel: &channelChange{source: node.SourceConfig{Connection: r.Connection}},
				Summary: fmt.Sprintf("remove replication connection '%s' on %s (from %s): not in the %s layout",
					r.Connection, name, hostPort(r.SourceHost, r.SourcePort), t.Architecture)})
		}
	}
	return changes, failing, errors.Join(problems...)
}

// errSSLConnection is CR_SSL_CONNECTION_ERROR: the replica could not set up
// TLS with its source.
const errSSLConnection = 2026

// connectionFailure describes a wanted connection that cannot connect.
func connectionFailure(name, source string, want node.SourceConfig, have node.ReplicaStatus) string {
	msg := fmt.Sprintf("%s: replication connection '%s' from %s at %s cannot connect: error %d: %s",
		name, have.Connection, source, hostPort(have.SourceHost, have.SourcePort), have.LastIOErrno, have.LastIOError)
	if have.LastIOErrno == errSSLConnection {
		msg += fmt.Sprintf(" (check that %s serves TLS with a certificate signed by the authority in replication.tls.ca", source)
		if want.SSLVerifyServerCert {
			msg += fmt.Sprintf(" and issued for %s, the host the replica connects to", want.Host)
		}
		msg += ")"
	}
	return msg
}

func startChange(name string, r node.ReplicaStatus) Change {
	state := fmt.Sprintf("io %s, sql %s", r.IORunning, yesNo(r.SQLRunning))
	if e := strings.TrimSpace(r.LastIOError + " " + r.LastSQLError); e != "" {
		state += "; last error: " + e
	}
	return Change{Node: name, Kind: KindStartChannel,
		channel: &channelChange{source: node.SourceConfig{Connection: r.Connection}},
		Summary: fmt.Sprintf("start replication connection '%s' on %s (%s)", r.Connection, name, state)}
}

// sourceConfig is the connection the layout's channel asks for.
func sourceConfig(t *topology.Topology, ch topology.Channel, ep Endpoints, creds Credentials) (node.SourceConfig, error) {
	host, port, err := ep.SourceAddr(ch.Replica, ch.Source)
	if err != nil {
		return node.SourceConfig{}, fmt.Errorf("node %s: connection '%s': address of source %s: %w", ch.Replica, ch.Connection, ch.Source, err)
	}
	rep := t.Replication
	src := node.SourceConfig{
		Connection:      ch.Connection,
		Host:            host,
		Port:            port,
		User:            creds.Replication.User,
		ConnectRetry:    rep.ConnectRetry.Duration,
		HeartbeatPeriod: rep.HeartbeatPeriod.Duration,
		DoDomainIDs:     ch.DoDomainIDs,
	}
	if tls := rep.TLS; tls != nil {
		src.SSL, src.SSLCA, src.SSLCert, src.SSLKey, src.SSLVerifyServerCert = true, tls.CA, tls.Cert, tls.Key, tls.VerifyServerCert
	}
	return src, nil
}

func findReplica(replicas []node.ReplicaStatus, conn string) (node.ReplicaStatus, bool) {
	for _, r := range replicas {
		// MariaDB compares connection names case-insensitively.
		if strings.EqualFold(r.Connection, conn) {
			return r, true
		}
	}
	return node.ReplicaStatus{}, false
}

// mariadbConnectRetry is what MariaDB uses, and ChangeSource sends, for a
// connect retry of 0.
const mariadbConnectRetry = 60

// errAccessDenied is ER_ACCESS_DENIED_ERROR, what a source answers a replica
// whose password is not the account's.
const errAccessDenied = 1045

// channelDiffs describes how a connection differs from the wanted one. The
// password and heartbeat period cannot be read back from the server; a
// source refusing the login is taken as a password difference.
func channelDiffs(want node.SourceConfig, have node.ReplicaStatus, wantMode, haveMode string) []string {
	var diffs []string
	differs := func(what string, from, to any) {
		diffs = append(diffs, fmt.Sprintf("%s %v → %v", what, from, to))
	}
	if want.Host != have.SourceHost || want.Port != have.SourcePort {
		differs("source", hostPort(have.SourceHost, have.SourcePort), hostPort(want.Host, want.Port))
	}
	if want.User != have.SourceUser {
		differs("user", have.SourceUser, want.User)
	}
	if !strings.EqualFold(have.UsingGTID, "Slave_Pos") {
		differs("gtid", have.UsingGTID, "slave_pos")
	}
	if w, h := domainList(want.DoDomainIDs), domainList(have.DoDomainIDs); w != h {
		differs("do_domain_ids", h, w)
	}
	if w, h := domainList(want.IgnoreDomainIDs), domainList(have.IgnoreDomainIDs); w != h {
		differs("ignore_domain_ids", h, w)
	}
	retry := int((want.ConnectRetry + time.Second - 1) / time.Second)
	if retry == 0 {
		retry = mariadbConnectRetry
	}
	if retry != have.ConnectRetry {
		differs("connect_retry", fmt.Sprintf("%ds", have.ConnectRetry), fmt.Sprintf("%ds", retry))
	}
	if want.SSL != have.SSL {
		differs("ssl", yesNo(have.SSL), yesNo(want.SSL))
	}
	if want.SSL && (want.SSLCA != have.SSLCA || want.SSLCert != have.SSLCert || want.SSLKey != have.SSLKey) {
		differs("ssl files", fmt.Sprintf("%q", []string{have.SSLCA, have.SSLCert, have.SSLKey}),
			fmt.Sprintf("%q", []string{want.SSLCA, want.SSLCert, want.SSLKey}))
	}
	if want.SSLVerifyServerCert != have.SSLVerifyServerCert {
		differs("ssl_verify_server_cert", yesNo(have.SSLVerifyServerCert), yesNo(want.SSLVerifyServerCert))
	}
	if wantMode != "" && !strings.EqualFold(wantMode, haveMode) {
		differs("slave_parallel_mode", haveMode, wantMode)
	}
	if have.LastIOErrno == errAccessDenied {
		diffs = append(diffs, fmt.Sprintf("the source refuses the replication login (error %d): send the password again", errAccessDenied))
	}
	return diffs
}

// alignment is Alignment for a planned channel, with the source as observed.
func alignment(name string, st NodeState, ch topology.Channel, obs Observed) (gtid.Position, error) {
	var source gtid.Position
	if src, ok := obs.Nodes[ch.Source]; ok && src.Err == nil {
		source = src.GTID.Binlog
	}
	return Alignment(name, st.GTID, ch, source)
}

// Alignment decides what gtid_slave_pos must gain before a connection
// (re)starts from the channel's source; source is the source's
// gtid_binlog_pos, nil when it is unknown. A node's binlog can hold
// transactions its gtid_slave_pos lacks: those it wrote itself (an old
// primary) or got from Galera. Started as it is, the connection would fetch
// them again from a source that has them and stop on the duplicates: this
// is MariaDB's procedure for turning a primary into a replica with
// MASTER_USE_GTID=slave_pos (set gtid_slave_pos from its gtid_binlog_pos
// first), done per domain. A source lacking the domain sends nothing of it,
// so that domain is left alone (naming a GTID the source does not have
// would stop the connection with error 1236); a source that has the domain
// but not all of the node's transactions means the histories diverged,
// which is refused.
func Alignment(name string, have node.GTIDState, ch topology.Channel, source gtid.Position) (gtid.Position, error) {
	align := gtid.Position{}
	for _, d := range have.Binlog.Domains() {
		own := have.Binlog[d]
		if own.Seq <= have.Slave.Seq(d) || (len(ch.DoDomainIDs) > 0 && !slices.Contains(ch.DoDomainIDs, d)) {
			continue
		}
		if source == nil {
			return nil, fmt.Errorf("node %s: connection '%s': cannot compare GTIDs with source %s, whose position is unknown (not observed): not planned",
				name, ch.Connection, ch.Source)
		}
		srcLast, has := source[d]
		if !has {
			continue
		}
		if srcLast.Seq < own.Seq {
			missing := gtid.Range{Domain: d, From: srcLast.Seq + 1, To: own.Seq}
			return nil, fmt.Errorf("node %s has transactions %s that its new source %s lacks: connection '%s' would stop on them; reconcile them first",
				name, missing, ch.Source, ch.Connection)
		}
		align[d] = own
	}
	return align, nil
}

// channelOptions is the short description of a new connection.
func channelOptions(s node.SourceConfig) string {
	opts := []string{"gtid slave_pos"}
	if len(s.DoDomainIDs) > 0 {
		opts = append(opts, "do_domain_ids="+domainList(s.DoDomainIDs))
	}
	if s.SSL {
		opts = append(opts, "ssl")
	}
	return strings.Join(opts, ", ")
}

// domainList prints ids sorted, comma-separated, "none" when empty.
func domainList(ids []uint32) string {
	if len(ids) == 0 {
		return "none"
	}
	sorted := slices.Compact(slices.Sorted(slices.Values(ids)))
	parts := make([]string, len(sorted))
	for i, id := range sorted {
		parts[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(parts, ",")
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}
