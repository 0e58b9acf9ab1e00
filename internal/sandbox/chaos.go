package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meridian-geo/meridian/internal/topology"
)

// targets resolves a node or region name to node names.
func (s *Sandbox) targets(name string) ([]string, error) {
	if _, _, ok := s.topo.Node(name); ok {
		return []string{name}, nil
	}
	var nodes []string
	for _, n := range s.topo.Nodes() {
		if n.Region == name {
			nodes = append(nodes, n.Name)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%q: %w", name, errNoTarget)
	}
	return nodes, nil
}

func (s *Sandbox) region(name string) error {
	if _, ok := s.topo.Region(name); !ok {
		return fmt.Errorf("%q is not a region of the topology", name)
	}
	return nil
}

// Kill sends SIGKILL to a node or to every node of a region, as a crash would.
func (s *Sandbox) Kill(target string) error {
	names, err := s.targets(target)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		s.mu.Lock()
		inst := s.instances[name]
		s.mu.Unlock()
		if inst == nil || !s.isRunning(name) {
			continue
		}
		if err := inst.Kill(); err != nil {
			errs = append(errs, fmt.Errorf("kill %s: %w", name, err))
		}
	}
	s.log.Info("killed", "target", target, "nodes", names)
	return errors.Join(append(errs, s.refreshInfo())...)
}

// Start restarts the stopped nodes of a node or region target. Galera members
// rejoin their cluster, or bootstrap it again when none of it is running.
// Replication connections resume by themselves from the saved GTID position.
func (s *Sandbox) Start(ctx context.Context, target string) error {
	names, err := s.targets(target)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	byCluster := map[string][]string{}
	for _, name := range names {
		if s.isRunning(name) {
			continue
		}
		_, c, _ := s.topo.Node(name)
		byCluster[c.Name] = append(byCluster[c.Name], name)
	}
	var errs []error
	for _, c := range s.topo.Clusters {
		stopped := byCluster[c.Name]
		if len(stopped) == 0 {
			continue
		}
		if c.Kind == topology.Galera {
			errs = append(errs, s.startGalera(ctx, c, stopped))
			continue
		}
		for _, name := range stopped {
			errs = append(errs, s.startNode(ctx, name, false))
		}
	}
	s.log.Info("started", "target", target, "nodes", names)
	return errors.Join(append(errs, s.refreshInfo())...)
}

// Partition black-holes all traffic between two regions.
func (s *Sandbox) Partition(a, b string) error {
	if err := errors.Join(s.region(a), s.region(b)); err != nil {
		return err
	}
	s.log.Info("partition", "a", a, "b", b)
	return s.links.Partition(a, b)
}

// Heal ends the partition between two regions, or every partition when both are empty.
func (s *Sandbox) Heal(a, b string) error {
	if a == "" && b == "" {
		s.log.Info("heal all")
		return s.links.HealAll()
	}
	if err := errors.Join(s.region(a), s.region(b)); err != nil {
		return err
	}
	s.log.Info("heal", "a", a, "b", b)
	return s.links.Heal(a, b)
}

// SetLatency changes the RTT between two regions on the live links.
func (s *Sandbox) SetLatency(a, b string, rtt time.Duration) error {
	if err := errors.Join(s.region(a), s.region(b)); err != nil {
		return err
	}
	if rtt < 0 {
		return fmt.Errorf("latency %s: must not be negative", rtt)
	}
	s.log.Info("latency", "a", a, "b", b, "rtt", rtt)
	return s.links.SetLatency(a, b, rtt)
}

// refreshInfo rewrites sandbox.json after nodes stopped or started (pids change).
func (s *Sandbox) refreshInfo() error {
	info, err := s.buildInfo()
	if err != nil {
		return err
	}
	return writeInfo(s.dir, info)
}
