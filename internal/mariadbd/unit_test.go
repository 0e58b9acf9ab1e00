package mariadbd

import (
	"strings"
	"testing"
)

func TestRenderConfig(t *testing.T) {
	base := Config{Name: "n1", Dir: "/s/n1", Port: 3307}
	tests := []struct {
		name    string
		cfg     Config
		want    []string // lines that must appear
		wantErr string
	}{
		{
			name: "defaults",
			cfg:  base,
			want: []string{"[mysqld]", "datadir = /s/n1/data", "port = 3307", "bind_address = 127.0.0.1",
				"socket = /s/n1/mariadbd.sock", "pid_file = /s/n1/mariadbd.pid", "log_error = /s/n1/error.log",
				"innodb_buffer_pool_size = 32M", "performance_schema = OFF", "skip_name_resolve = ON"},
		},
		{
			name: "settings override defaults, dashes normalised, bare flags",
			cfg: Config{Name: "n1", Dir: "/s/n1", Port: 3307, Settings: map[string]string{
				"performance-schema": "ON", "log_bin": "", "server_id": "11",
			}},
			want: []string{"performance_schema = ON", "log_bin\n", "server_id = 11"},
		},
		{
			name: "galera",
			cfg: Config{Name: "g1", Dir: "/s/g1", Port: 3307, Galera: &Galera{
				ClusterName: "eu", Members: []string{"127.0.0.1:4567", "127.0.0.1:4568"},
				GCommPort: 4567, ISTPort: 4580, SSTPort: 4590,
			}},
			want: []string{"wsrep_on = ON", "wsrep_provider = /lib/galera.so", "wsrep_cluster_name = eu",
				"wsrep_cluster_address = gcomm://127.0.0.1:4567,127.0.0.1:4568", "wsrep_node_name = g1",
				`wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:4567; ist.recv_addr=127.0.0.1:4580; gcache.size=64M"`,
				"wsrep_sst_receive_address = 127.0.0.1:4590", "wsrep_sst_method = rsync", "binlog_format = ROW",
				"innodb_autoinc_lock_mode = 2"},
		},
		{
			name:    "galera without ports",
			cfg:     Config{Name: "g1", Dir: "/s/g1", Port: 3307, Galera: &Galera{ClusterName: "eu"}},
			wantErr: "galera needs",
		},
		{
			name:    "bad option name",
			cfg:     Config{Name: "n1", Dir: "/s/n1", Port: 3307, Settings: map[string]string{"x y": "1"}},
			wantErr: `setting "x y"`,
		},
		{
			name:    "line break in value",
			cfg:     Config{Name: "n1", Dir: "/s/n1", Port: 3307, Settings: map[string]string{"init_connect": "a\n[client]"}},
			wantErr: "setting init_connect",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := settings(tt.cfg, "/lib/galera.so")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := renderConfig(s)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			if again := renderConfig(s); again != got {
				t.Error("output is not deterministic")
			}
		})
	}
}

func TestQuoteValue(t *testing.T) {
	tests := map[string]string{
		"ROW":        "ROW",
		"a b":        `"a b"`,
		"x#y":        `"x#y"`,
		`say "hi"`:   `'say "hi"'`,
		`C:\dir`:     `C:\\dir`,
		"SET NAMES;": `"SET NAMES;"`,
	}
	for in, want := range tests {
		if got := quoteValue(in); got != want {
			t.Errorf("quoteValue(%q) = %s, want %s", in, got, want)
		}
	}
}

const grastate = `# GALERA saved state
version: 2.1
uuid:    2f8b4c3a-1a2b-11ef-9c6e-2b3c4d5e6f70
seqno:   1234
safe_to_bootstrap: 0
`

func TestParseSeqno(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: grastate, want: 1234},
		{in: strings.Replace(grastate, "1234", "-1", 1), want: -1},
		{in: strings.Replace(grastate, "1234", "x", 1), wantErr: true},
		{in: "version: 2.1\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseSeqno([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSeqno(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMarkSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: grastate, want: strings.Replace(grastate, "safe_to_bootstrap: 0", "safe_to_bootstrap: 1", 1)},
		{in: "seqno: 5", want: "seqno: 5\nsafe_to_bootstrap: 1\n"},
	}
	for _, tt := range tests {
		if got := string(markSafe([]byte(tt.in))); got != tt.want {
			t.Errorf("markSafe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTailLines(t *testing.T) {
	if got := tailLines([]byte("a\nb\nc\n"), 2); got != "b\nc" {
		t.Errorf("got %q", got)
	}
	if got := tailLines([]byte("a"), 5); got != "a" {
		t.Errorf("got %q", got)
	}
}
