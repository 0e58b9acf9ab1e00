package api

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-geo/meridian/internal/snapshot"
)

// snapshotCollector turns the current snapshot into constant metrics at
// scrape time, so a node or channel that left the estate leaves /metrics
// with it instead of lingering as a stale gauge. Unknown values (a nil
// pointer in the snapshot, a down node's read_only) are left out rather than
// reported as zero: absent means unknown, 0 means measured 0.
type snapshotCollector struct{ src SnapshotSource }

var (
	nodeLabels    = []string{"region", "node"}
	channelLabels = []string{"source_region", "target_region", "node", "connection"}

	snapshotTimestamp = prometheus.NewDesc("meridian_snapshot_timestamp_seconds",
		"Unix time the last probe round finished; absent before the first one.", nil, nil)
	nodeUp = prometheus.NewDesc("meridian_node_up",
		"1 when the last probe reached the node, 0 when it failed.", nodeLabels, nil)
	nodeReadOnly = prometheus.NewDesc("meridian_node_read_only",
		"1 when the server reports read_only=ON, 0 when OFF; absent while the node is down.", nodeLabels, nil)
	nodeDesiredWritable = prometheus.NewDesc("meridian_node_desired_writable",
		"1 when the layout wants the node to take writes, 0 when it wants it read-only.", nodeLabels, nil)
	nodeProbeDuration = prometheus.NewDesc("meridian_node_probe_duration_seconds",
		"How long the last probe of the node took, failed or not.", nodeLabels, nil)
	errantTransactions = prometheus.NewDesc("meridian_gtid_errant_transactions",
		"Transactions the node has in domains it does not own and none of its sources has (sum of the errant ranges' lengths); absent while the node is down.", nodeLabels, nil)
	galeraClusterSize = prometheus.NewDesc("meridian_galera_cluster_size",
		"Members of the Galera cluster as this node sees it (wsrep_cluster_size).", nodeLabels, nil)
	galeraFlowControlPaused = prometheus.NewDesc("meridian_galera_flow_control_paused",
		"Fraction of time the node was paused by Galera flow control (wsrep_flow_control_paused).", nodeLabels, nil)
	replicationIORunning = prometheus.NewDesc("meridian_replication_io_running",
		"1 when the channel's IO thread is running (Slave_IO_Running=Yes), 0 when it is stopped or still connecting.", channelLabels, nil)
	replicationSQLRunning = prometheus.NewDesc("meridian_replication_sql_running",
		"1 when the channel's SQL thread is running, 0 when it is stopped.", channelLabels, nil)
	replicationLag = prometheus.NewDesc("meridian_replication_lag_seconds",
		"Heartbeat lag of the source region's domain on this channel; absent when unknown.", channelLabels, nil)
	replicationSecondsBehind = prometheus.NewDesc("meridian_replication_seconds_behind_master",
		"MariaDB's own Seconds_Behind_Master for the channel; absent when it reports NULL.", channelLabels, nil)
	replicationGTIDLag = prometheus.NewDesc("meridian_replication_gtid_lag_transactions",
		"Transactions the channel's source has logged in the domain that the node has not applied.",
		append(append([]string{}, channelLabels...), "domain"), nil)
	linkRTT = prometheus.NewDesc("meridian_link_rtt_seconds",
		"Round trip measured from the controller's region to another region; absent when the measurement failed.",
		[]string{"from_region", "to_region"}, nil)
)

func (snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		snapshotTimestamp, nodeUp, nodeReadOnly, nodeDesiredWritable, nodeProbeDuration,
		errantTransactions, galeraClusterSize, galeraFlowControlPaused,
		replicationIORunning, replicationSQLRunning, replicationLag,
		replicationSecondsBehind, replicationGTIDLag, linkRTT,
	} {
		ch <- d
	}
}

func (c snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	if s.At.IsZero() {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(snapshotTimestamp, float64(s.At.UnixNano())/1e9)
	for _, n := range s.Nodes {
		collectNode(ch, gauge, n)
	}
	for _, l := range s.WAN {
		if l.RTTSeconds != nil {
			gauge(linkRTT, *l.RTTSeconds, l.From, l.To)
		}
	}
}

func collectNode(ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string), n snapshot.Node) {
	gauge(nodeUp, boolValue(n.Up), n.Region, n.Name)
	gauge(nodeDesiredWritable, boolValue(n.Writable), n.Region, n.Name)
	if !n.ProbedAt.IsZero() {
		gauge(nodeProbeDuration, n.ProbeRTT.Seconds(), n.Region, n.Name)
	}
	if !n.Up {
		return
	}
	gauge(nodeReadOnly, boolValue(n.ReadOnly), n.Region, n.Name)
	if errant, err := errantCount(n.Errant); err != nil {
		ch <- prometheus.NewInvalidMetric(errantTransactions, fmt.Errorf("node %s: %w", n.Name, err))
	} else {
		gauge(errantTransactions, float64(errant), n.Region, n.Name)
	}
	if g := n.Galera; g != nil {
		gauge(galeraClusterSize, float64(g.ClusterSize), n.Region, n.Name)
		gauge(galeraFlowControlPaused, g.FlowControlPaused, n.Region, n.Name)
	}
	for _, c := range n.Replication {
		labels := []string{c.SourceRegion, n.Region, n.Name, c.Connection}
		gauge(replicationIORunning, boolValue(c.IORunning == "Yes"), labels...)
		gauge(replicationSQLRunning, boolValue(c.SQLRunning), labels...)
		if c.LagSeconds != nil {
			gauge(replicationLag, *c.LagSeconds, labels...)
		}
		if c.SecondsBehindMaster != nil {
			gauge(replicationSecondsBehind, float64(*c.SecondsBehindMaster), labels...)
		}
		for domain, behind := range c.GTIDLag {
			gauge(replicationGTIDLag, float64(behind), append(labels, strconv.FormatUint(uint64(domain), 10))...)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// errantCount sums the lengths of errant ranges written "domain-from..to"
// or "domain-seq" (an optional server id between domain and sequence numbers
// is accepted too, as in "2-201-5..7").
func errantCount(ranges []string) (uint64, error) {
	var total uint64
	for _, r := range ranges {
		dash := strings.LastIndexByte(r, '-')
		if dash <= 0 {
			return 0, fmt.Errorf("errant range %q: want domain-from..to", r)
		}
		fromText, toText, isRange := strings.Cut(r[dash+1:], "..")
		if !isRange {
			toText = fromText
		}
		from, err := strconv.ParseUint(fromText, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("errant range %q: %w", r, err)
		}
		to, err := strconv.ParseUint(toText, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("errant range %q: %w", r, err)
		}
		if to < from {
			return 0, fmt.Errorf("errant range %q: ends before it starts", r)
		}
		total += to - from + 1
	}
	return total, nil
}
