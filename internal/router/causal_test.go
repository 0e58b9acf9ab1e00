package router

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/topology"
)

func TestCommittedGTIDsKeepNewestPerDomain(t *testing.T) {
	var c committedGTIDs
	if p := c.position(); len(p) != 0 {
		t.Fatalf("empty tracker holds %v", p)
	}
	// Writers race, within a domain and across domains, and report out
	// of order: the position keeps each domain's highest sequence number.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(200); seq > 0; seq-- {
				c.add(gtid.GTID{Domain: uint32(w % 3), Server: 100 + uint32(w), Seq: seq*8 + uint64(w)})
			}
		}()
	}
	wg.Wait()
	got := c.position()
	want := map[uint32]uint64{0: 200*8 + 6, 1: 200*8 + 7, 2: 200*8 + 5}
	if len(got) != len(want) {
		t.Fatalf("position %v, want domains 0, 1, 2", got)
	}
	for d, seq := range want {
		if got.Seq(d) != seq {
			t.Errorf("domain %d at %d, want %d (position %v)", d, got.Seq(d), seq, got)
		}
	}
	before := got.String()
	c.add(gtid.GTID{Domain: 1, Server: 9, Seq: 3})
	if after := c.position().String(); after != before {
		t.Errorf("an older GTID moved the position from %s to %s", before, after)
	}
	if got.String() != before {
		t.Errorf("a position handed out changed to %s", got)
	}
}

func TestWaitStatementWaitsForTheWholePosition(t *testing.T) {
	pos, err := gtid.Parse("2-201-7,1-101-42")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		timeout time.Duration
		want    string
	}{
		{500 * time.Millisecond, "SELECT 1 FROM DUAL WHERE MASTER_GTID_WAIT('1-101-42,2-201-7', 0.5) = 0"},
		{3 * time.Second, "SELECT 1 FROM DUAL WHERE MASTER_GTID_WAIT('1-101-42,2-201-7', 3) = 0"},
	} {
		if got := waitStatement(pos, c.timeout); got != c.want {
			t.Errorf("timeout %s: %s, want %s", c.timeout, got, c.want)
		}
	}
}

func TestCausalReadsOptions(t *testing.T) {
	for _, c := range []struct {
		options map[string]any
		mode    CausalMode
		timeout time.Duration
	}{
		{map[string]any{}, CausalDefault, defaultCausalTimeout},
		{map[string]any{"causal_reads": false}, CausalOff, defaultCausalTimeout},
		{map[string]any{"causal_reads": "none"}, CausalOff, defaultCausalTimeout},
		{map[string]any{"causal_reads": true}, CausalLocal, defaultCausalTimeout},
		{map[string]any{"causal_reads": "local", "causal_reads_timeout": "2s"}, CausalLocal, 2 * time.Second},
		{map[string]any{"causal_reads": "global", "causal_reads_timeout": 0.25}, CausalGlobal, 250 * time.Millisecond},
	} {
		cfg, err := ConfigFromTopology(topology.Service{Name: "s", Region: "eu", Options: c.options})
		if err != nil {
			t.Errorf("%v: %v", c.options, err)
			continue
		}
		if cfg.CausalReads != c.mode || cfg.causalTimeout() != c.timeout {
			t.Errorf("%v: causal reads %q, timeout %s; want %q, %s", c.options, cfg.CausalReads, cfg.causalTimeout(), c.mode, c.timeout)
		}
	}
	for _, c := range []struct {
		options map[string]any
		want    string
	}{
		{map[string]any{"causal_reads": "universal"}, "service s: option causal_reads: universal is not none (false), local (true) or global"},
		{map[string]any{"causal_reads": "local", "causal_reads_timeout": "-1s"}, "service s: causal_reads_timeout -1s is negative"},
		{map[string]any{"causal_reads_timeout": "soon"}, "service s: option causal_reads_timeout: soon is not a duration"},
	} {
		_, err := ConfigFromTopology(topology.Service{Name: "s", Region: "eu", Options: c.options})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.options, err, c.want)
		}
	}
	if err := (ServiceConfig{Name: "s", Region: "eu", Kind: ReadWriteSplit, CausalReads: "eventual"}).validate(); err == nil ||
		err.Error() != `service s: causal_reads "eventual" is not none, local or global` {
		t.Errorf("validate an unknown mode: %v", err)
	}
}
