package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Defaults of Config.
const (
	DefaultInterval = time.Second
	// DefaultHeartbeatInterval keeps an idle link's lag reading under 0.2 s:
	// a reading is the true lag plus the age of the last heartbeat, a
	// sawtooth between 0 and the heartbeat interval.
	DefaultHeartbeatInterval = 100 * time.Millisecond
	DefaultHistoryInterval   = time.Minute
	DefaultHistoryRetention  = 7 * 24 * time.Hour
)

// Config configures a Monitor.
type Config struct {
	Topology *topology.Topology
	// Endpoints is how the controller reaches nodes. In a sandbox use
	// sandbox.EndpointsFrom(info, t, creds, Region), so that probes of other
	// regions cross the WAN links and pay their round trip.
	Endpoints provision.Endpoints
	// Region is where the controller runs: WAN round trips are measured from
	// it, and the lag history is written into it. New requires it; ProbeOnce
	// accepts "" (no WAN measurement).
	Region string
	// Interval between probe rounds (default 1 s).
	Interval time.Duration
	// ProbeTimeout bounds a probe's queries and a connection's opening
	// (default 80% of Interval, at most Interval).
	ProbeTimeout time.Duration
	// HeartbeatInterval between heartbeat writes on each writable region's
	// link node (default 100 ms).
	HeartbeatInterval time.Duration
	// HistoryInterval between lag history writes (default 1 min); the first
	// write follows the first probe round.
	HistoryInterval time.Duration
	// HistoryRetention is how long history rows are kept (default 7 days).
	HistoryRetention time.Duration
	// Primaries is who takes writes when the monitor starts (the zero value:
	// the file's choice); Monitor.SetPrimaries follows failovers and
	// switchovers from then on.
	Primaries topology.Primaries
	// Now is the wall clock (default time.Now): it decides who is writable
	// (follow-the-sun) and stamps snapshots and history rows. Probe timing
	// and timeouts use the monotonic clock.
	Now    func() time.Time
	Logger *slog.Logger
}

// withDefaults fills unset fields and checks the result; requireRegion is
// set for a long-running monitor, which writes history into its region.
func (c Config) withDefaults(requireRegion bool) (Config, error) {
	if c.Topology == nil {
		return c, errors.New("monitor: no topology")
	}
	if c.Endpoints == nil {
		return c, errors.New("monitor: no endpoints")
	}
	switch _, known := c.Topology.Region(c.Region); {
	case c.Region == "" && requireRegion:
		return c, fmt.Errorf("monitor: no controller region: name the region of %s the controller runs in", c.Topology.Name)
	case c.Region != "" && !known:
		return c, fmt.Errorf("monitor: controller region %q is not a region of %s", c.Region, c.Topology.Name)
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = c.Interval * 8 / 10
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.HistoryInterval == 0 {
		c.HistoryInterval = DefaultHistoryInterval
	}
	if c.HistoryRetention == 0 {
		c.HistoryRetention = DefaultHistoryRetention
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var problems []error
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"Interval", c.Interval}, {"ProbeTimeout", c.ProbeTimeout}, {"HeartbeatInterval", c.HeartbeatInterval},
		{"HistoryInterval", c.HistoryInterval}, {"HistoryRetention", c.HistoryRetention},
	} {
		if d.value < 0 {
			problems = append(problems, fmt.Errorf("monitor: %s %s is negative", d.name, d.value))
		}
	}
	if c.ProbeTimeout > c.Interval {
		// A longer probe would still run when the next round starts, every round.
		problems = append(problems, fmt.Errorf("monitor: ProbeTimeout %s exceeds Interval %s", c.ProbeTimeout, c.Interval))
	}
	return c, errors.Join(problems...)
}

// connectTimeout bounds opening the connections to a node from the
// declared round trip alone (the heartbeat writer and the historian; the
// probers also count the round trips they measure, see prober.linkRTT).
func (c Config) connectTimeout(nodeName string) time.Duration {
	return c.ProbeTimeout + connectRTTs*c.declaredRTT(nodeName)
}

// declaredRTT is the topology's round trip from the controller's region to
// the node's.
func (c Config) declaredRTT(nodeName string) time.Duration {
	return c.Topology.RTT(c.Region, c.Topology.NodeRegion(nodeName))
}
