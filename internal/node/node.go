// Package node is a typed client for one MariaDB server: replication
// connections, GTID positions, global variables and local-only admin
// statements. It observes and acts on a single server; deciding what to do
// belongs to its callers.
package node

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DefaultTimeout bounds dialing and every network read or write when an
// Endpoint does not set its own Timeout.
const DefaultTimeout = 5 * time.Second

// Endpoint says how to reach one server.
type Endpoint struct {
	Name     string // node name, used in errors and logs
	Addr     string // host:port, used when Socket is empty
	Socket   string // unix socket path; preferred over Addr when set
	User     string
	Password string
	TLS      string // go-sql-driver TLS config name ("true", "skip-verify", a registered name) or ""
	Timeout  time.Duration
	// TimeZone is the sessions' time_zone ("+00:00"); "" keeps the server's.
	// TIMESTAMP values read and written as text depend on it.
	TimeZone string
}

// address is where the endpoint is dialed, for errors.
func (e Endpoint) address() string {
	if e.Socket != "" {
		return "unix:" + e.Socket
	}
	return e.Addr
}

// Client talks to one server through a small connection pool.
type Client struct {
	name        string
	db          *sql.DB
	readTimeout time.Duration
}

// Open connects to the server and pings it; the error names the node and the
// address it tried.
func Open(ctx context.Context, e Endpoint) (*Client, error) {
	cfg, err := driverConfig(e)
	if err != nil {
		return nil, fmt.Errorf("node %s (%s): %w", e.Name, e.address(), err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("node %s (%s): %w", e.Name, e.address(), err)
	}
	db := sql.OpenDB(connector)
	// Meridian issues a handful of admin statements per node; a few
	// connections are plenty and keep many sandbox nodes cheap.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("node %s (%s): connect: %w", e.Name, e.address(), err)
	}
	return &Client{name: e.Name, db: db, readTimeout: cfg.ReadTimeout}, nil
}

// driverConfig builds the driver configuration field by field so that no
// credential ever passes through DSN string formatting.
func driverConfig(e Endpoint) (*mysql.Config, error) {
	if e.Timeout < 0 {
		return nil, fmt.Errorf("timeout %s is negative", e.Timeout)
	}
	cfg := mysql.NewConfig()
	switch {
	case e.Socket != "":
		cfg.Net, cfg.Addr = "unix", e.Socket
	case e.Addr != "":
		cfg.Net, cfg.Addr = "tcp", e.Addr
		cfg.DialFunc = dialHeard
	default:
		return nil, fmt.Errorf("endpoint has neither an address nor a socket")
	}
	cfg.User = e.User
	cfg.Passwd = e.Password
	cfg.TLSConfig = e.TLS
	cfg.ParseTime = true
	timeout := e.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = timeout, timeout, timeout
	// QuoteString escapes backslashes, which is only right while
	// NO_BACKSLASH_ESCAPES is off: pin that for every session of the pool,
	// whatever the server default.
	cfg.Params = map[string]string{
		"sql_mode": "REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
	}
	if e.TimeZone != "" {
		cfg.Params["time_zone"] = QuoteString(e.TimeZone)
	}
	return cfg, nil
}

// Close releases the pool.
func (c *Client) Close() error { return c.db.Close() }

// Name is the node name the client was opened for.
func (c *Client) Name() string { return c.name }

// DB exposes the pool for queries this package does not wrap.
func (c *Client) DB() *sql.DB { return c.db }

// exec runs one statement that changes the server. The log line and any
// error show the statement with its secrets redacted.
func (c *Client) exec(ctx context.Context, stmt string) error {
	shown, secrets := redact(stmt)
	slog.Debug("exec", "node", c.name, "sql", shown)
	if _, err := c.db.ExecContext(ctx, stmt); err != nil {
		return c.statementError(shown, secrets, err)
	}
	return nil
}

// statementError names the node and the (redacted) statement that failed.
func (c *Client) statementError(shown string, secrets []string, err error) error {
	return &statementError{
		msg: fmt.Sprintf("node %s: %s: %s", c.name, shown, scrub(err.Error(), secrets)),
		err: err,
	}
}

// statementError keeps the driver error reachable with errors.As (for its
// error number) while its text never carries a secret of the statement.
type statementError struct {
	msg string
	err error
}

func (e *statementError) Error() string { return e.msg }
func (e *statementError) Unwrap() error { return e.err }
