package gtid

import (
	"maps"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"testing/quick"
)

// randPosition is a Position generated for testing/quick. Domains and
// sequence numbers are drawn from small sets so that random positions often
// share domains and seqs, which is where the relations get interesting;
// occasionally extreme values exercise the edges of the number types.
type randPosition Position

func (randPosition) Generate(r *rand.Rand, _ int) reflect.Value {
	p := Position{}
	for range r.Intn(5) {
		g := GTID{Domain: uint32(r.Intn(5)), Server: uint32(r.Intn(3)), Seq: uint64(r.Intn(8))}
		if r.Intn(20) == 0 {
			g = GTID{Domain: math.MaxUint32, Server: math.MaxUint32, Seq: math.MaxUint64 - uint64(r.Intn(2))}
		}
		p[g.Domain] = g
	}
	return reflect.ValueOf(randPosition(p))
}

// below returns a position that p contains: some of p's domains, each with a
// seq no greater than p's.
func below(r *rand.Rand, p Position) Position {
	out := Position{}
	for d, g := range p {
		if r.Intn(4) == 0 {
			continue
		}
		if g.Seq > 0 {
			g.Seq -= uint64(r.Int63n(int64(min(g.Seq, 4)) + 1))
		}
		out[d] = g
	}
	return out
}

// randOwned picks a random subset of the small domain set used above.
func randOwned(r *rand.Rand) []uint32 {
	var owned []uint32
	for d := range uint32(5) {
		if r.Intn(2) == 0 {
			owned = append(owned, d)
		}
	}
	return owned
}

func check(t *testing.T, name string, f any) {
	t.Helper()
	cfg := &quick.Config{MaxCount: 3000, Rand: rand.New(rand.NewSource(1))}
	if err := quick.Check(f, cfg); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func TestProperties(t *testing.T) {
	check(t, "String/Parse round trip", func(a randPosition) bool {
		p := Position(a)
		back, err := Parse(p.String())
		return err == nil && maps.Equal(back, p)
	})

	check(t, "Contains is reflexive", func(a randPosition) bool {
		return Position(a).Contains(Position(a))
	})

	check(t, "Contains is transitive", func(a, b, c randPosition) bool {
		pa, pb, pc := Position(a), Position(b), Position(c)
		return !(pa.Contains(pb) && pb.Contains(pc)) || pa.Contains(pc)
	})

	// Random triples rarely form a chain; build chains explicitly too.
	chains := rand.New(rand.NewSource(2))
	check(t, "Contains is transitive along built chains", func(a randPosition) bool {
		pa := Position(a)
		pb := below(chains, pa)
		pc := below(chains, pb)
		return pa.Contains(pb) && pb.Contains(pc) && pa.Contains(pc)
	})

	check(t, "Subtract(p,q) empty iff q.Contains(p)", func(a, b randPosition) bool {
		p, q := Position(a), Position(b)
		return (len(p.Subtract(q)) == 0) == q.Contains(p)
	})

	check(t, "Subtract ranges start after q and end at p, sorted by domain", func(a, b randPosition) bool {
		p, q := Position(a), Position(b)
		rs := p.Subtract(q)
		for i, r := range rs {
			if r.From != q.Seq(r.Domain)+1 || r.To != p.Seq(r.Domain) || r.From > r.To {
				return false
			}
			if i > 0 && rs[i-1].Domain >= r.Domain {
				return false
			}
		}
		return true
	})

	check(t, "Compare is antisymmetric", func(a, b randPosition) bool {
		ab, ba := Compare(Position(a), Position(b)), Compare(Position(b), Position(a))
		if len(ab) != len(ba) {
			return false
		}
		for d, c := range ab {
			if other, ok := ba[d]; !ok || other != -c {
				return false
			}
		}
		return true
	})

	check(t, "Compare with itself is all equal", func(a randPosition) bool {
		for _, c := range Compare(Position(a), Position(a)) {
			if c != 0 {
				return false
			}
		}
		return true
	})

	check(t, "Compare agrees with Contains", func(a, b randPosition) bool {
		behind := slices.Contains(slices.Collect(maps.Values(Compare(Position(a), Position(b)))), -1)
		return Position(a).Contains(Position(b)) == !behind
	})

	check(t, "Lag agrees with Subtract", func(a, b randPosition) bool {
		p, q := Position(a), Position(b)
		lag := p.Lag(q)
		ahead := 0
		for _, r := range p.Subtract(q) {
			if lag[r.Domain] != r.To-r.From+1 {
				return false
			}
			ahead++
		}
		for _, n := range lag {
			if n > 0 {
				ahead--
			}
		}
		return ahead == 0
	})

	owners := rand.New(rand.NewSource(3))
	check(t, "Errant never reports owned domains and is part of Subtract", func(a, b randPosition) bool {
		server, source := Position(a), Position(b)
		owned := randOwned(owners)
		diff := server.Subtract(source)
		for _, r := range Errant(server, source, owned) {
			if slices.Contains(owned, r.Domain) || !slices.Contains(diff, r) {
				return false
			}
		}
		return true
	})

	check(t, "Errant with nothing owned is Subtract", func(a, b randPosition) bool {
		server, source := Position(a), Position(b)
		return slices.Equal(Errant(server, source, nil), server.Subtract(source))
	})
}
