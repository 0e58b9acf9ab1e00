// Package snapshot holds what a controller saw of an estate in one probe
// round, as plain values: the monitor builds them from its probes, the
// failover analysis, the control plane's views, the router's view, the
// API, the metrics and the status table read them. No database code here:
// whoever decides from a snapshot can be tested with one written by hand.
package snapshot

import (
	"maps"
	"slices"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

// Snapshot is everything a controller knows about the estate after one
// probe round. It is a plain value: the API serves it as JSON, the metrics
// collector and the status table read it, and the failover analysis
// decides from it. Pointers mean "unknown" (nil) as opposed to zero.
type Snapshot struct {
	At               time.Time     `json:"at"`
	Topology         string        `json:"topology"`
	Architecture     string        `json:"architecture"`
	ControllerRegion string        `json:"controller_region"`
	Interval         time.Duration `json:"interval_ns"`
	// Primaries is who takes writes in this snapshot's layout (set at run
	// time by failovers and switchovers; zero: the file's choice).
	Primaries topology.Primaries `json:"primaries"`
	Regions   []Region           `json:"regions"`
	Nodes     []Node             `json:"nodes"`
	// WAN is the round trip measured from the controller's region to each
	// other region.
	WAN []WANLink `json:"wan"`
}

// Region is one region and its role in the layout now.
type Region struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	Domain   uint32 `json:"gtid_domain_id"`
	Writable bool   `json:"writable"`
	// LinkNode carries the region's async links (its primary, or its first Galera node).
	LinkNode string `json:"link_node"`
}

// Node is one server as the last probe saw it. When Up is false, ReadOnly,
// the GTID positions and Errant are the last ones known (zero when the node
// never answered), Galera is nil and Replication is empty: unknown.
type Node struct {
	Name        string `json:"name"`
	Region      string `json:"region"`
	Cluster     string `json:"cluster"`
	ClusterKind string `json:"cluster_kind"`
	// Role is what the layout makes of the node: "primary", "replica" or "galera".
	Role string `json:"role"`
	// Writable is what the layout wants; ReadOnly is what the server says.
	Writable bool `json:"writable"`
	// Up: the latest probe read the node, and none since has failed.
	Up bool `json:"up"`
	// Answering is set on a node that is not up but was heard from by its
	// latest probe, or by the one in progress: bytes arrived and the server
	// refused nothing (a reconnection across a slow link, a handshake cut
	// short by a deadline). Failover counts a node as lost only when it is
	// neither up nor answering: refused, reset, or silent past a deadline
	// that accounts for the link's round trip.
	Answering bool   `json:"answering,omitempty"`
	Error     string `json:"error,omitempty"`
	// ProbedAt is when the latest probe began, failed or still running past
	// its timeout included; ProbeRTT is how long it took (a reconnection
	// included) or has run so far. The round trip to a region is in WAN.
	ProbedAt time.Time     `json:"probed_at"`
	ProbeRTT time.Duration `json:"probe_ns"`
	ReadOnly bool          `json:"read_only"`

	GTIDBinlog  string `json:"gtid_binlog_pos"`
	GTIDSlave   string `json:"gtid_slave_pos"`
	GTIDCurrent string `json:"gtid_current_pos"`

	Galera *Galera `json:"galera,omitempty"`
	// Errant lists transaction ranges ("2-201-5..7", or the exact GTID
	// "2-201-5" of a single one) the node has in domains it does not own now
	// and that none of its sources has; the server id is that of the node's
	// latest GTID in the domain. Only nodes with replication channels are
	// checked.
	Errant      []string  `json:"errant,omitempty"`
	Replication []Channel `json:"replication"`
}

// Galera is a Galera member's own view of its cluster.
type Galera struct {
	LocalState        string  `json:"local_state"`
	ClusterSize       int     `json:"cluster_size"`
	ClusterStatus     string  `json:"cluster_status"`
	Ready             bool    `json:"ready"`
	FlowControlPaused float64 `json:"flow_control_paused"`
}

