package gtid

import (
	"maps"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		" ",
		"0-1-42",
		"1-11-5,2-21-9",
		"1-11-5,\n2-21-9",
		" 2-21-9 , 1-11-5 ",
		"4294967295-4294967295-18446744073709551615",
		"4294967296-1-1",
		"1-1-18446744073709551616",
		"1-x-3",
		"1-11-5,1-12-9",
		"1-11-5,",
		",,",
		"-1-1-1",
		"007-01-0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse(%q) returned %v with error %v", s, p, err)
			}
			if err.Error() == "" {
				t.Fatalf("Parse(%q): empty error message", s)
			}
			return
		}
		for d, g := range p {
			if g.Domain != d {
				t.Fatalf("Parse(%q): key %d holds %v", s, d, g)
			}
		}
		printed := p.String()
		back, err := Parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse of its String %q: %v", s, printed, err)
		}
		if !maps.Equal(back, p) {
			t.Fatalf("round trip of %q: Parse(%q) = %v, want %v", s, printed, back, p)
		}
		if again := back.String(); again != printed {
			t.Fatalf("String not canonical: %q then %q", printed, again)
		}
	})
}
