package node

import (
	"strings"
	"testing"
	"time"
)

func TestChangeSourceSQL(t *testing.T) {
	base := SourceConfig{Connection: "eu", Host: "127.0.0.1", Port: 3307, User: "repl", Password: "pw"}
	tests := []struct {
		name string
		edit func(*SourceConfig)
		want string
	}{
		{
			name: "defaults clear every optional setting",
			edit: func(*SourceConfig) {},
			want: "CHANGE MASTER 'eu' TO MASTER_HOST='127.0.0.1', MASTER_PORT=3307, MASTER_USER='repl', MASTER_PASSWORD='pw', " +
				"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=60, DO_DOMAIN_IDS=(), IGNORE_DOMAIN_IDS=(), " +
				"MASTER_SSL=0, MASTER_SSL_CA='', MASTER_SSL_CERT='', MASTER_SSL_KEY='', MASTER_SSL_VERIFY_SERVER_CERT=0",
		},
		{
			name: "retry, heartbeat, sorted deduplicated domains, SSL",
			edit: func(s *SourceConfig) {
				s.ConnectRetry = 1500 * time.Millisecond
				s.HeartbeatPeriod = 1234567 * time.Microsecond
				s.DoDomainIDs = []uint32{3, 1, 3}
				s.SSL, s.SSLCA, s.SSLCert, s.SSLKey, s.SSLVerifyServerCert = true, "/tls/ca.pem", "/tls/c.pem", "/tls/k.pem", true
			},
			want: "CHANGE MASTER 'eu' TO MASTER_HOST='127.0.0.1', MASTER_PORT=3307, MASTER_USER='repl', MASTER_PASSWORD='pw', " +
				"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=2, MASTER_HEARTBEAT_PERIOD=1.235, DO_DOMAIN_IDS=(1,3), IGNORE_DOMAIN_IDS=(), " +
				"MASTER_SSL=1, MASTER_SSL_CA='/tls/ca.pem', MASTER_SSL_CERT='/tls/c.pem', MASTER_SSL_KEY='/tls/k.pem', MASTER_SSL_VERIFY_SERVER_CERT=1",
		},
		{
			name: "hostile strings stay literals",
			edit: func(s *SourceConfig) {
				s.Connection = "a'b"
				s.User = `u\`
				s.Password = "p'w\x00\\"
				s.IgnoreDomainIDs = []uint32{7}
				s.ConnectRetry = 3 * time.Second
			},
			want: `CHANGE MASTER 'a\'b' TO MASTER_HOST='127.0.0.1', MASTER_PORT=3307, MASTER_USER='u\\', MASTER_PASSWORD='p\'w\0\\', ` +
				"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=3, DO_DOMAIN_IDS=(), IGNORE_DOMAIN_IDS=(7), " +
				"MASTER_SSL=0, MASTER_SSL_CA='', MASTER_SSL_CERT='', MASTER_SSL_KEY='', MASTER_SSL_VERIFY_SERVER_CERT=0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.edit(&s)
			got, err := changeSourceSQL(s)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			shown, secrets := redact(got)
			if len(secrets) != 1 || !strings.Contains(shown, "MASTER_PASSWORD='***'") || strings.Contains(shown, QuoteString(s.Password)) {
				t.Errorf("redacted form %s", shown)
			}
		})
	}
}

func TestChangeSourceSQLRejects(t *testing.T) {
	base := SourceConfig{Connection: "eu", Host: "h", Port: 3306, User: "repl"}
	tests := []struct {
		name string
		edit func(*SourceConfig)
		want string
	}{
		{"long connection name", func(s *SourceConfig) { s.Connection = strings.Repeat("c", 65) }, "at most 64"},
		{"no host", func(s *SourceConfig) { s.Host = "" }, "host is empty"},
		{"long host", func(s *SourceConfig) { s.Host = strings.Repeat("h", 256) }, "host is 256 bytes"},
		{"port zero", func(s *SourceConfig) { s.Port = 0 }, "port 0"},
		{"port too big", func(s *SourceConfig) { s.Port = 65536 }, "port 65536"},
		{"no user", func(s *SourceConfig) { s.User = "" }, "user is empty"},
		{"long password", func(s *SourceConfig) { s.Password = strings.Repeat("p", 97) }, "password is 97 bytes"},
		{"negative retry", func(s *SourceConfig) { s.ConnectRetry = -time.Second }, "connect retry"},
		{"negative heartbeat", func(s *SourceConfig) { s.HeartbeatPeriod = -time.Second }, "negative"},
		{"tiny heartbeat", func(s *SourceConfig) { s.HeartbeatPeriod = time.Microsecond }, "resolution"},
		{"huge heartbeat", func(s *SourceConfig) { s.HeartbeatPeriod = 4294968 * time.Second }, "maximum"},
		{"both domain filters", func(s *SourceConfig) { s.DoDomainIDs, s.IgnoreDomainIDs = []uint32{1}, []uint32{2} }, "only one"},
		{"SSL files without SSL", func(s *SourceConfig) { s.SSLCA = "/ca.pem" }, "SSL is off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.edit(&s)
			_, err := changeSourceSQL(s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
			if s.Password != "" && strings.Contains(err.Error(), s.Password) {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}
