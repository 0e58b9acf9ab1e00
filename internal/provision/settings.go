package provision

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

// FragmentPath is where ConfigFragment's text belongs on a Debian-style
// server. The 60- prefix sorts it after the distribution's 50-server.cnf, so
// its settings win.
const FragmentPath = "/etc/mysql/mariadb.conf.d/60-meridian.cnf"

// setting is one [mysqld] option a node needs, with the reason it matters.
type setting struct {
	name   string // option and system variable name
	value  string // as written in the option file
	reason string
	kind   valueKind
	// live is the variable's value when the option is in effect, if it is
	// spelt differently from value (log_bin = mysql-bin reads back as ON).
	live string
	// unobserved, when set, says why the running server cannot be compared
	// with this option; it is only written to the option file.
	unobserved string
}

// liveValue is what the system variable reads when the setting is in effect.
func (s setting) liveValue() string {
	if s.live != "" {
		return s.live
	}
	return s.value
}

// ServerSettings are the [mysqld] settings node nodeName needs, keyed by
// option name: what a sandbox writes into its my.cnf and what ConfigFragment
// renders for a real server. read_only follows layout.
func ServerSettings(t *topology.Topology, layout topology.Layout, nodeName string) map[string]string {
	settings := make(map[string]string)
	for _, s := range allSettings(t, nodeName, layout) {
		settings[s.name] = s.value
	}
	return settings
}

// allSettings is every setting of the node in option-file order, read_only
// (which follows the layout) included.
func allSettings(t *topology.Topology, nodeName string, layout topology.Layout) []setting {
	readOnly := "ON"
	if layout.Writable[nodeName] {
		readOnly = "OFF"
	}
	return append(nodeSettings(t, nodeName), setting{
		name: "read_only", value: readOnly, kind: boolValue,
		reason: "only the layout's writable nodes take writes. MariaDB has no super_read_only: " +
			"read_only binds every account without READ_ONLY ADMIN (SUPER implies it), " +
			"which is why the application account has neither; replication and Galera appliers bypass it.",
	})
}

// nodeSettings is every setting of the node that does not depend on time,
// that is all but read_only, which Diff plans as a change of its own.
func nodeSettings(t *topology.Topology, nodeName string) []setting {
	_, cluster, _ := t.Node(nodeName)
	rep := t.Replication
	s := []setting{
		{name: "server_id", value: uintString(t.ServerID(nodeName)), kind: numberValue,
			reason: "unique in the estate: a server skips events carrying its own id, which cuts replication loops, and the id names the writer in every GTID."},
		{name: "log_bin", value: "mysql-bin", live: "ON", kind: boolValue,
			reason: "the binary log is what replicas read; every node keeps one so that any node can become a source after a failover."},
		{name: "binlog_format", value: "ROW", kind: wordValue,
			reason: "row events replay identically on every replica whatever the statement did (Galera requires them)."},
		{name: "binlog_row_image", value: "FULL", kind: wordValue,
			reason: "complete before and after images let conflict detection and checksums compare whole rows."},
		{name: "gtid_domain_id", value: uintString(t.NodeDomain(nodeName)), kind: numberValue,
			reason: domainReason(cluster)},
		{name: "gtid_strict_mode", value: onOff(rep.StrictMode == nil || *rep.StrictMode), kind: boolValue,
			reason: "a replica refuses out-of-order or duplicate GTIDs instead of silently diverging, so errant transactions show up at once."},
		{name: "log_slave_updates", value: "ON", kind: boolValue,
			reason: "replicated transactions go into this server's binlog too, so it can feed the next hop and be promoted with the complete history."},
		{name: "sync_binlog", value: "1", kind: numberValue,
			reason: "the binlog is synced at every commit: after a crash it holds every acknowledged transaction, which replicas and failover rely on."},
		{name: "innodb_flush_log_at_trx_commit", value: "1", kind: numberValue,
			reason: "the redo log is flushed at every commit: a crash loses no acknowledged transaction and InnoDB agrees with the binlog."},
		{name: "expire_logs_days", value: "7", kind: numberValue,
			reason: "binlogs must outlive the longest WAN outage, or a replica cut off for longer can no longer catch up."},
		{name: "max_binlog_size", value: "1G", kind: sizeValue,
			reason: "few large binlog files: rotation and purging stay rare and cheap."},
	}
	if cluster.Kind == topology.Galera {
		regionDomain := uint32(0)
		if r, ok := t.Region(cluster.Region); ok {
			regionDomain = r.GTIDDomainID
		}
		s = append(s,
			setting{name: "wsrep_gtid_mode", value: "ON", kind: boolValue,
				reason: "cluster transactions carry the same GTID on every Galera node, so an async replica can follow any of them."},
			setting{name: "wsrep_gtid_domain_id", value: uintString(regionDomain), kind: numberValue,
				reason: "the cluster's shared domain is its region's: cluster transactions keep their region of origin everywhere they replicate."},
			setting{name: "wsrep_restart_slave", value: "ON", kind: boolValue,
				reason: "a node that drops out of the cluster's primary component stops its async replication without an error; it restarts it when it rejoins, instead of leaving the cross-region link silently stopped."},
		)
	}
	s = append(s,
		setting{name: "slave_net_timeout", value: strconv.FormatInt(int64((rep.NetTimeout.Duration+time.Second-1)/time.Second), 10), kind: numberValue,
			reason: "seconds without data before a replica drops its link and reconnects: long enough for a slow WAN, short enough to notice a partition."},
		setting{name: "master_retry_count", value: uintString(rep.RetryCount), kind: numberValue,
			reason:     "reconnection attempts before a replica gives up; with the connect retry interval it must span a long WAN outage. Read at startup only.",
			unobserved: "a startup option only: MariaDB 10.11 has no such variable and CHANGE MASTER has no MASTER_RETRY_COUNT"},
		setting{name: "slave_parallel_threads", value: uintString(rep.ParallelThreads), kind: numberValue,
			reason: "parallel appliers let a replica keep up with a busy source; changing it live needs every replication connection stopped."},
	)
	if rep.ParallelMode != "" {
		s = append(s, setting{name: "slave_parallel_mode", value: rep.ParallelMode, kind: wordValue,
			reason:     "how far parallel appliers run ahead of the commit order; every replication connection takes it at startup or creation.",
			unobserved: "a per-connection setting: Diff compares each replication connection's mode instead"})
	}
	if rep.Compressed {
		s = append(s, setting{name: "slave_compressed_protocol", value: "ON", kind: boolValue,
			reason: "compress the replication stream: WAN bandwidth is dearer than CPU."})
	}
	if rep.TLS != nil {
		s = append(s, tlsSettings(rep.TLS)...)
	}
	if t.HasPersonalData() {
		s = append(s, setting{name: "innodb_immediate_scrub_data_uncompressed", value: "ON", kind: boolValue,
			reason: "personal tables are declared: InnoDB zeroes a deleted row when it purges it, so an erased user's data does not linger in the tablespace's free space."})
	}
	return s
}

