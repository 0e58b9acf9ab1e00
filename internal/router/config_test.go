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
		*cfg.MasterAcceptReads || !cfg.CausalReads || cfg.Listen != "127.0.0.1:4006" {
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
		{topology.Service{Name: "s", Region: "eu", Kind: "readconnroute"}, `kind "readconnroute" is not supported`},
		{topology.Service{Name: "s"}, "service s: no region"},
		{topology.Service{Name: "s", Region: "eu", Options: map[string]any{"max_replication_lag": "-1s"}}, "is negative"},
	} {
		_, err := ConfigFromTopology(c.svc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.svc, err, c.want)
		}
	}
}
