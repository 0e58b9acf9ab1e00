package mariadbd

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Config describes one node.
type Config struct {
	Name     string            // node name (logs)
	Dir      string            // node dir: data/, my.cnf, mariadbd.pid, mariadbd.sock, error.log live here
	Port     int               // TCP port on 127.0.0.1
	Settings map[string]string // extra [mysqld] settings; they override the defaults; "" writes a bare flag
	Galera   *Galera
}

// Galera makes the node a member of a Galera cluster on loopback.
//
// Start a new cluster with Bootstrap on exactly one node and wait for Start to return
// (the node is Synced) before starting the joiners, one at a time: concurrent state
// transfers from one donor are slow and can fail. The caller sequences the nodes.
type Galera struct {
	ClusterName                 string
	Bootstrap                   bool     // start with --wsrep-new-cluster (first node of a new cluster)
	Members                     []string // gcomm host:port of all members (self included)
	GCommPort, ISTPort, SSTPort int
}

// File names inside a node directory.
const (
	dataDirName = "data"
	cnfName     = "my.cnf"
	pidName     = "mariadbd.pid"
	socketName  = "mariadbd.sock"
	logName     = "error.log"
	tmpName     = "tmp"
)

// The redo log is sized down from the 96M default so that copying a fresh data
// directory (and a Galera rsync SST) stays cheap. It must be the same in the
// template and in my.cnf, or every first start resizes the log.
const redoLogSize = "16M"

// unixSocketMax is sun_path's size on Linux, terminating NUL included.
const unixSocketMax = 108

// Paths of one node.
func dataDir(dir string) string { return filepath.Join(dir, dataDirName) }
func cnfPath(dir string) string { return filepath.Join(dir, cnfName) }
func pidPath(dir string) string { return filepath.Join(dir, pidName) }
func logPath(dir string) string { return filepath.Join(dir, logName) }

// tmpPath is the node's own tmpdir. Never the shared /tmp: another
// process there removed a server's internal temporary tables
// (#sql-temptable-*.MAI) while it used them, failing information_schema
// queries and crashing the server (seen on the shared build machines).
func tmpPath(dir string) string { return filepath.Join(dir, tmpName) }

// SocketPath is the unix socket of the node living in dir.
func SocketPath(dir string) string { return filepath.Join(dir, socketName) }

var settingName = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)

// settings merges the defaults, the Galera settings and cfg.Settings (which win).
// Names are normalised to underscores so that "log-bin" overrides "log_bin".
func settings(cfg Config, galeraLib string) (map[string]string, error) {
	s := map[string]string{
		"datadir":                 dataDir(cfg.Dir),
		"port":                    strconv.Itoa(cfg.Port),
		"bind_address":            "127.0.0.1",
		"socket":                  SocketPath(cfg.Dir),
		"pid_file":                pidPath(cfg.Dir),
		"log_error":               logPath(cfg.Dir),
		"tmpdir":                  tmpPath(cfg.Dir),
		"innodb_buffer_pool_size": "32M",
		"innodb_log_file_size":    redoLogSize,
		"performance_schema":      "OFF",
		"skip_name_resolve":       "ON",
	}
	if g := cfg.Galera; g != nil {
		if galeraLib == "" {
			return nil, fmt.Errorf("node %s: Galera provider library not found: install it with: %s", cfg.Name, installHint)
		}
		if g.ClusterName == "" || len(g.Members) == 0 || g.GCommPort == 0 || g.ISTPort == 0 || g.SSTPort == 0 {
			return nil, fmt.Errorf("node %s: galera needs ClusterName, Members, GCommPort, ISTPort and SSTPort", cfg.Name)
		}
		s["wsrep_on"] = "ON"
		s["wsrep_provider"] = galeraLib
		s["wsrep_cluster_name"] = g.ClusterName
		s["wsrep_cluster_address"] = "gcomm://" + strings.Join(g.Members, ",")
		s["wsrep_node_address"] = "127.0.0.1"
		s["wsrep_node_name"] = cfg.Name
		s["wsrep_provider_options"] = fmt.Sprintf(
			"gmcast.listen_addr=tcp://127.0.0.1:%d; ist.recv_addr=127.0.0.1:%d; gcache.size=64M",
			g.GCommPort, g.ISTPort)
		s["wsrep_sst_receive_address"] = fmt.Sprintf("127.0.0.1:%d", g.SSTPort)
		s["wsrep_sst_method"] = "rsync"
		s["binlog_format"] = "ROW"
		s["default_storage_engine"] = "InnoDB"
		s["innodb_autoinc_lock_mode"] = "2"
	}
	for k, v := range cfg.Settings {
		name := strings.ReplaceAll(strings.TrimSpace(k), "-", "_")
		if !settingName.MatchString(name) {
			return nil, fmt.Errorf("node %s: setting %q: not a valid option name", cfg.Name, k)
		}
		if strings.ContainsAny(v, "\n\r") || strings.Contains(v, `"`) && strings.Contains(v, "'") {
			return nil, fmt.Errorf("node %s: setting %s: value cannot be written to my.cnf (line break, or both quote kinds)", cfg.Name, k)
		}
		s[name] = v
	}
	return s, nil
}

// renderConfig is the my.cnf text: one [mysqld] group, names sorted.
func renderConfig(s map[string]string) string {
	var b strings.Builder
	b.WriteString("# Written by meridian; rewritten on every start.\n[mysqld]\n")
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if v := s[k]; v == "" {
			b.WriteString(k + "\n")
		} else {
			b.WriteString(k + " = " + quoteValue(v) + "\n")
		}
	}
	return b.String()
}

// quoteValue protects values that the option-file parser would otherwise cut at a
// comment character or trim. Backslash starts an escape sequence in option files.
func quoteValue(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	switch {
	case !strings.ContainsAny(v, " \t#;\"'"):
		return v
	case strings.Contains(v, `"`):
		return "'" + v + "'"
	default:
		return `"` + v + `"`
	}
}
