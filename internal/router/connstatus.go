package router

import (
	"crypto/tls"
	"regexp"
	"strconv"
	"strings"

	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// Some status variables and functions describe the connection they are
// read on: its TLS cipher and version, whether it is compressed, its id.
// Through the router a backend would describe its own connection to the
// router, so the router answers those for the client's connection:
// SHOW [SESSION] STATUS LIKE 'name' for such a name, and
// SELECT CONNECTION_ID(). Other forms (a pattern, information_schema)
// still describe the backend's connection.

var (
	showStatusLike = regexp.MustCompile(`(?is)^\s*SHOW\s+(?:SESSION\s+|LOCAL\s+)?STATUS\s+LIKE\s+'([A-Za-z_]+)'\s*;?\s*$`)
	selectConnID   = regexp.MustCompile(`(?is)^\s*SELECT\s+CONNECTION_ID\s*\(\s*\)\s*;?\s*$`)
)

// connectionStatus names the status variables that describe the client's
// connection, lower-cased.
var connectionStatus = map[string]bool{"compression": true, "ssl_cipher": true, "ssl_version": true, "ssl_cipher_list": true}

// mayDescribeConnection reports, cheaply, whether sql may be a statement
// connectionAnswer serves.
func mayDescribeConnection(sql string) bool {
	sql = strings.TrimLeft(sql, " \t\r\n")
	return len(sql) > 6 && (strings.EqualFold(sql[:4], "show") || strings.EqualFold(sql[:6], "select")) &&
		(strings.Contains(sql, "'") || strings.Contains(sql, "(")) && len(sql) < 80
}

// connectionAnswer is the router's own answer to a statement about the
// client's connection, or false.
func (s *session) connectionAnswer(sql string) (protocol.TextResult, bool) {
	if m := showStatusLike.FindStringSubmatch(sql); m != nil {
		name := m[1]
		if !connectionStatus[strings.ToLower(name)] {
			return protocol.TextResult{}, false
		}
		return protocol.TextResult{Columns: []string{"Variable_name", "Value"},
			Rows: [][]string{{canonicalStatus(name), s.connectionValue(strings.ToLower(name))}}}, true
	}
	if selectConnID.MatchString(sql) {
		return protocol.TextResult{Columns: []string{"CONNECTION_ID()"}, Rows: [][]string{{strconv.FormatUint(uint64(s.id), 10)}}}, true
	}
	return protocol.TextResult{}, false
}

func canonicalStatus(name string) string {
	switch strings.ToLower(name) {
	case "compression":
		return "Compression"
	case "ssl_cipher":
		return "Ssl_cipher"
	case "ssl_version":
		return "Ssl_version"
	}
	return "Ssl_cipher_list"
}

// connectionValue is a connection-describing status variable's value for
// the client's connection.
func (s *session) connectionValue(name string) string {
	tc, _ := s.client.NetConn().(*tls.Conn)
	switch name {
	case "compression":
		if s.client.Compressed() {
			return "ON"
		}
		return "OFF"
	case "ssl_cipher":
		if tc != nil {
			return tls.CipherSuiteName(tc.ConnectionState().CipherSuite)
		}
	case "ssl_version":
		if tc != nil {
			return tls.VersionName(tc.ConnectionState().Version)
		}
	}
	return ""
}

// answerConnection serves a statement about the client's connection.
func (s *session) answerConnection(req *protocol.Request, r protocol.TextResult) error {
	if err := req.Skip(); err != nil {
		return err
	}
	return r.Write(s.client, s.relay.Layout, s.status&^protocol.StatusSessionStateChange)
}
