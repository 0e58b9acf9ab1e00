package node

import (
	"database/sql"
	"reflect"
	"strings"
	"testing"

	"github.com/meridian-geo/meridian/internal/gtid"
)

// replicaRow is a SHOW ALL SLAVES STATUS row as MariaDB 10.11 prints it
// (the columns this package reads, plus one it ignores).
func replicaRow() statusRow {
	v := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	return statusRow{
		"Connection_name":               v("eu"),
		"Slave_IO_State":                v("Waiting for master to send event"),
		"Master_Host":                   v("127.0.0.1"),
		"Master_User":                   v("repl"),
		"Master_Port":                   v("3307"),
		"Connect_Retry":                 v("5"),
		"Slave_IO_Running":              v("Yes"),
		"Slave_SQL_Running":             v("Yes"),
		"Last_IO_Errno":                 v("0"),
		"Last_IO_Error":                 v(""),
		"Last_SQL_Errno":                v("0"),
		"Last_SQL_Error":                v(""),
		"Seconds_Behind_Master":         v("3"),
		"Slave_received_heartbeats":     v("42"),
		"Using_Gtid":                    v("Slave_Pos"),
		"Gtid_IO_Pos":                   v("1-11-5,\n2-21-9"),
		"Relay_Log_File":                v("mariadbd-relay-bin-eu.000002"),
		"Replicate_Do_Domain_Ids":       v("1, 2"),
		"Replicate_Ignore_Domain_Ids":   v(""),
		"Master_SSL_Allowed":            v("No"),
		"Master_SSL_CA_File":            v(""),
		"Master_SSL_Cert":               v(""),
		"Master_SSL_Key":                v(""),
		"Master_SSL_Verify_Server_Cert": v("No"),
	}
}

func TestParseReplicaStatus(t *testing.T) {
	three := int64(3)
	tests := []struct {
		name string
		edit func(statusRow)
		want func(*ReplicaStatus)
	}{
		{"running", func(statusRow) {}, func(*ReplicaStatus) {}},
		{
			"NULL lag is unknown, not zero",
			func(r statusRow) {
				r["Seconds_Behind_Master"] = sql.NullString{}
				r["Slave_IO_Running"] = sql.NullString{String: "Connecting", Valid: true}
				r["Slave_SQL_Running"] = sql.NullString{String: "No", Valid: true}
			},
			func(s *ReplicaStatus) { s.SecondsBehind, s.IORunning, s.SQLRunning = nil, "Connecting", false },
		},
		{
			"SSL and ignore filter",
			func(r statusRow) {
				r["Master_SSL_Allowed"] = sql.NullString{String: "Yes", Valid: true}
				r["Master_SSL_CA_File"] = sql.NullString{String: "/ca.pem", Valid: true}
				r["Master_SSL_Verify_Server_Cert"] = sql.NullString{String: "Yes", Valid: true}
				r["Replicate_Do_Domain_Ids"] = sql.NullString{String: "", Valid: true}
				r["Replicate_Ignore_Domain_Ids"] = sql.NullString{String: "7", Valid: true}
			},
			func(s *ReplicaStatus) {
				s.SSL, s.SSLCA, s.SSLVerifyServerCert = true, "/ca.pem", true
				s.DoDomainIDs, s.IgnoreDomainIDs = nil, []uint32{7}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := replicaRow()
			tt.edit(row)
			want := ReplicaStatus{
				Connection: "eu", SourceHost: "127.0.0.1", SourcePort: 3307, SourceUser: "repl",
				IORunning: "Yes", SQLRunning: true, SecondsBehind: &three, UsingGTID: "Slave_Pos",
				GTIDIOPos:   gtid.Position{1: {Domain: 1, Server: 11, Seq: 5}, 2: {Domain: 2, Server: 21, Seq: 9}},
				DoDomainIDs: []uint32{1, 2}, ConnectRetry: 5, ReceivedHeartbeats: 42, RelayLogFile: "mariadbd-relay-bin-eu.000002",
			}
			tt.want(&want)
			got, err := parseReplicaStatus(row)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseReplicaStatusErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(statusRow)
		want string
	}{
		{"missing column", func(r statusRow) { delete(r, "Gtid_IO_Pos") }, "column Gtid_IO_Pos: missing"},
		{"bad port", func(r statusRow) { r["Master_Port"] = sql.NullString{String: "x", Valid: true} }, "column Master_Port"},
		{"bad lag", func(r statusRow) { r["Seconds_Behind_Master"] = sql.NullString{String: "-", Valid: true} }, "column Seconds_Behind_Master"},
		{"bad position", func(r statusRow) { r["Gtid_IO_Pos"] = sql.NullString{String: "1-2", Valid: true} }, "column Gtid_IO_Pos"},
		{"bad domains", func(r statusRow) {
			r["Replicate_Ignore_Domain_Ids"] = sql.NullString{String: "1, x", Valid: true}
		}, `column Replicate_Ignore_Domain_Ids: domain id "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := replicaRow()
			tt.edit(row)
			_, err := parseReplicaStatus(row)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `connection "eu"`) {
				t.Fatalf("error %v, want one naming connection \"eu\" and %q", err, tt.want)
			}
		})
	}
}

func TestParseDomainIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []uint32
		ok   bool
	}{
		{"", nil, true},
		{"  ", nil, true},
		{"5", []uint32{5}, true},
		{"1, 2,3", []uint32{1, 2, 3}, true},
		{"4294967295", []uint32{4294967295}, true},
		{"4294967296", nil, false},
		{"1,,2", nil, false},
		{"-1", nil, false},
	}
	for _, tt := range tests {
		got, err := parseDomainIDs(tt.in)
		if (err == nil) != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseDomainIDs(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
