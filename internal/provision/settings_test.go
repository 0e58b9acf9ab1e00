package provision

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestServerSettings(t *testing.T) {
	tests := []struct {
		name, yaml, node string
		want             map[string]string
		absent           []string
	}{
		{"primary", activePassiveYAML, "eu-1", map[string]string{
			"server_id": "101", "gtid_domain_id": "1", "log_bin": "mysql-bin", "log_slave_updates": "ON",
			"binlog_format": "ROW", "binlog_row_image": "FULL", "gtid_strict_mode": "ON", "sync_binlog": "1",
			"innodb_flush_log_at_trx_commit": "1", "expire_logs_days": "7", "max_binlog_size": "1G",
			"slave_net_timeout": "120", "master_retry_count": "86400", "slave_parallel_threads": "4",
			"slave_parallel_mode": "optimistic", "read_only": "OFF",
		}, []string{"slave_compressed_protocol", "wsrep_gtid_mode", "super_read_only", "ssl_ca", "ssl_cert", "ssl_key"}},
		{"replica", activePassiveYAML, "eu-2", map[string]string{"server_id": "102", "gtid_domain_id": "1", "read_only": "ON"}, nil},
		{"dr", activePassiveYAML, "us-1", map[string]string{"server_id": "201", "gtid_domain_id": "2", "read_only": "ON"}, nil},
		{"galera", galeraYAML, "eu-2", map[string]string{
			"server_id": "102", "gtid_domain_id": "1002", "wsrep_gtid_mode": "ON", "wsrep_gtid_domain_id": "1",
			"read_only": "OFF", "slave_compressed_protocol": "ON",
			"ssl_ca": "/etc/mysql/ssl/ca.pem", "ssl_cert": "/etc/mysql/ssl/client.pem", "ssl_key": "/etc/mysql/ssl/client.key",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo := parseTopology(t, tt.yaml)
			got := ServerSettings(topo, topo.Layout(time.Now()), tt.node)
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s is set", k)
				}
			}
		})
	}
}

// The option file fragments are compared with testdata/*.cnf; run with
// -update to rewrite them after a deliberate change.
func TestConfigFragment(t *testing.T) {
	tests := []struct{ golden, yaml, node string }{
		{"active-passive-eu-1.cnf", activePassiveYAML, "eu-1"},
		{"active-passive-us-1.cnf", activePassiveYAML, "us-1"},
		{"galera-eu-2.cnf", galeraYAML, "eu-2"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := configFragment(parseTopology(t, tt.yaml), tt.node, noon)
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("fragment differs from %s (run go test -update to accept):\n%s", path, got)
			}
		})
	}
}
