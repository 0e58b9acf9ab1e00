package router

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

// Service kinds: how a service routes.
const (
	// ReadWriteSplit sends writes and transactions to the primary and reads
	// to a nearby replica, statement by statement.
	ReadWriteSplit = "readwritesplit"
	// ReadConnRoute binds each client connection to one server chosen when
	// it connects (ConnectTo); every command goes there unclassified, and
	// the connection closes when that server goes away.
	ReadConnRoute = "readconnroute"
	// Diff runs every statement on a main server, whose answer the client
	// gets, and mirrors it to an other server, comparing the two answers
	// (Service.DiffReport).
	Diff = "diff"
)

// Which servers a readconnroute service binds connections to (the
// connect_to option; MaxScale's router_options slave, master, running).
const (
	ConnectReplica = "replica"
	ConnectPrimary = "primary"
	ConnectAny     = "any"
)

// ServiceConfig configures one router endpoint.
type ServiceConfig struct {
	Name string
	// Region is where the router runs: its reads stay in this region.
	Region string
	// Kind is how statements are routed: ReadWriteSplit (the default),
	// ReadConnRoute or Diff.
	Kind   string
	Listen string
	// MaxReplicationLag excludes replicas trailing by more (or by an
	// unknown amount); 0 accepts any lag. A readconnroute service applies
	// it when it binds a connection.
	MaxReplicationLag time.Duration
	// ConnectTo is which servers a readconnroute service binds connections
	// to: ConnectReplica (default: replicas of every region), ConnectPrimary
	// or ConnectAny (any server up).
	ConnectTo string
	// RegionOrder ranks the other regions for a readconnroute service,
	// nearest first (RegionsByRTT); its own region always comes first and
	// regions left out come last, by name.
	RegionOrder []string
	// DiffMain and DiffOther name the nodes of a diff service: the client
	// gets main's answers, other's are compared with them.
	DiffMain, DiffOther string
	// DiffWrites mirrors writes (and transactions) to other as well; off,
	// only reads and session commands reach it and writes count as skipped.
	DiffWrites bool
	// DiffTimeout bounds how long a statement waits for other's answer
	// once main's is sent (default 5 s); past it the other connection is
	// closed and the statement counts as skipped.
	DiffTimeout time.Duration
	// MasterAcceptReads lets the primary serve reads when no replica is
	// eligible; nil means true.
	MasterAcceptReads *bool
	// CausalReads makes a replica read see earlier writes: the session's
	// own (CausalLocal, the default) or every session's (CausalGlobal);
	// CausalOff reads whatever the replica has. Backends then
	// track the GTID of each write (CLIENT_SESSION_TRACK, last_gtid in
	// session_track_system_variables), and a read waits on its replica
	// for them (MASTER_GTID_WAIT), or goes to the primary.
	CausalReads CausalMode
	// WriteHold is how long a write waits for a valid write lease before
	// it is refused; nil means DefaultWriteHold, 0 refuses at once.
	WriteHold *time.Duration
	// CausalReadsTimeout bounds that wait (default 500 ms); past it the
	// read goes to the primary, even with master_accept_reads off.
	CausalReadsTimeout time.Duration
	// TransactionReplayLimit bounds the transactions replayed on a new
	// primary after a switchover or failover (the bytes of their
	// statements); nil means DefaultReplayLimit, 0 turns replay off.
	TransactionReplayLimit *int
	// CompressRegions are the regions whose servers the router reaches
	// with MariaDB's compressed protocol (links with compress: true).
	CompressRegions []string
	TLS             TLSConfig
	// Admin is the account that reads mysql.user for password hashes.
	Admin Credentials
	// ConnectTimeout bounds dialing and logging in to a backend (default 5 s).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// Credentials are a user name and password.
type Credentials struct {
	User     string
	Password string
}

// TLSConfig configures TLS on both sides of the router.
type TLSConfig struct {
	// CertFile and KeyFile are the certificate served to clients; when
	// both are empty the router generates a self-signed one at start.
	CertFile, KeyFile string
	// DisableClientTLS stops offering TLS to clients.
	DisableClientTLS bool
	// Backend connects to the backends over TLS.
	Backend bool
	// BackendCA verifies the backends' certificates; empty skips verification.
	BackendCA string
}

// DefaultWriteHold covers a switchover's write pause (under a second
// across an 80 ms link) and a renewal late by a few intervals, yet ends
// well before a client's own timeouts.
const DefaultWriteHold = 2 * time.Second

// kindOptions are the topology options each service kind takes.
var kindOptions = map[string][]string{
	ReadWriteSplit: {"causal_reads", "causal_reads_timeout", "master_accept_reads", "max_replication_lag", "transaction_replay_max_size", "write_hold"},
	ReadConnRoute:  {"connect_to", "max_replication_lag"},
	Diff:           {"diff_timeout", "diff_writes", "main", "other"},
}

// ConfigFromTopology reads a service declared in a topology file. Options
// by kind:
//   - readwritesplit: max_replication_lag (a duration such as "2s", or
//     seconds), master_accept_reads (default true), causal_reads: none
//     (or false: a read sees what its replica has), local (or true, the
//     default: a read sees the session's own writes), global (a read sees every write the service saw committed before it,
//     in every GTID domain), and causal_reads_timeout (how long a replica
//     may take to catch up before the read goes to the primary; default
//     0.5s), write_hold (how long a statement for the primary waits for
//     the router's write lease, or for a primary that answers, before it
//     is refused; default 2s, 0 refuses at once),
//     transaction_replay_max_size (the largest transaction replayed on a
//     new primary after a switchover or failover, in bytes or "1MiB";
//     default 1MiB, 0 turns replay off);
//   - readconnroute: connect_to (replica, the default; primary; any) and
//     max_replication_lag; the caller sets RegionOrder (RegionsByRTT);
//   - diff: main and other (node names, required), diff_writes (default
//     false), diff_timeout (default 5s).
func ConfigFromTopology(svc topology.Service) (ServiceConfig, error) {
	cfg := ServiceConfig{Name: svc.Name, Region: svc.Region, Kind: svc.Kind, Listen: svc.Listen}
	if cfg.Kind == "" {
		cfg.Kind = ReadWriteSplit
	}
	known, ok := kindOptions[cfg.Kind]
	if !ok {
		return cfg, cfg.validate()
	}
	names := make([]string, 0, len(svc.Options))
	for name := range svc.Options {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		value := svc.Options[name]
		var err error
		switch {
		case !slices.Contains(known, name):
			err = unknownOption(cfg.Kind, name)
		case name == "max_replication_lag":
			cfg.MaxReplicationLag, err = durationOption(value)
		case name == "master_accept_reads":
			var b bool
			b, err = boolOption(value)
			cfg.MasterAcceptReads = &b
		case name == "causal_reads":
			cfg.CausalReads, err = causalOption(value)
		case name == "causal_reads_timeout":
			cfg.CausalReadsTimeout, err = durationOption(value)
		case name == "transaction_replay_max_size":
			var n int
			n, err = sizeOption(value)
			cfg.TransactionReplayLimit = &n
		case name == "write_hold":
			var hold time.Duration
			hold, err = durationOption(value)
			cfg.WriteHold = &hold
		case name == "connect_to":
			cfg.ConnectTo, err = stringOption(value)
		case name == "main":
			cfg.DiffMain, err = stringOption(value)
		case name == "other":
			cfg.DiffOther, err = stringOption(value)
		case name == "diff_writes":
			cfg.DiffWrites, err = boolOption(value)
		case name == "diff_timeout":
			cfg.DiffTimeout, err = durationOption(value)
		}
		if err != nil {
			return cfg, fmt.Errorf("service %s: option %s: %w", svc.Name, name, err)
		}
	}
	return cfg, cfg.validate()
}

// unknownOption explains an option the kind does not take, pointing a
// MaxScale name to Meridian's.
func unknownOption(kind, name string) error {
	hint := ""
	switch {
	case name == "router_options" && kind == ReadConnRoute:
		hint = "; MaxScale's router_options is connect_to here (slave = replica, master = primary, running = any)"
	case name == "servers" && kind == Diff:
		hint = "; name the two nodes with main and other"
	}
	return fmt.Errorf("unknown option for kind %s (known: %s)%s", kind, strings.Join(kindOptions[kind], ", "), hint)
}

func (c ServiceConfig) validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("service has no name")
	case kindOptions[c.Kind] == nil:
		return fmt.Errorf("service %s: kind %q is not supported (supported: %s, %s, %s)", c.Name, c.Kind, ReadWriteSplit, ReadConnRoute, Diff)
	case c.Region == "":
		return fmt.Errorf("service %s: no region", c.Name)
	case c.MaxReplicationLag < 0:
		return fmt.Errorf("service %s: max_replication_lag %s is negative", c.Name, c.MaxReplicationLag)
	case !slices.Contains([]CausalMode{CausalDefault, CausalOff, CausalLocal, CausalGlobal}, c.CausalReads):
		return fmt.Errorf("service %s: causal_reads %q is not %s, %s or %s", c.Name, c.CausalReads, CausalOff, CausalLocal, CausalGlobal)
	case c.WriteHold != nil && *c.WriteHold < 0:
		return fmt.Errorf("service %s: write_hold %s is negative", c.Name, *c.WriteHold)
	case c.CausalReadsTimeout < 0:
		return fmt.Errorf("service %s: causal_reads_timeout %s is negative", c.Name, c.CausalReadsTimeout)
	case (c.TLS.CertFile == "") != (c.TLS.KeyFile == ""):
		return fmt.Errorf("service %s: TLS needs both a certificate and a key file", c.Name)
	case c.Kind == ReadConnRoute && !slices.Contains([]string{"", ConnectReplica, ConnectPrimary, ConnectAny}, c.ConnectTo):
		return fmt.Errorf("service %s: option connect_to: %q is not %s, %s or %s", c.Name, c.ConnectTo, ConnectReplica, ConnectPrimary, ConnectAny)
	case c.Kind == Diff && (c.DiffMain == "" || c.DiffOther == ""):
		return fmt.Errorf("service %s: options main and other must both name a node", c.Name)
	case c.Kind == Diff && c.DiffMain == c.DiffOther:
		return fmt.Errorf("service %s: options main and other both name %s: compare two different nodes", c.Name, c.DiffMain)
	case c.DiffTimeout < 0:
		return fmt.Errorf("service %s: diff_timeout %s is negative", c.Name, c.DiffTimeout)
	}
	return nil
}

