package node

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
)

// GTIDState is the server's three GTID positions, read together.
type GTIDState struct {
	Binlog  gtid.Position // written to this server's binlog
	Slave   gtid.Position // applied by its replication connections
	Current gtid.Position // the union, per domain the latest
}

// GTIDState reads gtid_binlog_pos, gtid_slave_pos and gtid_current_pos in
// one statement so they describe the same moment.
func (c *Client) GTIDState(ctx context.Context) (GTIDState, error) {
	var binlog, slave, current string
	err := c.db.QueryRowContext(ctx,
		"SELECT @@global.gtid_binlog_pos, @@global.gtid_slave_pos, @@global.gtid_current_pos",
	).Scan(&binlog, &slave, &current)
	if err != nil {
		return GTIDState{}, fmt.Errorf("node %s: read GTID positions: %w", c.name, err)
	}
	var state GTIDState
	for _, v := range []struct {
		name string
		text string
		dest *gtid.Position
	}{
		{"gtid_binlog_pos", binlog, &state.Binlog},
		{"gtid_slave_pos", slave, &state.Slave},
		{"gtid_current_pos", current, &state.Current},
	} {
		if *v.dest, err = gtid.Parse(v.text); err != nil {
			return GTIDState{}, fmt.Errorf("node %s: %s: %w", c.name, v.name, err)
		}
	}
	return state, nil
}

// Variables reads global variables; the result is keyed by lower-case name
// and lacks names the server does not know.
func (c *Client) Variables(ctx context.Context, names ...string) (map[string]string, error) {
	return c.globals(ctx, "VARIABLES", names)
}

// GlobalStatus reads global status variables (Threads_running, ...); the
// result is keyed by lower-case name and lacks names the server does not know.
func (c *Client) GlobalStatus(ctx context.Context, names ...string) (map[string]string, error) {
	return c.globals(ctx, "STATUS", names)
}

// globals reads the named rows of SHOW GLOBAL VARIABLES or SHOW GLOBAL STATUS.
func (c *Client) globals(ctx context.Context, kind string, names []string) (map[string]string, error) {
	values := make(map[string]string, len(names))
	if len(names) == 0 {
		return values, nil
	}
	args := make([]any, len(names))
	for i, name := range names {
		args[i] = name
	}
	query := "SHOW GLOBAL " + kind + " WHERE Variable_name IN (?" + strings.Repeat(", ?", len(names)-1) + ")"
	if err := c.nameValues(ctx, values, query, args...); err != nil {
		return nil, fmt.Errorf("node %s: read %s %s: %w", c.name, strings.ToLower(kind), strings.Join(names, ", "), err)
	}
	return values, nil
}

// WsrepStatus reads the Galera status variables (empty without Galera).
func (c *Client) WsrepStatus(ctx context.Context) (map[string]string, error) {
	status := map[string]string{}
	if err := c.nameValues(ctx, status, "SHOW GLOBAL STATUS LIKE 'wsrep\\_%'"); err != nil {
		return nil, fmt.Errorf("node %s: read wsrep status: %w", c.name, err)
	}
	return status, nil
}

// nameValues collects a two-column (name, value) result into into, with
// lower-case names.
func (c *Client) nameValues(ctx context.Context, into map[string]string, query string, args ...any) error {
	rows, err := c.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var value sql.NullString
		if err := rows.Scan(&name, &value); err != nil {
			return err
		}
		into[strings.ToLower(name)] = value.String
	}
	return rows.Err()
}

// SetGlobal runs SET GLOBAL name = value. Numbers and ON/OFF go as they are,
// anything else as a string literal.
func (c *Client) SetGlobal(ctx context.Context, name, value string) error {
	if err := checkVariable(name); err != nil {
		return fmt.Errorf("node %s: set global: %w", c.name, err)
	}
	return c.exec(ctx, "SET GLOBAL "+name+" = "+valueLiteral(value))
}

// ReadOnly reports @@global.read_only.
func (c *Client) ReadOnly(ctx context.Context) (bool, error) {
	var on bool
	if err := c.db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&on); err != nil {
		return false, fmt.Errorf("node %s: read read_only: %w", c.name, err)
	}
	return on, nil
}