// tlsSettings make the node a TLS server for its replicas, from the files
// replication.tls names for the replica side. Every node is a source and a
// replica (any can be promoted), so one set serves both ends of a link: the
// node presents the same certificate to its replicas and to its source. The
// paths are the same on every host, not the contents: each host holds its
// own certificate there. Without cert and key the server's certificate is
// left to the operator, and only the authority is set.
func tlsSettings(tls *topology.TLS) []setting {
	var s []setting
	if tls.CA != "" {
		s = append(s, setting{name: "ssl_ca", value: tls.CA, kind: pathValue,
			reason: "the authority of the estate's certificates (replication.tls.ca): the server checks the certificates replicas present against it, as replicas check this server's."})
	}
	if tls.Cert != "" {
		s = append(s,
			setting{name: "ssl_cert", value: tls.Cert, kind: pathValue,
				reason: "the certificate this server presents to its replicas: replication.tls.cert, which it also presents to its own source, since every node is both. " +
					"Each host keeps its own at this path, issued for the names replicas reach it by (verify_server_cert checks them) and valid for both server and client authentication."},
			setting{name: "ssl_key", value: tls.Key, kind: pathValue,
				reason: "the private key of ssl_cert (replication.tls.key), readable by the server's user only. " +
					"A server that cannot read one of these files refuses to start."},
		)
	}
	return s
}

func domainReason(c topology.Cluster) string {
	if c.Kind == topology.Galera {
		return "this node's own domain, for events written outside the cluster's replication; cluster transactions use wsrep_gtid_domain_id, so the domains never collide."
	}
	return "the region's domain: every transaction keeps the region it was written in, so positions compare per region and active-active links can filter by origin."
}

// ConfigFragment is the option file text that gives a real server the
// settings of ServerSettings, each with the reason it matters.
func ConfigFragment(t *topology.Topology, nodeName string) string {
	return configFragment(t, nodeName, time.Now())
}

func configFragment(t *topology.Topology, nodeName string, now time.Time) string {
	n, cluster, _ := t.Node(nodeName)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", FragmentPath)
	writeComment(&b, "", fmt.Sprintf("Written by Meridian for node %s (region %s, %s cluster %s) of topology %q. "+
		"Meridian sets what it can live; the settings a running server cannot change take effect at the next restart, "+
		"and `meridian plan` names them. MariaDB knows neither super_read_only nor slave_reconnect_timeout: "+
		"do not add them, the server would refuse to start.",
		n.Name, t.NodeRegion(nodeName), cluster.Kind, cluster.Name, t.Name))
	b.WriteString("\n[mysqld]\n")
	for i, s := range allSettings(t, nodeName, t.Layout(now)) {
		if i > 0 {
			b.WriteString("\n")
		}
		writeComment(&b, s.name+": ", s.reason)
		fmt.Fprintf(&b, "%s = %s\n", s.name, s.value)
	}
	return b.String()
}

// writeComment writes prefix+text as "# " lines of at most 78 columns.
func writeComment(b *strings.Builder, prefix, text string) {
	line := "#"
	for _, word := range strings.Fields(prefix + text) {
		if len(line)+1+len(word) > 78 && line != "#" {
			b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + word
	}
	b.WriteString(line + "\n")
}

func uintString[T uint32 | uint64](v T) string { return strconv.FormatUint(uint64(v), 10) }

func onOff(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}
