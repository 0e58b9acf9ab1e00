package router

import (
	"strings"
	"testing"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

func TestConfigFromTopology(t *testing.T) {
	cfg, err := ConfigFromTopology(topology.Service{Name: "eu-rw", Region: "eu", Listen: "127.0.0.1:4006",
		Options: map[string]any{"max_replication_lag": "1500ms", "master_accept_reads": false, "causal_reads": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kind != ReadWriteSplit || cfg.MaxReplicationLag != 1500*time.Millisecond || cfg.MasterAcceptReads == nil ||
		*cfg.MasterAcceptReads || cfg.CausalReads != CausalLocal || cfg.Listen != "127.0.0.1:4006" {
		t.Errorf("config %+v", cfg)
	}
	if cfg, err := ConfigFromTopology(topology.Service{Name: "s", Region: "eu", Options: map[string]any{"max_replication_lag": 2}}); err != nil ||
		cfg.MaxReplicationLag != 2*time.Second || cfg.MasterAcceptReads != nil {
		t.Errorf("seconds as a number: %+v, %v", cfg, err)
	}
	for _, c := range []struct {
		svc  topology.Service
		want string
	}{
		{topology.Service{Name: "s", Region: "eu", Options: map[string]any{"max_lag": 1}}, "service s: option max_lag: unknown option"},
		{topology.Service{Name: "s", Region: "eu", Options: map[string]any{"max_replication_lag": "soon"}}, "option max_replication_lag: soon is not a duration"},
		{topology.Service{Name: "s", Region: "eu", Options: map[string]any{"master_accept_reads": "maybe"}}, "option master_accept_reads: maybe is not true or false"},
		{topology.Service{Name: "s", Region: "eu", Kind: "readconn"}, `service s: kind "readconn" is not supported (supported: readwritesplit, readconnroute, diff)`},
		{topology.Service{Name: "s", Region: "eu", Kind: ReadConnRoute, Options: map[string]any{"router_options": "slave"}},
			"service s: option router_options: unknown option for kind readconnroute (known: connect_to, max_replication_lag); MaxScale's router_options is connect_to here"},
		{topology.Service{Name: "s", Region: "eu", Kind: ReadConnRoute, Options: map[string]any{"causal_reads": true}},
			"service s: option causal_reads: unknown option for kind readconnroute"},
		{topology.Service{Name: "s", Region: "eu", Kind: ReadConnRoute, Options: map[string]any{"connect_to": "slave"}},
			`service s: option connect_to: "slave" is not replica, primary or any`},
		{topology.Service{Name: "s", Region: "eu", Kind: ReadConnRoute, Options: map[string]any{"connect_to": 3}},
			"service s: option connect_to: 3 is not a name"},
		{topology.Service{Name: "s", Region: "eu", Kind: Diff, Options: map[string]any{"main": "eu-1"}},
			"service s: options main and other must both name a node"},
		{topology.Service{Name: "s", Region: "eu", Kind: Diff, Options: map[string]any{"main": "eu-1", "other": "eu-1"}},
			"service s: options main and other both name eu-1"},
		{topology.Service{Name: "s", Region: "eu", Kind: Diff, Options: map[string]any{"main": "eu-1", "other": "us-1", "diff_writes": "yes"}},
			"service s: option diff_writes: yes is not true or false"},
		{topology.Service{Name: "s", Region: "eu", Kind: Diff, Options: map[string]any{"main": "eu-1", "other": "us-1", "max_replication_lag": 1}},
			"service s: option max_replication_lag: unknown option for kind diff (known: diff_timeout, diff_writes, main, other)"},
		{topology.Service{Name: "s"}, "service s: no region"},
		{topology.Service{Name: "s", Region: "eu", Options: map[string]any{"max_replication_lag": "-1s"}}, "is negative"},
	} {
		_, err := ConfigFromTopology(c.svc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.svc, err, c.want)
		}
	}
}

func TestConfigKinds(t *testing.T) {
	cfg, err := ConfigFromTopology(topology.Service{Name: "global-read", Region: "eu", Kind: ReadConnRoute,
		Options: map[string]any{"connect_to": "any", "max_replication_lag": "10s"}})
	if err != nil || cfg.ConnectTo != ConnectAny || cfg.MaxReplicationLag != 10*time.Second {
		t.Errorf("readconnroute: %+v, %v", cfg, err)
	}
	if cfg, err := ConfigFromTopology(topology.Service{Name: "r", Region: "eu", Kind: ReadConnRoute}); err != nil || cfg.ConnectTo != "" {
		t.Errorf("readconnroute defaults: %+v, %v", cfg, err)
	}
	cfg, err = ConfigFromTopology(topology.Service{Name: "d", Region: "eu", Kind: Diff,
		Options: map[string]any{"main": "eu-1", "other": "us-1", "diff_writes": true, "diff_timeout": "2s"}})
	if err != nil || cfg.DiffMain != "eu-1" || cfg.DiffOther != "us-1" || !cfg.DiffWrites || cfg.DiffTimeout != 2*time.Second {
		t.Errorf("diff: %+v, %v", cfg, err)
	}
}

// TestConfigWriteHold: write_hold unset keeps the default (nil), 0 is
// kept apart from unset (refuse at once), and a negative hold is refused.
func TestConfigWriteHold(t *testing.T) {
	hold := func(options map[string]any) (*time.Duration, error) {
		cfg, err := ConfigFromTopology(topology.Service{Name: "eu-rw", Region: "eu", Options: options})
		return cfg.WriteHold, err
	}
	if h, err := hold(nil); err != nil || h != nil {
		t.Errorf("no write_hold: %v, %v; want nil (DefaultWriteHold)", h, err)
	}
	if h, err := hold(map[string]any{"write_hold": "500ms"}); err != nil || h == nil || *h != 500*time.Millisecond {
		t.Errorf("write_hold 500ms: %v, %v", h, err)
	}
	if h, err := hold(map[string]any{"write_hold": 0}); err != nil || h == nil || *h != 0 {
		t.Errorf("write_hold 0: %v, %v; want 0, not the default", h, err)
	}
	if _, err := hold(map[string]any{"write_hold": "-1s"}); err == nil || !strings.Contains(err.Error(), "service eu-rw: write_hold -1s is negative") {
		t.Errorf("negative write_hold: error %v", err)
	}
	if _, err := ConfigFromTopology(topology.Service{Name: "r", Region: "eu", Kind: ReadConnRoute, Options: map[string]any{"write_hold": "1s"}}); err == nil {
		t.Error("readconnroute took write_hold, an option of readwritesplit only")
	}
}

func TestRegionsByRTT(t *testing.T) {
	topo := &topology.Topology{
		Regions: []topology.Region{{Name: "ap"}, {Name: "eu"}, {Name: "us"}, {Name: "sa"}},
		Links: []topology.Link{
			{Between: [2]string{"eu", "us"}, RTT: topology.Duration{Duration: 80 * time.Millisecond}},
			{Between: [2]string{"eu", "ap"}, RTT: topology.Duration{Duration: 160 * time.Millisecond}},
			{Between: [2]string{"sa", "eu"}, RTT: topology.Duration{Duration: 80 * time.Millisecond}},
		},
	}
	if got := strings.Join(RegionsByRTT(topo, "eu"), ","); got != "eu,sa,us,ap" {
		t.Errorf("regions by RTT from eu: %s, want eu,sa,us,ap", got)
	}
}
