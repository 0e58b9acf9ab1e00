package router

import (
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

// ReadWriteSplit is the service kind that sends writes and transactions to
// the primary and reads to a nearby replica.
const ReadWriteSplit = "readwritesplit"

// ServiceConfig configures one router endpoint.
type ServiceConfig struct {
	Name string
	// Region is where the router runs: its reads stay in this region.
	Region string
	// Kind is how statements are routed; only ReadWriteSplit so far. Other
	// kinds (readconnroute: every statement of a connection to one node)
	// replace how session.backendFor turns a decision into a backend.
	Kind   string
	Listen string
	// MaxReplicationLag excludes replicas trailing by more (or by an
	// unknown amount); 0 accepts any lag.
	MaxReplicationLag time.Duration
	// MasterAcceptReads lets the primary serve reads when no replica is
	// eligible; nil means true.
	MasterAcceptReads *bool
	// CausalReads makes backends track the GTID of each write
	// (CLIENT_SESSION_TRACK, last_gtid in session_track_system_variables):
	// the session keeps its last one, for a replica read to wait on.
	CausalReads bool
	TLS         TLSConfig
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

// ConfigFromTopology reads a service declared in a topology file; its
// options are max_replication_lag (a duration such as "2s", or seconds),
// master_accept_reads (default true) and causal_reads (default false).
func ConfigFromTopology(svc topology.Service) (ServiceConfig, error) {
	cfg := ServiceConfig{Name: svc.Name, Region: svc.Region, Kind: svc.Kind, Listen: svc.Listen}
	if cfg.Kind == "" {
		cfg.Kind = ReadWriteSplit
	}
	names := make([]string, 0, len(svc.Options))
	for name := range svc.Options {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		value := svc.Options[name]
		var err error
		switch name {
		case "max_replication_lag":
			cfg.MaxReplicationLag, err = durationOption(value)
		case "master_accept_reads":
			var b bool
			b, err = boolOption(value)
			cfg.MasterAcceptReads = &b
		case "causal_reads":
			cfg.CausalReads, err = boolOption(value)
		default:
			err = fmt.Errorf("unknown option (known: causal_reads, master_accept_reads, max_replication_lag)")
		}
		if err != nil {
			return cfg, fmt.Errorf("service %s: option %s: %w", svc.Name, name, err)
		}
	}
	return cfg, cfg.validate()
}

func (c ServiceConfig) validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("service has no name")
	case c.Kind != ReadWriteSplit:
		return fmt.Errorf("service %s: kind %q is not supported (supported: %s)", c.Name, c.Kind, ReadWriteSplit)
	case c.Region == "":
		return fmt.Errorf("service %s: no region", c.Name)
	case c.MaxReplicationLag < 0:
		return fmt.Errorf("service %s: max_replication_lag %s is negative", c.Name, c.MaxReplicationLag)
	case (c.TLS.CertFile == "") != (c.TLS.KeyFile == ""):
		return fmt.Errorf("service %s: TLS needs both a certificate and a key file", c.Name)
	}
	return nil
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
