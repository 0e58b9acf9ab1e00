package provision

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/residency"
	"github.com/meridian-geo/meridian/internal/topology"
)

// observeTimeout bounds everything Observe does on one node, so one node that
// accepts connections but never answers cannot hold up the others.
const observeTimeout = 15 * time.Second

// accountHost is the host part of the accounts Meridian manages. Replicas
// reach their sources through addresses that change (WAN proxies, failover,
// NAT), so the accounts are not tied to client hosts: they are protected by
// their passwords, TLS when configured, and by where the servers listen.
const accountHost = "%"

// Observed is the state of every node of a topology at one moment.
type Observed struct {
	Nodes map[string]NodeState
}

// NodeState is one node as Observe found it. When Err is set the node could
// not be observed and nothing else in it is meaningful.
type NodeState struct {
	Addr    string // where Meridian reached it (or tried to)
	Err     error
	Version string
	// Variables holds the node's settings, keyed by lower-case name; a
	// setting the server does not know is absent.
	Variables map[string]Variable
	ReadOnly  bool
	// Accounts holds the replication and application accounts (host '%'),
	// keyed by user name; an account that does not exist is absent.
	Accounts map[string]AccountState
	Replicas []node.ReplicaStatus
	// ParallelModes is slave_parallel_mode per replication connection.
	ParallelModes map[string]string
	GTID          node.GTIDState
	// Directory holds the residency objects, when the topology asks for
	// them (see residency.Needed).
	Directory *DirectoryState
}

// Variable is a system variable's global value and whether the running
// server can change it (information_schema.SYSTEM_VARIABLES.READ_ONLY).
type Variable struct {
	Value       string
	NeedRestart bool
}

// AccountState is an existing account: its authentication, its REQUIRE
// clause ("NONE", "SSL", "X509", ...) and the lines of SHOW GRANTS.
type AccountState struct {
	Plugin     string
	AuthString string
	Require    string
	Grants     []string
}

// Observe reads every node of t in parallel. A node that cannot be reached
// or read is recorded with its error (naming the node and its address)
// rather than failing the whole observation; the error return is only for a
// cancelled ctx.
func Observe(ctx context.Context, t *topology.Topology, ep Endpoints, creds Credentials) (Observed, error) {
	names := nodeNames(t)
	states := make([]NodeState, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			nodeCtx, cancel := context.WithTimeout(ctx, observeTimeout)
			defer cancel()
			states[i] = observeNode(nodeCtx, t, ep.Admin(name), creds)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Observed{}, fmt.Errorf("observe %s: %w", t.Name, err)
	}
	obs := Observed{Nodes: make(map[string]NodeState, len(names))}
	for i, name := range names {
		obs.Nodes[name] = states[i]
	}
	return obs, nil
}

func observeNode(ctx context.Context, t *topology.Topology, e node.Endpoint, creds Credentials) NodeState {
	st := NodeState{Addr: e.Addr}
	if e.Socket != "" {
		st.Addr = "unix:" + e.Socket
	}
	c, err := node.Open(ctx, e)
	if err != nil {
		st.Err = err
		return st
	}
	defer c.Close()
	if err := readNode(ctx, t, c, creds, &st); err != nil {
		st.Err = fmt.Errorf("%w (at %s)", err, st.Addr)
	}
	return st
}

func readNode(ctx context.Context, t *topology.Topology, c *node.Client, creds Credentials, st *NodeState) error {
	var err error
	if err = c.DB().QueryRowContext(ctx, "SELECT VERSION()").Scan(&st.Version); err != nil {
		return fmt.Errorf("node %s: read version: %w", c.Name(), err)
	}
	if st.Variables, err = readVariables(ctx, c, observedNames(t, c.Name())); err != nil {
		return err
	}
	if st.ReadOnly, err = c.ReadOnly(ctx); err != nil {
		return err
	}
	st.Accounts = make(map[string]AccountState)
	for _, m := range managedAccounts {
		user := m.account(creds).User
		acct, exists, err := readAccount(ctx, c, user)
		if err != nil {
			return err
		}
		if exists {
			st.Accounts[user] = acct
		}
	}
	if st.Replicas, err = c.Replicas(ctx); err != nil {
		return err
	}
	st.ParallelModes = make(map[string]string, len(st.Replicas))
	for _, r := range st.Replicas {
		var mode sql.NullString
		if err := c.DB().QueryRowContext(ctx, "SELECT @@"+quoteIdent(r.Connection)+".slave_parallel_mode").Scan(&mode); err != nil {
			return fmt.Errorf("node %s: read slave_parallel_mode of connection '%s': %w", c.Name(), r.Connection, err)
		}
		st.ParallelModes[r.Connection] = mode.String
	}
	if st.GTID, err = c.GTIDState(ctx); err != nil {
		return err
	}
	if residency.Needed(t) {
		if st.Directory, err = readDirectory(ctx, t, c); err != nil {
			return err
		}
	}
	return nil
}