// SetReadOnly sets @@global.read_only. Turning it on waits for running
// commits (MariaDB takes the global read lock briefly); ctx bounds the wait.
func (c *Client) SetReadOnly(ctx context.Context, on bool) error {
	value := "OFF"
	if on {
		value = "ON"
	}
	return c.SetGlobal(ctx, "read_only", value)
}

// WaitForGTID waits until the server has applied pos (MASTER_GTID_WAIT) and
// reports false if timeout passes first. A long wait is split into calls
// shorter than the connection's read timeout, which would otherwise cut it.
func (c *Client) WaitForGTID(ctx context.Context, pos gtid.Position, timeout time.Duration) (bool, error) {
	if timeout < 0 {
		// MASTER_GTID_WAIT treats a negative timeout as "forever".
		return false, fmt.Errorf("node %s: wait for GTID %s: timeout %s is negative", c.name, pos, timeout)
	}
	target := pos.String()
	deadline := time.Now().Add(timeout)
	for {
		wait := min(time.Until(deadline), c.readTimeout/2)
		var result sql.NullInt64
		err := c.db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", target, max(wait, 0).Seconds()).Scan(&result)
		switch {
		case err != nil:
			return false, fmt.Errorf("node %s: wait for GTID %s: %w", c.name, target, err)
		case !result.Valid:
			return false, fmt.Errorf("node %s: wait for GTID %s: MASTER_GTID_WAIT returned NULL", c.name, target)
		case result.Int64 == 0:
			return true, nil
		case !time.Now().Before(deadline):
			return false, nil
		}
	}
}

// ExecLocal runs statements on this node only: outside the binlog, so no
// replica receives them, and on a Galera node outside the cluster too
// (wsrep_on=OFF for the session), so cluster GTIDs stay equal on every
// member. Local admin statements such as CREATE USER need both. The first
// statement that fails ends the run.
func (c *Client) ExecLocal(ctx context.Context, stmts ...string) error {
	_, err := c.execLocal(ctx, stmts, true)
	return err
}

// LocalResult is what one statement run by ExecLocalEach did.
type LocalResult struct {
	RowsAffected int64
	Err          error
}

// ExecLocalEach runs statements on this node only, like ExecLocal, but runs
// every one of them whatever the others did (a repair per row), and answers
// each one's outcome. The error is for the session itself (it could not be
// pinned, isolated or restored).
func (c *Client) ExecLocalEach(ctx context.Context, stmts ...string) ([]LocalResult, error) {
	return c.execLocal(ctx, stmts, false)
}

func (c *Client) execLocal(ctx context.Context, stmts []string, stopAtFailure bool) ([]LocalResult, error) {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("node %s: pin a connection: %w", c.name, err)
	}
	defer conn.Close()
	var wsrep bool
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(@@session.wsrep_on, 0)").Scan(&wsrep); err != nil {
		discard(conn)
		return nil, fmt.Errorf("node %s: read wsrep_on: %w", c.name, err)
	}
	isolate, restore := []string{"SET SESSION sql_log_bin=0"}, []string{"SET SESSION sql_log_bin=1"}
	if wsrep {
		isolate, restore = append(isolate, "SET SESSION wsrep_on=OFF"), append(restore, "SET SESSION wsrep_on=ON")
	}
	for _, stmt := range isolate {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			discard(conn)
			return nil, fmt.Errorf("node %s: %s: %w", c.name, stmt, err)
		}
	}
	var failed error
	results := make([]LocalResult, 0, len(stmts))
	for _, stmt := range stmts {
		res, err := conn.ExecContext(ctx, stmt)
		if err != nil {
			shown, secrets := redact(stmt)
			err = c.statementError(shown, secrets, err)
			results = append(results, LocalResult{Err: err})
			if stopAtFailure {
				failed = err
				break
			}
			continue
		}
		n, _ := res.RowsAffected()
		results = append(results, LocalResult{RowsAffected: n})
	}
	// Restore even when ctx is done, so the pooled connection never skips
	// the binlog or the cluster for a later caller; if that fails, the
	// connection is dropped.
	restoreCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.readTimeout)
	defer cancel()
	for _, stmt := range restore {
		if _, err := conn.ExecContext(restoreCtx, stmt); err != nil {
			discard(conn)
			return results, errors.Join(failed, fmt.Errorf("node %s: %s: %w", c.name, stmt, err))
		}
	}
	return results, failed
}

// discard makes database/sql close conn instead of returning it to the pool.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}
