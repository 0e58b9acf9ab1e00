package router

import "testing"

func TestMatchAccount(t *testing.T) {
	rows := []Account{
		{Host: "%", Plugin: "any"},
		{Host: "10.0.%", Plugin: "net"},
		{Host: "10.0.0.7", Plugin: "exact"},
		{Host: "localhost", Plugin: "socket"},
		{Host: "192.168.1.0/255.255.255.0", Plugin: "mask"},
		{Host: "172.16.0._", Plugin: "one-char"},
	}
	for _, c := range []struct {
		host, want string
	}{
		{"10.0.0.7", "exact"},
		{"10.0.3.4", "net"},
		{"192.168.1.77", "mask"},
		{"192.168.2.77", "any"},
		{"172.16.0.5", "one-char"},
		{"172.16.0.55", "any"},
		{"127.0.0.1", "any"},
	} {
		got, ok := matchAccount(rows, c.host)
		if !ok || got.Plugin != c.want {
			t.Errorf("client at %s matched %q (%v), want %q", c.host, got.Plugin, ok, c.want)
		}
	}
	if _, ok := matchAccount([]Account{{Host: "localhost"}, {Host: "10.%"}}, "127.0.0.1"); ok {
		t.Error("'localhost' and a foreign pattern must not match a TCP client at 127.0.0.1")
	}
}

func TestLikeMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"%", "", true},
		{"a%c", "abbbc", true},
		{"a%c", "abbb", false},
		{"a_c", "abc", true},
		{"a_c", "ac", false},
		{"%.example.com", "db.example.com", true},
		{"", "x", false},
	} {
		if got := likeMatch(c.pattern, c.s); got != c.want {
			t.Errorf("%q LIKE %q = %v", c.s, c.pattern, got)
		}
	}
}
