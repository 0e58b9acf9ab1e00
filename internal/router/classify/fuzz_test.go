package classify

import (
	"fmt"
	"strings"
	"testing"
)

// sharedCache lives across fuzz inputs, so that inputs sharing a digest meet.
var sharedCache = NewCache(1 << 12)

func sameClass(a, b Class) bool {
	return summary(a) == summary(b) && a.Reason == b.Reason && a.pins == b.pins && a.unpins == b.unpins &&
		a.replaySets == b.replaySets && a.replayReads == b.replayReads
}

func describe(c Class) string { return fmt.Sprintf("%s [%s] %+v", summary(c), c.Reason, c) }

func FuzzClassify(f *testing.F) {
	for _, tt := range classifyCases {
		f.Add(tt.sql)
	}
	f.Add("SELECT * FROM t WHERE id = 1; SELECT /*!50000 GET_LOCK('x', 1) */")
	f.Add("SET STATEMENT a=1 FOR SET STATEMENT b=2 FOR SET STATEMENT c=3 FOR SET STATEMENT d=4 FOR SELECT 1")
	f.Fuzz(func(t *testing.T, sql string) {
		c, _ := classify(sql)
		if again, _ := classify(sql); !sameClass(c, again) {
			t.Fatalf("not deterministic: %s then %s", describe(c), describe(again))
		}
		cache := NewCache(8)
		for range 2 { // a miss, then a hit when cacheable
			if got := cache.Classify(sql); !sameClass(got, c) {
				t.Fatalf("cache: %s, uncached: %s", describe(got), describe(c))
			}
		}
		// A statement with the digest of another may get the other's class
		// only when the parser rejected it (the literal was the trouble: the
		// server rejects it too, or runs it as the same kind of statement).
		if got := sharedCache.Classify(sql); !sameClass(got, c) && !strings.HasPrefix(c.Reason, "unparseable") {
			norm, _ := Digest(sql)
			t.Fatalf("shared cache: %s, uncached: %s (digest %q)", describe(got), describe(c), norm)
		}
		if c.Pin != (c.pins != 0) || c.Unpin != (c.unpins != 0) {
			t.Fatalf("Pin/Unpin disagree with their sets: %s", describe(c))
		}
		if c.Route != Primary {
			checkParsed(t, sql, c)
		}
		s := NewSession()
		s.Decide(c)
		s.Commit(sql, c)
		s.Replay()
	})
}

// checkParsed asserts that a statement leaving the primary was understood
// by the parser, part by part, unless the tokens tell all there is.
func checkParsed(t *testing.T, sql string, c Class) {
	parts, broken := splitStatements(sql)
	if broken || len(parts) == 0 {
		t.Fatalf("unterminated or empty text routed %s", describe(c))
	}
	for _, part := range parts {
		var marks []int
		toks := tokenize(part, &marks)
		if word(toks, 0) == "set" && (word(toks, 1) == "statement" || setNames(toks)) {
			continue // classified from tokens: SET NAMES, or its statement on its own
		}
		if _, err := parse(withoutMarks(part, marks)); err != nil {
			t.Fatalf("%q unparseable (%v) but routed %s", part, err, describe(c))
		}
	}
}

func BenchmarkClassifyCached(b *testing.B) {
	sqls := pointSelects(1024)
	cache := NewCache(1024)
	for _, sql := range sqls {
		cache.Classify(sql)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if c := cache.Classify(sqls[i%len(sqls)]); c.Route != Replica {
			b.Fatal(c)
		}
	}
}

func BenchmarkClassifyCachedParallel(b *testing.B) {
	sqls := pointSelects(1024)
	cache := NewCache(1024)
	for _, sql := range sqls {
		cache.Classify(sql)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			cache.Classify(sqls[i%len(sqls)])
		}
	})
}

func BenchmarkClassifyUncached(b *testing.B) {
	sqls := pointSelects(1024)
	cache := NewCache(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if c := cache.Classify(sqls[i%len(sqls)]); c.Route != Replica {
			b.Fatal(c)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	sqls := pointSelects(1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Digest(sqls[i%len(sqls)])
	}
}

func pointSelects(n int) []string {
	sqls := make([]string, n)
	for i := range sqls {
		sqls[i] = fmt.Sprintf("SELECT id, name, email FROM users WHERE id = %d", i*7919)
	}
	return sqls
}
