// Package topology is Meridian's model of a geo-distributed MariaDB estate:
// regions, clusters, nodes, WAN links and the architecture that decides who
// writes and who replicates from whom. It is loaded from YAML, validated
// strictly, and then read by every other package; nothing here talks to a
// server.
package topology

import "time"

// Architecture names one of the four layouts of the seed chapter.
type Architecture string

const (
	ActivePassive Architecture = "active-passive"
	ActiveActive  Architecture = "active-active"
	HubAndSpoke   Architecture = "hub-and-spoke"
	FollowTheSun  Architecture = "follow-the-sun"
)

// ClusterKind is how the nodes of one cluster replicate among themselves.
type ClusterKind string

const (
	// Galera: synchronous multi-writer cluster, one GTID history via wsrep_gtid_mode.
	Galera ClusterKind = "galera"
	// PrimaryReplica: one primary, the other nodes replicate from it asynchronously.
	PrimaryReplica ClusterKind = "primary-replica"
	// Single: one standalone server.
	Single ClusterKind = "single"
)

// Topology is a whole estate as declared in one file.
type Topology struct {
	// Source is the file the topology was loaded from ("" when built in code).
	Source string `yaml:"-"`

	Name         string        `yaml:"name"`
	Architecture Architecture  `yaml:"architecture"`
	Regions      []Region      `yaml:"regions"`
	Clusters     []Cluster     `yaml:"clusters"`
	Links        []Link        `yaml:"links"`
	Roles        Roles         `yaml:"roles"`
	Schedule     []Window      `yaml:"schedule"`
	Replication  Replication   `yaml:"replication"`
	Credentials  CredentialRef `yaml:"credentials"`
	Hooks        Hooks         `yaml:"hooks"`
	Services     []Service     `yaml:"services"`

	// Jurisdictions map countries to the regions that keep their personal
	// data (the seed's data_jurisdiction table).
	Jurisdictions []Jurisdiction `yaml:"jurisdictions"`
	// Tables say how each table may be written when several regions take
	// writes (owner, home region, last-write-wins, counter, set) and whether
	// it holds personal data.
	Tables []TablePolicy `yaml:"tables"`
	// Users names the application's users table, which the users directory
	// (meridian.users_metadata) and erasure follow.
	Users *UsersTable `yaml:"users"`
}

// Region is a geographic location holding one cluster of its own.
type Region struct {
	Name     string `yaml:"name"`
	Location string `yaml:"location"`
	// GTIDDomainID is the gtid_domain_id of every transaction written in this
	// region, so each transaction keeps its origin everywhere it replicates.
	GTIDDomainID uint32 `yaml:"gtid_domain_id"`
	// Backups is the directory where `meridian backup` keeps this region's
	// backups and its erasure suppression list: a path on the hosts of the
	// region (relative to the topology file's directory), never shared with
	// another region.
	Backups string `yaml:"backups"`
}

// Cluster is a group of nodes that replicate among themselves inside a region
// (a Galera cluster may span regions when explicitly allowed).
type Cluster struct {
	Name   string      `yaml:"name"`
	Kind   ClusterKind `yaml:"kind"`
	Region string      `yaml:"region"`
	// AllowWAN lets a Galera cluster span regions whose RTT is over 30 ms.
	AllowWAN bool   `yaml:"allow_wan"`
	Nodes    []Node `yaml:"nodes"`
}

// Node is one MariaDB server.
type Node struct {
	Name string `yaml:"name"`
	// Region defaults to the cluster's region; set it to place a Galera node elsewhere.
	Region string `yaml:"region"`
	// Address is host:port of a real server; empty in a sandbox topology,
	// where the sandbox assigns loopback ports.
	Address string `yaml:"address"`
	// ServerID is generated (region domain × 100 + position) when zero.
	ServerID uint32 `yaml:"server_id"`
	// GTIDDomainID is a Galera node's own domain for local non-Galera events;
	// generated when zero. Ignored outside Galera, where the region's domain is used.
	GTIDDomainID uint32 `yaml:"gtid_domain_id"`
	// Relay is host:port of the residency relay in front of this node
	// (`meridian relay --node NAME`, run in the node's region): replicas in
	// other regions read the node's binary log only through it, and it
	// drops the row events of personal tables. Required on real servers
	// when the topology declares personal tables; a sandbox runs its own.
	Relay string `yaml:"relay"`
}