// observedNames are the variables Diff compares on the node.
func observedNames(t *topology.Topology, nodeName string) []string {
	var names []string
	for _, s := range nodeSettings(t, nodeName) {
		if s.unobserved == "" {
			names = append(names, s.name)
		}
	}
	return names
}

// readVariables reads global values together with whether the server can
// change them live, which depends on the server's version.
func readVariables(ctx context.Context, c *node.Client, names []string) (map[string]Variable, error) {
	vars := make(map[string]Variable, len(names))
	if len(names) == 0 {
		return vars, nil
	}
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = strings.ToUpper(n)
	}
	rows, err := c.DB().QueryContext(ctx,
		"SELECT VARIABLE_NAME, GLOBAL_VALUE, READ_ONLY FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME IN (?"+
			strings.Repeat(", ?", len(names)-1)+")", args...)
	if err != nil {
		return nil, fmt.Errorf("node %s: read system variables: %w", c.Name(), err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, readOnly string
		var value sql.NullString
		if err := rows.Scan(&name, &value, &readOnly); err != nil {
			return nil, fmt.Errorf("node %s: read system variables: %w", c.Name(), err)
		}
		vars[strings.ToLower(name)] = Variable{Value: value.String, NeedRestart: readOnly == "YES"}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("node %s: read system variables: %w", c.Name(), err)
	}
	return vars, nil
}

// readAccount reads user@'%': its authentication and REQUIRE clause from
// mysql.global_priv and its privileges from SHOW GRANTS.
func readAccount(ctx context.Context, c *node.Client, user string) (AccountState, bool, error) {
	var plugin, auth sql.NullString
	var sslType sql.NullInt64 // absent from accounts written by old versions: no requirement
	err := c.DB().QueryRowContext(ctx,
		"SELECT JSON_VALUE(Priv, '$.plugin'), JSON_VALUE(Priv, '$.authentication_string'), JSON_VALUE(Priv, '$.ssl_type') "+
			"FROM mysql.global_priv WHERE User = ? AND Host = ?",
		user, accountHost).Scan(&plugin, &auth, &sslType)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return AccountState{}, false, nil
	case err != nil:
		return AccountState{}, false, fmt.Errorf("node %s: read account %s: %w", c.Name(), accountName(user), err)
	}
	acct := AccountState{Plugin: plugin.String, AuthString: auth.String, Require: requireClause(sslType.Int64)}
	rows, err := c.DB().QueryContext(ctx, "SHOW GRANTS FOR "+accountName(user))
	if err != nil {
		return AccountState{}, false, fmt.Errorf("node %s: SHOW GRANTS FOR %s: %w", c.Name(), accountName(user), err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return AccountState{}, false, fmt.Errorf("node %s: SHOW GRANTS FOR %s: %w", c.Name(), accountName(user), err)
		}
		acct.Grants = append(acct.Grants, line)
	}
	if err := rows.Err(); err != nil {
		return AccountState{}, false, fmt.Errorf("node %s: SHOW GRANTS FOR %s: %w", c.Name(), accountName(user), err)
	}
	return acct, true, nil
}

// accountName is user@'%' as SQL.
func accountName(user string) string {
	return node.QuoteString(user) + "@" + node.QuoteString(accountHost)
}

// quoteIdent quotes a name (a replication connection's) as an identifier.
func quoteIdent(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// nodeNames lists the nodes of t in declaration order.
func nodeNames(t *topology.Topology) []string {
	var names []string
	for _, n := range t.Nodes() {
		names = append(names, n.Name)
	}
	return names
}
