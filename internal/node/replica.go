package node

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/meridian-geo/meridian/internal/gtid"
)

// ReplicaStatus is one replication connection as SHOW ALL SLAVES STATUS
// reports it.
type ReplicaStatus struct {
	Connection string // "" is the default (unnamed) connection
	SourceHost string
	SourcePort int
	SourceUser string

	IORunning  string // "Yes" | "No" | "Connecting"
	SQLRunning bool

	LastIOErrno  int
	LastIOError  string
	LastSQLErrno int
	LastSQLError string

	SecondsBehind *int64 // nil when NULL: unknown, never zero
	// ReceivedHeartbeats counts the source's replication heartbeats
	// (MASTER_HEARTBEAT_PERIOD) since the connection was configured: it
	// grows while an idle source is still there.
	ReceivedHeartbeats uint64

	UsingGTID string // "No" | "Slave_Pos" | "Current_Pos"
	GTIDIOPos gtid.Position
	// RelayLogFile is the relay log the applier is reading.
	RelayLogFile string

	DoDomainIDs, IgnoreDomainIDs []uint32
	ConnectRetry                 int // seconds

	SSL                 bool
	SSLCA               string
	SSLCert             string
	SSLKey              string
	SSLVerifyServerCert bool
}

// Replicas lists the server's replication connections, sorted by name.
func (c *Client) Replicas(ctx context.Context) ([]ReplicaStatus, error) {
	rows, err := c.db.QueryContext(ctx, "SHOW ALL SLAVES STATUS")
	if err != nil {
		return nil, fmt.Errorf("node %s: SHOW ALL SLAVES STATUS: %w", c.name, err)
	}
	defer rows.Close()
	statuses, err := scanReplicas(rows)
	if err != nil {
		return nil, fmt.Errorf("node %s: SHOW ALL SLAVES STATUS: %w", c.name, err)
	}
	return statuses, nil
}

func scanReplicas(rows *sql.Rows) ([]ReplicaStatus, error) {
	columns, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var statuses []ReplicaStatus
	for rows.Next() {
		values := make([]sql.NullString, len(columns))
		dest := make([]any, len(values))
		for i := range values {
			dest[i] = &values[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		row := make(statusRow, len(columns))
		for i, name := range columns {
			row[name] = values[i]
		}
		s, err := parseReplicaStatus(row)
		if err != nil {
			return nil, err
		}
		statuses = append(statuses, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(statuses, func(a, b ReplicaStatus) int { return strings.Compare(a.Connection, b.Connection) })
	return statuses, nil
}

// statusRow is one row of a SHOW ... STATUS result keyed by column name, so
// parsing survives columns being added or reordered between versions.
type statusRow map[string]sql.NullString

func parseReplicaStatus(row statusRow) (ReplicaStatus, error) {
	p := rowParser{row: row}
	s := ReplicaStatus{
		Connection:          p.text("Connection_name"),
		SourceHost:          p.text("Master_Host"),
		SourcePort:          p.integer("Master_Port"),
		SourceUser:          p.text("Master_User"),
		IORunning:           p.text("Slave_IO_Running"),
		SQLRunning:          p.yes("Slave_SQL_Running"),
		LastIOErrno:         p.integer("Last_IO_Errno"),
		LastIOError:         p.text("Last_IO_Error"),
		LastSQLErrno:        p.integer("Last_SQL_Errno"),
		LastSQLError:        p.text("Last_SQL_Error"),
		SecondsBehind:       p.optionalInt64("Seconds_Behind_Master"),
		ReceivedHeartbeats:  uint64(p.integer("Slave_received_heartbeats")),
		UsingGTID:           p.text("Using_Gtid"),
		GTIDIOPos:           p.position("Gtid_IO_Pos"),
		RelayLogFile:        p.text("Relay_Log_File"),
		DoDomainIDs:         p.domains("Replicate_Do_Domain_Ids"),
		IgnoreDomainIDs:     p.domains("Replicate_Ignore_Domain_Ids"),
		ConnectRetry:        p.integer("Connect_Retry"),
		SSL:                 p.text("Master_SSL_Allowed") != "No", // "Ignored" still means configured
		SSLCA:               p.text("Master_SSL_CA_File"),
		SSLCert:             p.text("Master_SSL_Cert"),
		SSLKey:              p.text("Master_SSL_Key"),
		SSLVerifyServerCert: p.yes("Master_SSL_Verify_Server_Cert"),
	}
	if p.err != nil {
		return ReplicaStatus{}, fmt.Errorf("connection %q: %w", s.Connection, p.err)
	}
	return s, nil
}

// rowParser reads typed columns from a statusRow and keeps the first error,
// which names the column.
type rowParser struct {
	row statusRow
	err error
}

func (p *rowParser) fail(column string, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("column %s: %w", column, err)
	}
}

// value returns the column, failing when the server did not send it: a
// missing column means a server this package does not understand.
func (p *rowParser) value(column string) sql.NullString {
	v, ok := p.row[column]
	if !ok {
		p.fail(column, fmt.Errorf("missing"))
	}
	return v
}

func (p *rowParser) text(column string) string { return p.value(column).String }

func (p *rowParser) yes(column string) bool { return p.text(column) == "Yes" }

func (p *rowParser) integer(column string) int {
	v := p.value(column)
	if !v.Valid || v.String == "" {
		return 0
	}
	n, err := strconv.Atoi(v.String)
	if err != nil {
		p.fail(column, err)
	}
	return n
}

func (p *rowParser) optionalInt64(column string) *int64 {
	v := p.value(column)
	if !v.Valid {
		return nil
	}
	n, err := strconv.ParseInt(v.String, 10, 64)
	if err != nil {
		p.fail(column, err)
		return nil
	}
	return &n
}

func (p *rowParser) position(column string) gtid.Position {
	pos, err := gtid.Parse(p.text(column))
	if err != nil {
		p.fail(column, err)
	}
	return pos
}

func (p *rowParser) domains(column string) []uint32 {
	ids, err := parseDomainIDs(p.text(column))
	if err != nil {
		p.fail(column, err)
	}
	return ids
}

// parseDomainIDs parses a domain id list as MariaDB prints it ("1, 2"; ""
// when empty).
func parseDomainIDs(s string) ([]uint32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ids []uint32
	for field := range strings.SplitSeq(s, ",") {
		id, err := strconv.ParseUint(strings.TrimSpace(field), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("domain id %q: %w", strings.TrimSpace(field), err)
		}
		ids = append(ids, uint32(id))
	}
	return ids, nil
}
