package node

import (
	"slices"
	"strings"
	"testing"
)

func TestQuoteString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `''`},
		{"plain", `'plain'`},
		{"it's", `'it\'s'`},
		{`a\b`, `'a\\b'`},
		{`\'`, `'\\\''`},
		{"nul\x00byte", `'nul\0byte'`},
		{"line\nbreak\r", `'line\nbreak\r'`},
		{"ctrl-z\x1a", `'ctrl-z\Z'`},
		{`say "hi"`, `'say \"hi\"'`},
		{"'; DROP TABLE t; --", `'\'; DROP TABLE t; --'`},
		{"żółw", `'żółw'`},
	}
	for _, tt := range tests {
		if got := QuoteString(tt.in); got != tt.want {
			t.Errorf("QuoteString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestCheckConnection(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"", true}, // the default connection
		{"eu-west", true},
		{"it's", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("é", 64), true},
		{strings.Repeat("x", 65), false},
		{"new\nline", false},
		{"nul\x00", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		if err := checkConnection(tt.name); (err == nil) != tt.ok {
			t.Errorf("checkConnection(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestCheckVariable(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"read_only", true},
		{"gtid_slave_pos", true},
		{"_x1", true},
		{"", false},
		{"1abc", false},
		{"Read_Only", false},
		{"read_only = 1; DROP", false},
		{"a.b", false},
	}
	for _, tt := range tests {
		if err := checkVariable(tt.name); (err == nil) != tt.ok {
			t.Errorf("checkVariable(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestValueLiteral(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1", "1"},
		{"-5", "-5"},
		{"0.25", "0.25"},
		{"ON", "ON"},
		{"off", "off"},
		{"", "''"},
		{"1e5", "'1e5'"},
		{"0-1-5,1-2-3", "'0-1-5,1-2-3'"},
		{"ROW", "'ROW'"},
		{"1; SET GLOBAL x=1", "'1; SET GLOBAL x=1'"},
	}
	for _, tt := range tests {
		if got := valueLiteral(tt.in); got != tt.want {
			t.Errorf("valueLiteral(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		stmt, want string
		secrets    []string
	}{
		{"CREATE USER 'r'@'%' IDENTIFIED BY 's3cr\\'et'", "CREATE USER 'r'@'%' IDENTIFIED BY '***'", []string{"s3cr\\'et"}},
		{"ALTER USER r IDENTIFIED VIA ed25519 USING PASSWORD('x''y')", "ALTER USER r IDENTIFIED VIA ed25519 USING PASSWORD('***')", []string{"x''y"}},
		{"CREATE USER r IDENTIFIED BY PASSWORD '*ABC'", "CREATE USER r IDENTIFIED BY PASSWORD '***'", []string{"*ABC"}},
		{"CHANGE MASTER 'c' TO MASTER_USER='u', MASTER_PASSWORD='p,\\\\', MASTER_PORT=1", "CHANGE MASTER 'c' TO MASTER_USER='u', MASTER_PASSWORD='***', MASTER_PORT=1", []string{`p,\\`}},
		{"SET PASSWORD FOR r = PASSWORD('pw'), x = password ( 'q' )", "SET PASSWORD FOR r = PASSWORD('***'), x = password ( '***' )", []string{"pw", "q"}},
		{"CREATE USER r IDENTIFIED BY ''", "CREATE USER r IDENTIFIED BY '***'", nil},
		{"GRANT REPLICATION SLAVE ON *.* TO 'r'@'%'", "GRANT REPLICATION SLAVE ON *.* TO 'r'@'%'", nil},
	}
	for _, tt := range tests {
		got, secrets := redact(tt.stmt)
		if got != tt.want || !slices.Equal(secrets, tt.secrets) {
			t.Errorf("redact(%q) = %q, %q; want %q, %q", tt.stmt, got, secrets, tt.want, tt.secrets)
		}
	}
}

func TestScrub(t *testing.T) {
	secrets := []string{"hunter2"}
	tests := []struct{ msg, want string }{
		{
			"Error 1064 (42000): You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'IDENTIFIED BY 'hunt' at line 1",
			"Error 1064 (42000): You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '***' at line 1",
		},
		{
			"Error 1470 (HY000): String 'hunter2hunter2hunter2...' is too long for MASTER_PASSWORD (should be no longer than 96)",
			"Error 1470 (HY000): String '***' is too long for MASTER_PASSWORD (should be no longer than 96)",
		},
		{
			"Error 1198 (HY000): This operation cannot be performed as you have a running slave 'eu'; run STOP SLAVE 'eu' first",
			"Error 1198 (HY000): This operation cannot be performed as you have a running slave 'eu'; run STOP SLAVE 'eu' first",
		},
		{"Error 1: unexpected hunter2", "Error 1: unexpected ***"},
	}
	for _, tt := range tests {
		if got := scrub(tt.msg, secrets); got != tt.want {
			t.Errorf("scrub(%q)\n got %q\nwant %q", tt.msg, got, tt.want)
		}
		if got := scrub(tt.msg, nil); got != tt.msg {
			t.Errorf("scrub without secrets changed %q", tt.msg)
		}
	}
}