// Channel is one replication connection of a node.
type Channel struct {
	Connection   string `json:"connection"`
	SourceRegion string `json:"source_region"`
	SourceNode   string `json:"source_node"`
	SourceAddr   string `json:"source_addr"`
	IORunning    string `json:"io_running"` // Yes, No or Connecting
	SQLRunning   bool   `json:"sql_running"`
	LastIOErrno  int    `json:"last_io_errno,omitempty"`
	LastIOError  string `json:"last_io_error,omitempty"`
	LastSQLErrno int    `json:"last_sql_errno,omitempty"`
	LastSQLError string `json:"last_sql_error,omitempty"`
	// UsingGTID is MariaDB's Using_Gtid ("Slave_Pos" for every channel
	// Meridian lays out); GTIDIOPos is what the IO thread has received,
	// applied or not — what failover compares candidates by.
	UsingGTID string `json:"using_gtid"`
	GTIDIOPos string `json:"gtid_io_pos"`
	// ReceivedHeartbeats is MariaDB's count of the source's replication
	// heartbeats: with GTIDIOPos, what shows a source still streaming to
	// this replica when Meridian's own heartbeat cannot tell (the
	// controller, which writes it, is cut off from the source).
	ReceivedHeartbeats uint64 `json:"received_heartbeats"`
	// SecondsBehindMaster is MariaDB's own figure: shown, never trusted alone.
	SecondsBehindMaster *int64 `json:"seconds_behind_master"`
	// LagSeconds is the heartbeat lag of the source region's domain: the
	// node's NOW(6) minus the time its copy of that region's heartbeat row
	// was written, to the microsecond. It includes the age of the heartbeat
	// when it was written, a sawtooth between 0 and the heartbeat interval
	// (or the round trip to the writer, when longer). When the source region
	// writes no heartbeats (it is read-only), it is the oldest heartbeat the
	// channel carries from the writable regions upstream: how far the node
	// trails the writes, end to end. Nil when unknown (no heartbeat yet).
	LagSeconds *float64 `json:"lag_seconds"`
	// GTIDLag is, per domain the channel carries, how many transactions the
	// source has logged that this node does not hold; nil when the source is
	// not up.
	GTIDLag map[uint32]uint64 `json:"gtid_lag"`
}

// Healthy reports whether both replication threads run.
func (c Channel) Healthy() bool { return c.IORunning == "Yes" && c.SQLRunning }

// WANLink is a measured round trip from the controller's region.
type WANLink struct {
	From       string   `json:"from_region"`
	To         string   `json:"to_region"`
	RTTSeconds *float64 `json:"rtt_seconds"`
	Error      string   `json:"error,omitempty"`
}

// Node returns the named node of the snapshot.
func (s *Snapshot) Node(name string) (Node, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// Clone is a deep copy: everything a receiver could change.
func (s *Snapshot) Clone() Snapshot {
	c := *s
	c.Primaries.Nodes = maps.Clone(s.Primaries.Nodes)
	c.Regions = slices.Clone(s.Regions)
	c.WAN = slices.Clone(s.WAN)
	for i, l := range c.WAN {
		c.WAN[i].RTTSeconds = clonePtr(l.RTTSeconds)
	}
	c.Nodes = slices.Clone(s.Nodes)
	for i := range c.Nodes {
		n := &c.Nodes[i]
		n.Galera = clonePtr(n.Galera)
		n.Errant = slices.Clone(n.Errant)
		n.Replication = slices.Clone(n.Replication)
		for j := range n.Replication {
			ch := &n.Replication[j]
			ch.SecondsBehindMaster = clonePtr(ch.SecondsBehindMaster)
			ch.LagSeconds = clonePtr(ch.LagSeconds)
			ch.GTIDLag = maps.Clone(ch.GTIDLag)
		}
	}
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
