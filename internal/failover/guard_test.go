package failover

import (
	"strings"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	type step struct {
		do        string // "allow", "manual", "record", "ack"
		cluster   string
		after     time.Duration // since t0
		allowed   bool
		reasonHas string
	}
	cases := []struct {
		name  string
		block time.Duration
		steps []step
	}{{
		name: "a second automatic failover inside the block period is refused",
		steps: []step{
			{do: "allow", cluster: "eu-main", allowed: true, reasonHas: "no unacknowledged failover of eu-main"},
			{do: "record", cluster: "eu-main"},
			{do: "allow", cluster: "eu-main", after: 59 * time.Minute,
				reasonHas: "eu-main failed over at 2025-03-14T12:00:00Z: automatic failovers are blocked until 2025-03-14T13:00:00Z unless an operator acknowledges (meridian ack eu-main)"},
			{do: "allow", cluster: "us-dr", after: 59 * time.Minute, allowed: true},
			{do: "allow", cluster: "eu-main", after: time.Hour, allowed: true, reasonHas: "older than the block period 1h0m0s"},
		},
	}, {
		name: "an operator's acknowledgement lifts the block",
		steps: []step{
			{do: "record", cluster: "eu-main"},
			{do: "allow", cluster: "eu-main", after: time.Minute},
			{do: "ack", cluster: "eu-main"},
			{do: "allow", cluster: "eu-main", after: 2 * time.Minute, allowed: true},
		},
	}, {
		name: "manual failovers are never blocked",
		steps: []step{
			{do: "record", cluster: "eu-main"},
			{do: "manual", cluster: "eu-main", after: time.Minute, allowed: true, reasonHas: "manual failover"},
		},
	}, {
		name:  "a configured block period",
		block: 10 * time.Minute,
		steps: []step{
			{do: "record", cluster: "eu-main"},
			{do: "allow", cluster: "eu-main", after: 9 * time.Minute},
			{do: "allow", cluster: "eu-main", after: 10 * time.Minute, allowed: true},
		},
	}, {
		name:  "a negative block period disables blocking",
		block: -1,
		steps: []step{
			{do: "record", cluster: "eu-main"},
			{do: "allow", cluster: "eu-main", after: time.Second, allowed: true},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &Guard{BlockPeriod: c.block}
			for i, s := range c.steps {
				now := t0.Add(s.after)
				switch s.do {
				case "record":
					g.Record(s.cluster, now)
					continue
				case "ack":
					g.Ack(s.cluster)
					continue
				}
				allowed, reason := g.Allow(s.cluster, now, s.do == "allow")
				if allowed != s.allowed || reason == "" || (s.reasonHas != "" && !strings.Contains(reason, s.reasonHas)) {
					t.Errorf("step %d: Allow(%s, +%s) = %v, %q; want %v with %q", i, s.cluster, s.after, allowed, reason, s.allowed, s.reasonHas)
				}
			}
		})
	}
}
