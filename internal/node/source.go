package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SourceConfig is everything a replication connection is told about its
// source. ChangeSource states every field explicitly, so reconfiguring a
// connection never keeps settings from its previous life.
type SourceConfig struct {
	Connection string // "" is the default (unnamed) connection
	Host       string
	Port       int
	User       string
	Password   string

	// ConnectRetry is the pause between reconnection attempts, rounded up to
	// whole seconds; 0 means MariaDB's default (60 s). How many attempts are
	// made is not a connection setting in MariaDB: it is the server startup
	// option --master-retry-count (no system variable, no CHANGE MASTER option).
	ConnectRetry time.Duration
	// HeartbeatPeriod is rounded to milliseconds; 0 means MariaDB's default,
	// which the server recomputes (slave_net_timeout/2) whenever MASTER_HOST
	// is given, as it always is here.
	HeartbeatPeriod time.Duration

	// At most one of the two lists may be non-empty.
	DoDomainIDs, IgnoreDomainIDs []uint32

	SSL                 bool
	SSLCA               string // file paths, as seen by the replica's server
	SSLCert             string
	SSLKey              string
	SSLVerifyServerCert bool
}

// MariaDB limits, checked here so the statement fails with a clear error
// before the server echoes (part of) a credential in its own.
const (
	defaultConnectRetry = 60 * time.Second
	maxHeartbeatPeriod  = 4294967 * time.Second
	maxHostLength       = 255
	maxUserLength       = 128
	maxPasswordLength   = 96
)

// changeSourceSQL builds the CHANGE MASTER statement for s. It is pure so the
// exact SQL can be tested without a server.
func changeSourceSQL(s SourceConfig) (string, error) {
	if err := checkSourceConfig(s); err != nil {
		return "", fmt.Errorf("connection %q: %w", s.Connection, err)
	}
	retry := s.ConnectRetry
	if retry == 0 {
		retry = defaultConnectRetry
	}
	options := []string{
		"MASTER_HOST=" + QuoteString(s.Host),
		"MASTER_PORT=" + strconv.Itoa(s.Port),
		"MASTER_USER=" + QuoteString(s.User),
		"MASTER_PASSWORD=" + QuoteString(s.Password),
		"MASTER_USE_GTID=slave_pos",
		// MariaDB ignores MASTER_CONNECT_RETRY=0, hence rounding up.
		"MASTER_CONNECT_RETRY=" + strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10),
	}
	if s.HeartbeatPeriod > 0 {
		options = append(options, "MASTER_HEARTBEAT_PERIOD="+strconv.FormatFloat(s.HeartbeatPeriod.Round(time.Millisecond).Seconds(), 'f', 3, 64))
	}
	// Empty lists are accepted and clear a previous filter.
	options = append(options,
		"DO_DOMAIN_IDS=("+domainList(s.DoDomainIDs)+")",
		"IGNORE_DOMAIN_IDS=("+domainList(s.IgnoreDomainIDs)+")",
		"MASTER_SSL="+flag(s.SSL),
		"MASTER_SSL_CA="+QuoteString(s.SSLCA),
		"MASTER_SSL_CERT="+QuoteString(s.SSLCert),
		"MASTER_SSL_KEY="+QuoteString(s.SSLKey),
		"MASTER_SSL_VERIFY_SERVER_CERT="+flag(s.SSLVerifyServerCert),
	)
	return "CHANGE MASTER " + QuoteString(s.Connection) + " TO " + strings.Join(options, ", "), nil
}

func checkSourceConfig(s SourceConfig) error {
	var problems []error
	if err := checkConnection(s.Connection); err != nil {
		problems = append(problems, err)
	}
	if s.Host == "" {
		problems = append(problems, errors.New("host is empty"))
	}
	if len(s.Host) > maxHostLength {
		problems = append(problems, fmt.Errorf("host is %d bytes long, MariaDB allows %d", len(s.Host), maxHostLength))
	}
	if s.Port < 1 || s.Port > 65535 {
		problems = append(problems, fmt.Errorf("port %d is out of range 1-65535", s.Port))
	}
	if s.User == "" {
		problems = append(problems, errors.New("user is empty"))
	}
	if len(s.User) > maxUserLength {
		problems = append(problems, fmt.Errorf("user is %d bytes long, MariaDB allows %d", len(s.User), maxUserLength))
	}
	if len(s.Password) > maxPasswordLength {
		problems = append(problems, fmt.Errorf("password is %d bytes long, MariaDB allows %d", len(s.Password), maxPasswordLength))
	}
	if s.ConnectRetry < 0 {
		problems = append(problems, fmt.Errorf("connect retry %s is negative", s.ConnectRetry))
	}
	switch hb := s.HeartbeatPeriod; {
	case hb < 0:
		problems = append(problems, fmt.Errorf("heartbeat period %s is negative", hb))
	case hb > 0 && hb.Round(time.Millisecond) == 0:
		problems = append(problems, fmt.Errorf("heartbeat period %s is below MariaDB's resolution of 1ms", hb))
	case hb.Round(time.Millisecond) > maxHeartbeatPeriod:
		problems = append(problems, fmt.Errorf("heartbeat period %s exceeds MariaDB's maximum %s", hb, maxHeartbeatPeriod))
	}
	if len(s.DoDomainIDs) > 0 && len(s.IgnoreDomainIDs) > 0 {
		problems = append(problems, errors.New("both DO_DOMAIN_IDS and IGNORE_DOMAIN_IDS are set; MariaDB allows only one"))
	}
	if !s.SSL && (s.SSLCA != "" || s.SSLCert != "" || s.SSLKey != "" || s.SSLVerifyServerCert) {
		problems = append(problems, errors.New("SSL options are set but SSL is off"))
	}
	return errors.Join(problems...)
}

// domainList prints ids sorted and without duplicates, as the server stores
// them, so equal configurations give equal statements.
func domainList(ids []uint32) string {
	sorted := slices.Compact(slices.Sorted(slices.Values(ids)))
	parts := make([]string, len(sorted))
	for i, id := range sorted {
		parts[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(parts, ",")
}

func flag(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

// ChangeSource (re)configures a replication connection, creating it if it
// does not exist. The server refuses while the connection is running: stop
// it first.
func (c *Client) ChangeSource(ctx context.Context, s SourceConfig) error {
	stmt, err := changeSourceSQL(s)
	if err != nil {
		return fmt.Errorf("node %s: change source: %w", c.name, err)
	}
	return c.exec(ctx, stmt)
}

// StartReplica starts both threads of a connection.
func (c *Client) StartReplica(ctx context.Context, conn string) error {
	return c.connectionStatement(ctx, "START SLAVE %s", conn)
}

// StopReplica stops both threads of a connection.
func (c *Client) StopReplica(ctx context.Context, conn string) error {
	return c.connectionStatement(ctx, "STOP SLAVE %s", conn)
}

// StopReplicaSQL stops only the applier, leaving the IO thread fetching.
func (c *Client) StopReplicaSQL(ctx context.Context, conn string) error {
	return c.connectionStatement(ctx, "STOP SLAVE %s SQL_THREAD", conn)
}

// ResetReplicaAll deletes a (stopped) connection with its relay logs and
// settings.
func (c *Client) ResetReplicaAll(ctx context.Context, conn string) error {
	return c.connectionStatement(ctx, "RESET SLAVE %s ALL", conn)
}

func (c *Client) connectionStatement(ctx context.Context, format, conn string) error {
	if err := checkConnection(conn); err != nil {
		return fmt.Errorf("node %s: %w", c.name, err)
	}
	return c.exec(ctx, fmt.Sprintf(format, QuoteString(conn)))
}