// Link declares the round-trip time between two regions.
type Link struct {
	Between [2]string `yaml:"between"`
	RTT     Duration  `yaml:"rtt"`
	// Compress makes the routers of either region use MariaDB's
	// compressed protocol on their own connections to the other region's
	// servers: fewer bytes across the link, for some CPU.
	Compress bool `yaml:"compress"`
}

// Roles names the regions that carry a role in the architecture.
type Roles struct {
	Primary string `yaml:"primary"` // active-passive
	DR      string `yaml:"dr"`      // active-passive
	// Hub is the hub-and-spoke hub. Active-active may name one too (optional):
	// the region where global, shared data such as a catalogue is written.
	Hub string `yaml:"hub"`
	// Controller is where the controller runs (see ControllerRegion).
	Controller string `yaml:"controller"`
}

// Window is one follow-the-sun slot: Region is primary from From to To (UTC,
// "HH:MM"; To may be "24:00"; a window may wrap past midnight).
type Window struct {
	Region string    `yaml:"region"`
	From   ClockTime `yaml:"from"`
	To     ClockTime `yaml:"to"`
}

// Replication holds the settings every async link is created with.
type Replication struct {
	// StrictMode sets gtid_strict_mode (default on).
	StrictMode *bool `yaml:"strict_mode"`
	// ConnectRetry is MASTER_CONNECT_RETRY (default 10 s).
	ConnectRetry Duration `yaml:"connect_retry"`
	// RetryCount is master_retry_count (default 86400, as in the seed).
	RetryCount uint64 `yaml:"retry_count"`
	// HeartbeatPeriod is MASTER_HEARTBEAT_PERIOD (default 1 s).
	HeartbeatPeriod Duration `yaml:"heartbeat_period"`
	// NetTimeout is slave_net_timeout (default 120 s as in the seed).
	NetTimeout Duration `yaml:"net_timeout"`
	// ParallelThreads and ParallelMode set slave_parallel_threads/_mode.
	ParallelThreads uint32 `yaml:"parallel_threads"`
	ParallelMode    string `yaml:"parallel_mode"`
	// Compressed sets slave_compressed_protocol for WAN links.
	Compressed bool `yaml:"compressed"`
	TLS        *TLS `yaml:"tls"`
}

// TLS names the files replication connections use; paths, never contents.
type TLS struct {
	CA               string `yaml:"ca"`
	Cert             string `yaml:"cert"`
	Key              string `yaml:"key"`
	VerifyServerCert bool   `yaml:"verify_server_cert"`
}

// CredentialRef says where secrets come from. The topology never holds a
// password: only the path of a file, and the environment always wins.
type CredentialRef struct {
	File string `yaml:"file"`
}

// Service is a router endpoint: applications of Region connect to Listen
// as they would to MariaDB.
type Service struct {
	Name   string `yaml:"name"`
	Region string `yaml:"region"`
	// Kind is one of ServiceKinds (default readwritesplit).
	Kind string `yaml:"kind"`
	// Listen is host:port; empty means a free loopback port (a sandbox).
	Listen string `yaml:"listen"`
	// Options are the kind's settings, checked by the router.
	Options map[string]any `yaml:"options"`
}

// ServiceKinds are how a service routes: readwritesplit (writes to the
// primary, reads to a nearby replica), readconnroute (each connection to
// one server of a set) and diff (every statement to two servers, answers
// compared).
var ServiceKinds = []string{"readwritesplit", "readconnroute", "diff"}

// Hooks tell operators and other systems about failovers and switchovers
// (the seed's Slack message and DNS update). The webhook URL often holds a
// secret token: it belongs in the file webhook_file names or in
// MERIDIAN_WEBHOOK_URL, never in the topology (webhook is for URLs without
// one).
type Hooks struct {
	// Command runs with the event as JSON on stdin and MERIDIAN_* variables;
	// it is an argv list, never run through a shell.
	Command []string `yaml:"command"`
	// Webhook receives the event as a JSON POST.
	Webhook string `yaml:"webhook"`
	// WebhookFile names a file holding the webhook URL (relative to the
	// topology file's directory).
	WebhookFile string `yaml:"webhook_file"`
	// Timeout bounds each hook (default 5 s).
	Timeout Duration `yaml:"timeout"`
}

// Duration is a time.Duration written as "80ms" in YAML.
type Duration struct{ time.Duration }

// ClockTime is minutes since 00:00 UTC, written "HH:MM"; 24:00 is 1440.
type ClockTime int
