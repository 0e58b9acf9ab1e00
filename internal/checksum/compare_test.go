package checksum

import (
	"reflect"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

func rows(pairs ...any) []RowHash {
	var out []RowHash
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, RowHash{Key: []Value{Text(pairs[i].(string))}, Hash: uint32(pairs[i+1].(int))})
	}
	return out
}

func present(h uint32) Version { return Version{Present: true, Hash: h} }

var absent = Version{}

func TestEqual(t *testing.T) {
	if !Equal(map[string]Sum{"a": {3, 7}, "b": {3, 7}}) {
		t.Error("equal sums reported different")
	}
	if Equal(map[string]Sum{"a": {3, 7}, "b": {3, 8}}) || Equal(map[string]Sum{"a": {3, 7}, "b": {4, 7}}) {
		t.Error("different sums reported equal")
	}
}

func TestDiff(t *testing.T) {
	got := Diff(map[string][]RowHash{
		"eu-1": rows("1", 10, "2", 20, "3", 30),
		"eu-2": rows("1", 10, "2", 21, "3", 30, "4", 40),
		"us-1": rows("1", 10, "3", 30),
	})
	want := []RowDiff{
		{Key: []Value{Text("2")}, Versions: map[string]Version{"eu-1": present(20), "eu-2": present(21), "us-1": absent}},
		{Key: []Value{Text("4")}, Versions: map[string]Version{"eu-1": absent, "eu-2": present(40), "us-1": absent}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff =\n%+v\nwant\n%+v", got, want)
	}
	if d := Diff(map[string][]RowHash{"a": rows("1", 1), "b": rows("1", 1)}); len(d) != 0 {
		t.Errorf("identical reads differ: %+v", d)
	}
}

// reads builds one node → rows read per step of a narrowing scenario.
type step map[string][]RowHash

func TestNarrowing(t *testing.T) {
	tests := []struct {
		name      string
		reads     []step // first read, then re-reads after each catch-up
		real      []string
		pending   []string
		remaining bool
	}{
		{
			name: "an update in flight clears once the lagging node has it",
			reads: []step{
				{"eu": rows("1", 11), "us": rows("1", 10)},
				{"eu": rows("1", 11), "us": rows("1", 11)},
			},
		},
		{
			name: "an insert in flight clears",
			reads: []step{
				{"eu": rows("1", 10, "2", 20), "us": rows("1", 10)},
				{"eu": rows("1", 10, "2", 20), "us": rows("1", 10, "2", 20)},
			},
		},
		{
			name: "a row changed on one node alone stays different through two catch-ups",
			reads: []step{
				{"eu": rows("1", 10), "us": rows("1", 99)},
				{"eu": rows("1", 10), "us": rows("1", 99)},
				{"eu": rows("1", 10), "us": rows("1", 99)},
			},
			real: []string{"1"},
		},
		{
			name: "one unchanged re-read is not enough",
			reads: []step{
				{"eu": rows("1", 10), "us": rows("1", 99)},
				{"eu": rows("1", 10), "us": rows("1", 99)},
			},
			pending:   []string{"1"},
			remaining: true,
		},
		{
			name: "a row deleted on one node alone",
			reads: []step{
				{"eu": rows("1", 10, "2", 20), "us": rows("2", 20)},
				{"eu": rows("1", 10, "2", 20), "us": rows("2", 20)},
				{"eu": rows("1", 10, "2", 20), "us": rows("2", 20)},
			},
			real: []string{"1"},
		},
		{
			name: "a hot row that changes between reads stays pending; its stability count restarts",
			reads: []step{
				{"eu": rows("1", 10), "us": rows("1", 11)},
				{"eu": rows("1", 12), "us": rows("1", 11)},
				{"eu": rows("1", 12), "us": rows("1", 11)},
			},
			pending:   []string{"1"},
			remaining: true,
		},
		{
			name: "a row that starts differing in a re-read is in flight now, not news",
			reads: []step{
				{"eu": rows("1", 10, "2", 20), "us": rows("1", 99, "2", 20)},
				{"eu": rows("1", 10, "2", 21), "us": rows("1", 99, "2", 20)},
				{"eu": rows("1", 10, "2", 22), "us": rows("1", 99, "2", 21)},
			},
			real: []string{"1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := Diff(tt.reads[0])
			if len(first) == 0 {
				t.Fatal("first read has no difference")
			}
			n := NewNarrowing(first, DefaultConfirmations)
			remaining := true
			for _, r := range tt.reads[1:] {
				remaining = n.Reread(Diff(r))
			}
			if remaining != tt.remaining {
				t.Errorf("remaining = %v, want %v", remaining, tt.remaining)
			}
			if got := keysOf(n.Real()); !reflect.DeepEqual(got, tt.real) {
				t.Errorf("real = %v, want %v", got, tt.real)
			}
			if got := keysOf(n.Pending()); !reflect.DeepEqual(got, tt.pending) {
				t.Errorf("pending = %v, want %v", got, tt.pending)
			}
		})
	}
}

func keysOf(diffs []RowDiff) []string {
	var out []string
	for _, d := range diffs {
		out = append(out, d.Key[0].Text)
	}
	return out
}

func TestSizer(t *testing.T) {
	s := NewSizer(500 * time.Millisecond)
	if s.Size() != FirstChunkRows {
		t.Fatalf("first size %d", s.Size())
	}
	s.Observe(1000, 100*time.Millisecond) // 10,000 rows/s
	if s.Size() != 5000 {
		t.Errorf("after a fast chunk: %d, want 5000", s.Size())
	}
	s.Observe(5000, 5*time.Second) // one slow chunk (1,000 rows/s) does not collapse the size
	if got := s.Size(); got != 3875 {
		t.Errorf("after a slow chunk: %d, want 3875 (smoothed)", got)
	}
	s.Observe(10, time.Hour) // a tail chunk is not timed
	if got := s.Size(); got != 3875 {
		t.Errorf("a tail chunk changed the size: %d", got)
	}
	for range 50 {
		s.Observe(s.Size(), time.Millisecond)
	}
	if s.Size() != MaxChunkRows {
		t.Errorf("fast server: %d, want the cap %d", s.Size(), MaxChunkRows)
	}
	s.Fix(7)
	s.Observe(7, time.Hour)
	if s.Size() != 7 {
		t.Errorf("fixed size moved: %d", s.Size())
	}
}

func TestGroups(t *testing.T) {
	topo := &topology.Topology{
		Regions: []topology.Region{{Name: "eu"}, {Name: "us"}, {Name: "apac"}},
		Clusters: []topology.Cluster{
			{Name: "eu-g", Region: "eu", Nodes: []topology.Node{{Name: "eu-1"}, {Name: "eu-2"}}},
			{Name: "us-g", Region: "us", Nodes: []topology.Node{{Name: "us-1"}, {Name: "us-2"}}},
			{Name: "apac-g", Region: "apac", Nodes: []topology.Node{{Name: "apac-1"}}},
		},
	}
	all := []string{"eu-1", "eu-2", "us-1", "us-2", "apac-1"}
	tests := []struct {
		name   string
		policy topology.TablePolicy
		want   [][]string
	}{
		{"replicated everywhere", topology.TablePolicy{}, [][]string{all}},
		{"lww replicates too", topology.TablePolicy{LWW: &topology.LWWRule{}}, [][]string{all}},
		{"personal, owned: the owner region only", topology.TablePolicy{Owner: "us", Personal: true}, [][]string{{"us-1", "us-2"}}},
		{"personal, by home: each region apart, single-node regions left out", topology.TablePolicy{Home: &topology.HomeRule{Column: "c"}, Personal: true},
			[][]string{{"eu-1", "eu-2"}, {"us-1", "us-2"}}},
	}
	for _, tt := range tests {
		if got := Groups(topo, tt.policy, all); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
