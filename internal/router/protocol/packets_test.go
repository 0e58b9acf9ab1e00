package protocol

import (
	"bytes"
	"testing"
)

func TestOKRoundTrip(t *testing.T) {
	state := append([]byte{trackSystemVariables, 18, 9}, "last_gtid\x071-101-5"...)
	for _, c := range []struct {
		name   string
		ok     OK
		tracks bool
	}{
		{"plain", OK{AffectedRows: 3, InsertID: 300, Status: StatusAutocommit, Warnings: 1, Info: []byte("Rows matched: 3")}, false},
		{"large numbers", OK{AffectedRows: 1 << 40, InsertID: 70000, Status: StatusInTrans}, false},
		{"tracking, nothing to say", OK{Status: StatusAutocommit}, true},
		{"tracking with state", OK{AffectedRows: 1, Status: StatusAutocommit | StatusSessionStateChange, Info: []byte("x"), SessionState: state}, true},
	} {
		p := c.ok.Append(nil, 0, c.tracks)
		got, err := ParseOK(p, c.tracks)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.AffectedRows != c.ok.AffectedRows || got.InsertID != c.ok.InsertID || got.Status != c.ok.Status ||
			got.Warnings != c.ok.Warnings || !bytes.Equal(got.Info, c.ok.Info) || !bytes.Equal(got.SessionState, c.ok.SessionState) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.ok)
		}
	}
	if g := LastGTID(state); g != "1-101-5" {
		t.Errorf("LastGTID = %q", g)
	}
	if g := LastGTID(append([]byte{1, 5, 4}, "schm"...)); g != "" {
		t.Errorf("LastGTID of a schema change = %q", g)
	}
	if _, err := ParseOK([]byte{0, 0xfc, 1}, false); err == nil {
		t.Error("a truncated OK packet parses")
	}
}

func TestERRRoundTrip(t *testing.T) {
	e := &ServerError{Code: 1045, State: "28000", Message: "Access denied"}
	got, err := ParseERR(AppendERR(nil, e))
	if err != nil || *got != *e {
		t.Errorf("%+v %v", got, err)
	}
}

func TestGreetingRoundTrip(t *testing.T) {
	g := Greeting{Version: "5.5.5-10.11.6-MariaDB-meridian", ConnID: 42, Salt: NewSalt(),
		Caps: ClientProtocol41 | ClientSecureConnection | ClientPluginAuth | ClientDeprecateEOF, ExtCaps: 0,
		Charset: 45, Status: StatusAutocommit, Plugin: NativePassword}
	got, err := ParseGreeting(g.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != g.Version || got.ConnID != g.ConnID || !bytes.Equal(got.Salt, g.Salt) || got.Caps != g.Caps ||
		got.Charset != g.Charset || got.Status != g.Status || got.Plugin != g.Plugin {
		t.Errorf("%+v, want %+v", got, g)
	}
	if _, err := ParseGreeting(AppendERR(nil, &ServerError{Code: 1040, Message: "Too many connections"})); err == nil || err.Error() != "Error 1040 (HY000): Too many connections" {
		t.Errorf("an ERR instead of a greeting: %v", err)
	}
	if _, err := ParseGreeting([]byte{10, 'x', 0, 1}); err == nil {
		t.Error("a truncated greeting parses")
	}
}

func TestHandshakeResponseRoundTrip(t *testing.T) {
	base := ClientProtocol41 | ClientSecureConnection | ClientPluginAuth
	for _, caps := range []uint32{
		base,
		base | ClientConnectWithDB | ClientConnectAttrs | ClientPluginAuthLenencClientData,
		ClientProtocol41 | ClientConnectWithDB,
	} {
		h := HandshakeResponse{Caps: caps, MaxPacket: 1 << 24, Charset: 33, User: "app", Auth: []byte("01234567890123456789"), DB: "shop", Plugin: NativePassword}
		if caps&ClientConnectAttrs != 0 {
			h.Attrs = []byte{3, '_', 'o', 's', 5, 'l', 'i', 'n', 'u', 'x'}
		}
		if caps&(ClientSecureConnection|ClientPluginAuthLenencClientData) == 0 {
			h.Auth = []byte("token")
		}
		got, err := ParseHandshakeResponse(h.Append(nil))
		if err != nil {
			t.Fatalf("caps %#x: %v", caps, err)
		}
		if got.User != h.User || !bytes.Equal(got.Auth, h.Auth) || got.Charset != h.Charset || got.MaxPacket != h.MaxPacket ||
			(caps&ClientConnectWithDB != 0 && got.DB != h.DB) || (caps&ClientPluginAuth != 0 && got.Plugin != h.Plugin) || !bytes.Equal(got.Attrs, h.Attrs) {
			t.Errorf("caps %#x: %+v, want %+v", caps, got, h)
		}
		if IsSSLRequest(h.Append(nil)) {
			t.Errorf("caps %#x: a full response looks like an SSL request", caps)
		}
	}
	ssl := HandshakeResponse{Caps: base, MaxPacket: 1 << 24, Charset: 33}.AppendSSLRequest(nil)
	if !IsSSLRequest(ssl) {
		t.Error("an SSL request is not recognised")
	}
	if _, err := ParseHandshakeResponse([]byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte handshake response parses")
	}
	if _, err := ParseHandshakeResponse(HandshakeResponse{Caps: ClientSecureConnection, User: "u"}.Append(nil)); err == nil {
		t.Error("a client without protocol 4.1 is accepted")
	}
}

func TestParseChangeUser(t *testing.T) {
	caps := ClientProtocol41 | ClientSecureConnection | ClientPluginAuth | ClientConnectAttrs
	p := append([]byte{ComChangeUser}, "other\x00"...)
	p = append(p, 3, 'a', 'b', 'c')
	p = append(p, "db\x00"...)
	p = append(p, 45, 0)
	p = append(p, "mysql_native_password\x00"...)
	p = append(p, 2, 1, 'x')
	cu, err := ParseChangeUser(p, caps)
	if err != nil {
		t.Fatal(err)
	}
	if cu.User != "other" || string(cu.Auth) != "abc" || cu.DB != "db" || cu.Charset != 45 || cu.Plugin != NativePassword || !bytes.Equal(cu.Attrs, []byte{1, 'x'}) {
		t.Errorf("%+v", cu)
	}
	if _, err := ParseChangeUser([]byte{ComChangeUser, 'u', 0, 9, 'a'}, caps); err == nil {
		t.Error("a truncated COM_CHANGE_USER parses")
	}
}
