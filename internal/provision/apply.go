package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/topology"
)

// ApplyResult is what Apply did, node by node in topology order.
type ApplyResult struct {
	Nodes []NodeResult
}

// NodeResult is what Apply did on one node.
type NodeResult struct {
	Node string
	Done []Change
	// Restart lists settings that were not applied: the server cannot change
	// them live. Install Fragment (at FragmentPath) and restart the server.
	Restart  []Change
	Fragment string
}

// String lists the result per node.
func (r ApplyResult) String() string {
	if len(r.Nodes) == 0 {
		return "Nothing to do.\n"
	}
	var b strings.Builder
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, "%s:\n", n.Node)
		for _, c := range n.Done {
			fmt.Fprintf(&b, "  done: %s\n", c.Summary)
		}
		for _, c := range n.Restart {
			fmt.Fprintf(&b, "  not done: %s\n", c.Summary)
		}
		if n.Fragment != "" {
			fmt.Fprintf(&b, "  install at %s, then restart:\n", FragmentPath)
			for line := range strings.Lines(n.Fragment) {
				b.WriteString("    " + line)
			}
		}
	}
	return b.String()
}

// forNode returns the result of name, adding it in order of first use.
func (r *ApplyResult) forNode(name string) *NodeResult {
	for i := range r.Nodes {
		if r.Nodes[i].Node == name {
			return &r.Nodes[i]
		}
	}
	r.Nodes = append(r.Nodes, NodeResult{Node: name})
	return &r.Nodes[len(r.Nodes)-1]
}

// Apply performs plan in order and stops at the first failure, returning
// what was done until then. Settings needing a restart are not applied: the
// result (and the log) carries them with the node's option file fragment.
// Plans come from Diff: Apply trusts their ordering.
func Apply(ctx context.Context, t *topology.Topology, ep Endpoints, creds Credentials, plan Plan) (ApplyResult, error) {
	var res ApplyResult
	clients := map[string]*node.Client{}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for _, change := range plan.Changes {
		if change.NeedsRestart {
			nr := res.forNode(change.Node)
			nr.Restart = append(nr.Restart, change)
			continue
		}
		c, ok := clients[change.Node]
		if !ok {
			var err error
			if c, err = node.Open(ctx, ep.Admin(change.Node)); err != nil {
				return res, fmt.Errorf("apply: %w", err)
			}
			clients[change.Node] = c
		}
		if err := applyChange(ctx, t, c, creds, change); err != nil {
			return res, fmt.Errorf("apply %q: %w", change.Summary, err)
		}
		slog.Info("applied", "node", change.Node, "change", change.Summary)
		nr := res.forNode(change.Node)
		nr.Done = append(nr.Done, change)
	}
	names := nodeNames(t)
	slices.SortStableFunc(res.Nodes, func(a, b NodeResult) int {
		return slices.Index(names, a.Node) - slices.Index(names, b.Node)
	})
	for i := range res.Nodes {
		nr := &res.Nodes[i]
		if len(nr.Restart) == 0 {
			continue
		}
		nr.Fragment = ConfigFragment(t, nr.Node)
		var what []string
		for _, c := range nr.Restart {
			what = append(what, c.Summary)
		}
		slog.Warn("settings need a restart: install the node's option file fragment (see the apply result) and restart it",
			"node", nr.Node, "settings", what, "install", FragmentPath)
	}
	return res, nil
}

func applyChange(ctx context.Context, t *topology.Topology, c *node.Client, creds Credentials, change Change) error {
	switch change.Kind {
	case KindSetting:
		s := change.setting
		if s.name == "slave_parallel_threads" {
			// The server refuses while any replication connection runs.
			return withReplicationStopped(ctx, c, func() error { return c.SetGlobal(ctx, s.name, s.value) })
		}
		return c.SetGlobal(ctx, s.name, s.value)
	case KindCreateUser, KindPassword, KindGrant, KindAccountTLS:
		return c.ExecLocal(ctx, accountStatements(change, creds)...)
	case KindReadOnly:
		return c.SetReadOnly(ctx, change.readOnly)
	case KindRemoveChannel:
		conn := change.channel.source.Connection
		if err := c.StopReplica(ctx, conn); err != nil {
			return err
		}
		return c.ResetReplicaAll(ctx, conn)
	case KindChangeChannel:
		if err := c.StopReplica(ctx, change.channel.source.Connection); err != nil {
			return err
		}
		return configureChannel(ctx, c, creds, change.channel)
	case KindCreateChannel:
		return configureChannel(ctx, c, creds, change.channel)
	case KindStartChannel:
		return c.StartReplica(ctx, change.channel.source.Connection)
	case KindDirectory, KindDirectoryTrigger:
		return c.ExecLocal(ctx, change.directory...)
	}
	return fmt.Errorf("unknown change kind %q", change.Kind)
}