// RegionsByRTT lists the topology's regions by declared round-trip time
// from region, nearest first (region itself leads), ties by name: the
// RegionOrder of a readconnroute service running there.
func RegionsByRTT(t *topology.Topology, region string) []string {
	names := make([]string, 0, len(t.Regions))
	for _, r := range t.Regions {
		names = append(names, r.Name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := t.RTT(region, names[i]), t.RTT(region, names[j])
		if (names[i] == region) != (names[j] == region) {
			return names[i] == region
		}
		return a < b || (a == b && names[i] < names[j])
	})
	return names
}

func durationOption(v any) (time.Duration, error) {
	switch v := v.(type) {
	case int:
		return time.Duration(v) * time.Second, nil
	case float64:
		return time.Duration(v * float64(time.Second)), nil
	case string:
		if d, err := time.ParseDuration(v); err == nil {
			return d, nil
		}
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			return time.Duration(s * float64(time.Second)), nil
		}
	}
	return 0, fmt.Errorf("%v is not a duration (write \"2s\" or a number of seconds)", v)
}

// sizeOption reads a byte count: a number, or a string with a KiB or MiB
// suffix.
func sizeOption(v any) (int, error) {
	switch v := v.(type) {
	case int:
		if v >= 0 {
			return v, nil
		}
	case string:
		for _, u := range []struct {
			suffix string
			n      int
		}{{"MiB", 1 << 20}, {"KiB", 1 << 10}, {"", 1}} {
			if num, ok := strings.CutSuffix(strings.TrimSpace(v), u.suffix); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(num)); err == nil && n >= 0 {
					return n * u.n, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("%v is not a size (write a number of bytes, or \"1MiB\")", v)
}

func stringOption(v any) (string, error) {
	if s, ok := v.(string); ok && s != "" {
		return s, nil
	}
	return "", fmt.Errorf("%v is not a name", v)
}

func boolOption(v any) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("%v is not true or false", v)
}
