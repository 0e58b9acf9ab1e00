package gtid

import (
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
)

func mustParse(t *testing.T, s string) Position {
	t.Helper()
	p, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return p
}

func TestParseGTID(t *testing.T) {
	tests := []struct {
		in      string
		want    GTID
		wantErr string
	}{
		{in: "0-1-42", want: GTID{Domain: 0, Server: 1, Seq: 42}},
		{in: " 1-11-5\n", want: GTID{Domain: 1, Server: 11, Seq: 5}},
		{in: "0-0-0", want: GTID{}},
		{in: "007-1-1", want: GTID{Domain: 7, Server: 1, Seq: 1}},
		{in: "4294967295-4294967295-18446744073709551615", want: GTID{Domain: math.MaxUint32, Server: math.MaxUint32, Seq: math.MaxUint64}},
		{in: "", wantErr: `gtid "": want domain-server-seq`},
		{in: "1-2", wantErr: `gtid "1-2": want domain-server-seq`},
		{in: "1-2-3-4", wantErr: `gtid "1-2-3-4": want domain-server-seq`},
		{in: "1-x-3", wantErr: `gtid "1-x-3": server id: "x" is not an unsigned decimal number`},
		{in: "x-1-3", wantErr: `gtid "x-1-3": domain id: "x" is not an unsigned decimal number`},
		{in: "1-1-x", wantErr: `gtid "1-1-x": sequence number: "x" is not an unsigned decimal number`},
		{in: "-1-1-1", wantErr: `gtid "-1-1-1": want domain-server-seq`},
		{in: "+1-1-1", wantErr: `gtid "+1-1-1": domain id: "+1" is not an unsigned decimal number`},
		{in: "1_0-1-1", wantErr: `domain id: "1_0" is not an unsigned decimal number`},
		{in: "0x1-1-1", wantErr: `domain id: "0x1" is not an unsigned decimal number`},
		{in: "1 -1-1", wantErr: `domain id: "1 " is not an unsigned decimal number`},
		{in: "1--1", wantErr: `server id: "" is not an unsigned decimal number`},
		{in: "4294967296-1-1", wantErr: `gtid "4294967296-1-1": domain id: "4294967296" overflows uint32`},
		{in: "1-4294967296-1", wantErr: `gtid "1-4294967296-1": server id: "4294967296" overflows uint32`},
		{in: "1-1-18446744073709551616", wantErr: `gtid "1-1-18446744073709551616": sequence number: "18446744073709551616" overflows uint64`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseGTID(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseGTID(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseGTID(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseGTID(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestGTIDString(t *testing.T) {
	g := GTID{Domain: 0, Server: 1, Seq: 42}
	if got := g.String(); got != "0-1-42" {
		t.Fatalf("String() = %q, want %q", got, "0-1-42")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // canonical String() of the result
		wantErr string
	}{
		{name: "empty", in: "", want: ""},
		{name: "blank", in: " \n\t", want: ""},
		{name: "single", in: "0-1-42", want: "0-1-42"},
		{name: "sorted on print", in: "2-21-9,1-11-5", want: "1-11-5,2-21-9"},
		{name: "show slave status newline", in: "1-11-5,\n2-21-9", want: "1-11-5,2-21-9"},
		{name: "spaces", in: " 1-11-5 , 2-21-9 ", want: "1-11-5,2-21-9"},
		{name: "bad element named", in: "1-11-5,1-x-3", wantErr: `gtid "1-x-3": server id: "x" is not an unsigned decimal number`},
		{name: "bad element trimmed", in: "1-11-5,\n2-21-x", wantErr: `gtid "2-21-x": sequence number:`},
		{name: "duplicate domain", in: "1-11-5,1-12-9", wantErr: `gtid "1-12-9": domain 1 already listed as "1-11-5"`},
		{name: "trailing comma", in: "1-11-5,", wantErr: `gtid position "1-11-5,": element 2 is empty`},
		{name: "leading comma", in: ",1-11-5", wantErr: `element 1 is empty`},
		{name: "double comma", in: "1-11-5,,2-21-9", wantErr: `element 2 is empty`},
		{name: "lone comma", in: ",", wantErr: `element 1 is empty`},
		{name: "semicolon", in: "1-11-5;2-21-9", wantErr: `gtid "1-11-5;2-21-9": want domain-server-seq`},
		{name: "overflow", in: "0-1-1,4294967296-1-1", wantErr: `gtid "4294967296-1-1": domain id: "4294967296" overflows uint32`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				if got != nil {
					t.Fatalf("Parse(%q) = %v with error, want nil", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got == nil {
				t.Fatalf("Parse(%q) = nil, want non-nil position", tt.in)
			}
			if s := got.String(); s != tt.want {
				t.Fatalf("Parse(%q).String() = %q, want %q", tt.in, s, tt.want)
			}
			for d, g := range got {
				if g.Domain != d {
					t.Fatalf("Parse(%q): key %d holds %v", tt.in, d, g)
				}
			}
		})
	}
}

func TestDomainsAndSeq(t *testing.T) {
	p := mustParse(t, "7-1-3,0-2-10,3-9-1")
	if got, want := p.Domains(), []uint32{0, 3, 7}; !slices.Equal(got, want) {
		t.Fatalf("Domains() = %v, want %v", got, want)
	}
	for _, tt := range []struct {
		domain uint32
		want   uint64
	}{{0, 10}, {3, 1}, {7, 3}, {5, 0}} {
		if got := p.Seq(tt.domain); got != tt.want {
			t.Errorf("Seq(%d) = %d, want %d", tt.domain, got, tt.want)
		}
	}
	var empty Position
	if got := empty.Domains(); len(got) != 0 {
		t.Fatalf("nil Position Domains() = %v, want none", got)
	}
}

func TestContains(t *testing.T) {
	tests := []struct {
		p, q string
		want bool
	}{
		{"", "", true},
		{"1-1-5", "", true},
		{"", "1-1-5", false},
		{"", "1-1-0", true}, // seq 0 means nothing applied yet in that domain
		{"1-1-5", "1-1-5", true},
		{"1-1-5", "1-2-5", true}, // server id takes no part in ordering
		{"1-1-5", "1-1-4", true},
		{"1-1-4", "1-1-5", false},
		{"1-1-5,2-2-9", "2-2-9", true},
		{"1-1-5,2-2-8", "1-1-5,2-2-9", false},
		{"1-1-5", "1-1-5,2-2-1", false},
		{"1-1-100", "1-1-5,2-2-1", false}, // never summed across domains
	}
	for _, tt := range tests {
		p, q := mustParse(t, tt.p), mustParse(t, tt.q)
		if got := p.Contains(q); got != tt.want {
			t.Errorf("%q.Contains(%q) = %v, want %v", tt.p, tt.q, got, tt.want)
		}
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want map[uint32]int
	}{
		{"", "", map[uint32]int{}},
		{"1-1-5", "1-1-5", map[uint32]int{1: 0}},
		{"1-1-5", "1-2-5", map[uint32]int{1: 0}},
		{"1-1-6,2-2-3", "1-1-5,2-2-4", map[uint32]int{1: 1, 2: -1}},
		{"1-1-5", "2-2-1", map[uint32]int{1: 1, 2: -1}},
		{"1-1-0", "", map[uint32]int{1: 0}},
	}
	for _, tt := range tests {
		got := Compare(mustParse(t, tt.a), mustParse(t, tt.b))
		if !maps.Equal(got, tt.want) {
			t.Errorf("Compare(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRangeString(t *testing.T) {
	tests := []struct {
		r    Range
		want string
	}{
		{Range{Domain: 1, From: 5, To: 9}, "1-5..9"},
		{Range{Domain: 1, From: 7, To: 7}, "1-7"},
		{Range{Domain: 0, From: 1, To: math.MaxUint64}, "0-1..18446744073709551615"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestSubtract(t *testing.T) {
	tests := []struct {
		p, q string
		want []Range
	}{
		{"", "", nil},
		{"1-1-5", "1-1-5", nil},
		{"1-1-5", "1-1-9", nil},
		{"1-1-9", "1-1-5", []Range{{Domain: 1, From: 6, To: 9}}},
		{"1-1-6", "1-1-5", []Range{{Domain: 1, From: 6, To: 6}}},
		{"1-1-3", "", []Range{{Domain: 1, From: 1, To: 3}}},
		{"1-1-0", "", nil},
		{
			"3-3-4,1-1-9,2-2-2", "1-1-5,2-2-7",
			[]Range{{Domain: 1, From: 6, To: 9}, {Domain: 3, From: 1, To: 4}},
		},
	}
	for _, tt := range tests {
		got := mustParse(t, tt.p).Subtract(mustParse(t, tt.q))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q.Subtract(%q) = %v, want %v", tt.p, tt.q, got, tt.want)
		}
	}
}

func TestLag(t *testing.T) {
	tests := []struct {
		p, q string
		want map[uint32]uint64
	}{
		{"", "", map[uint32]uint64{}},
		{"1-1-9", "1-1-5", map[uint32]uint64{1: 4}},
		{"1-1-5", "1-1-9", map[uint32]uint64{1: 0}},
		{"1-1-9,2-2-3", "1-1-9,3-3-7", map[uint32]uint64{1: 0, 2: 3, 3: 0}},
		{"0-1-18446744073709551615", "", map[uint32]uint64{0: math.MaxUint64}},
	}
	for _, tt := range tests {
		got := mustParse(t, tt.p).Lag(mustParse(t, tt.q))
		if !maps.Equal(got, tt.want) {
			t.Errorf("%q.Lag(%q) = %v, want %v", tt.p, tt.q, got, tt.want)
		}
	}
}

func TestErrant(t *testing.T) {
	tests := []struct {
		name           string
		server, source string
		owned          []uint32
		want           []Range
	}{
		{name: "in sync", server: "1-1-5,2-2-3", source: "1-1-5,2-2-3", owned: []uint32{2}},
		{name: "behind source is not errant", server: "1-1-3", source: "1-1-5", owned: nil},
		{name: "own domain writes are not errant", server: "1-1-5,2-2-9", source: "1-1-5", owned: []uint32{2}},
		{
			name: "local write in source's domain", server: "1-7-6,2-2-9", source: "1-1-5", owned: []uint32{2},
			want: []Range{{Domain: 1, From: 6, To: 6}},
		},
		{
			name: "stray domain", server: "1-1-5,9-7-2", source: "1-1-5", owned: []uint32{2},
			want: []Range{{Domain: 9, From: 1, To: 2}},
		},
		{
			name: "nothing owned", server: "1-1-8,2-2-4", source: "1-1-5",
			want: []Range{{Domain: 1, From: 6, To: 8}, {Domain: 2, From: 1, To: 4}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Errant(mustParse(t, tt.server), mustParse(t, tt.source), tt.owned)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Errant(%q, %q, %v) = %v, want %v", tt.server, tt.source, tt.owned, got, tt.want)
			}
		})
	}
}

func TestFurthest(t *testing.T) {
	a, _ := Parse("1-101-5,2-201-9")
	b, _ := Parse("1-102-7,3-301-1")
	if got := Furthest(a, b).String(); got != "1-102-7,2-201-9,3-301-1" {
		t.Errorf("Furthest = %s", got)
	}
	if got := Furthest(); len(got) != 0 {
		t.Errorf("Furthest() = %v", got)
	}
}