// accountStatements are the statements of an account change.
func accountStatements(change Change, creds Credentials) []string {
	a := change.account
	var acct Account
	for _, m := range managedAccounts {
		if m.role == a.role {
			acct = m.account(creds)
		}
	}
	who := accountName(acct.User)
	var stmts []string
	switch change.Kind {
	case KindCreateUser:
		create := "CREATE USER IF NOT EXISTS " + who + " IDENTIFIED BY " + node.QuoteString(acct.Password)
		if a.require != "" {
			create += " REQUIRE " + a.require
		}
		stmts = append(stmts, create)
	case KindPassword:
		// ALTER USER changes only what it names: the REQUIRE clause stays.
		stmts = append(stmts, "ALTER USER "+who+" IDENTIFIED BY "+node.QuoteString(acct.Password))
	case KindAccountTLS:
		stmts = append(stmts, "ALTER USER "+who+" REQUIRE "+a.require)
	}
	if a.revokeAll {
		stmts = append(stmts, "REVOKE ALL PRIVILEGES, GRANT OPTION FROM "+who)
	}
	if len(a.privileges) > 0 {
		stmts = append(stmts, "GRANT "+strings.Join(a.privileges, ", ")+" ON *.* TO "+who)
	}
	return stmts
}

// ConfigureChannel (re)writes the layout's channel ch on its replica c,
// whose connection must be stopped or absent, and starts it: the same
// statements Apply runs, for recovery, which repoints replicas without a
// whole plan. align is what Alignment says gtid_slave_pos must gain first.
func ConfigureChannel(ctx context.Context, c *node.Client, t *topology.Topology, ep Endpoints, creds Credentials,
	ch topology.Channel, align gtid.Position) error {
	src, err := sourceConfig(t, ch, ep, creds)
	if err != nil {
		return err
	}
	return configureChannel(ctx, c, creds, &channelChange{source: src, parallelMode: t.Replication.ParallelMode, align: align})
}

// configureChannel (re)writes a stopped or absent connection and starts it.
func configureChannel(ctx context.Context, c *node.Client, creds Credentials, ch *channelChange) error {
	if len(ch.align) > 0 {
		if err := alignSlavePos(ctx, c, ch.align); err != nil {
			return err
		}
	}
	src := ch.source
	src.Password = creds.Replication.Password
	if err := c.ChangeSource(ctx, src); err != nil {
		return err
	}
	if ch.parallelMode != "" {
		stmt := "SET GLOBAL " + quoteIdent(src.Connection) + ".slave_parallel_mode = " + node.QuoteString(ch.parallelMode)
		if _, err := c.DB().ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("node %s: %s: %w", c.Name(), stmt, err)
		}
	}
	return c.StartReplica(ctx, src.Connection)
}

// alignSlavePos adds the node's own transactions (align, per domain) to
// gtid_slave_pos. The plan was made from an earlier observation: if the node
// has written more in those domains since, the decision no longer holds.
func alignSlavePos(ctx context.Context, c *node.Client, align gtid.Position) error {
	live, err := c.GTIDState(ctx)
	if err != nil {
		return err
	}
	pos := gtid.Position{}
	for d, g := range live.Slave {
		pos[d] = g
	}
	for d, g := range align {
		if live.Binlog[d] != g {
			return fmt.Errorf("node %s: its binlog moved in domain %d since the plan (now %s, planned %s): plan again",
				c.Name(), d, live.Binlog[d], g)
		}
		pos[d] = g
	}
	// gtid_slave_pos is shared by all connections: the server refuses to
	// change it while any runs.
	return withReplicationStopped(ctx, c, func() error { return c.SetGlobal(ctx, "gtid_slave_pos", pos.String()) })
}

// withReplicationStopped stops the node's running replication connections,
// runs fn and starts them again, whether fn failed or not.
func withReplicationStopped(ctx context.Context, c *node.Client, fn func() error) error {
	replicas, err := c.Replicas(ctx)
	if err != nil {
		return err
	}
	var stopped []string
	var errs []error
	for _, r := range replicas {
		if r.IORunning == "No" && !r.SQLRunning {
			continue
		}
		if err := c.StopReplica(ctx, r.Connection); err != nil {
			errs = append(errs, err)
			break
		}
		stopped = append(stopped, r.Connection)
	}
	if len(errs) == 0 {
		errs = append(errs, fn())
	}
	for _, conn := range stopped {
		errs = append(errs, c.StartReplica(ctx, conn))
	}
	return errors.Join(errs...)
}
