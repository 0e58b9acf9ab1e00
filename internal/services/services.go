// Package services runs the router services of an estate's regions. Each
// service the topology declares becomes a router.Service whose view
// follows the controller's (GET /api/v1/topology, polled every interval)
// and whose write lease the controller renews (POST /api/v1/lease): the
// routers pick up a moved primary or a lost replica without restarting
// and without dropping idle clients, and stop writing when the controller
// cannot be reached. A router that loses its lease also makes the
// primary of its own region read-only (self-fencing), being the one
// closest to it when the network splits.
package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/lease"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/router"
	"github.com/meridian-geo/meridian/internal/topology"
)

// DefaultInterval is how often a service polls the controller's view and
// renews its lease: well inside a lease's lifetime (lease.DefaultDuration).
const DefaultInterval = 250 * time.Millisecond

// Region is where a region's services find the estate.
type Region struct {
	Name string
	// Controller is the controller's base URL as dialed from this region
	// (through a WAN route in a sandbox, so that a partition cuts it).
	Controller string
	// Endpoints reach the nodes from this region as the admin account.
	Endpoints provision.Endpoints
}

// Config configures Start.
type Config struct {
	Topology *topology.Topology
	// Regions whose declared services run in this process.
	Regions []Region
	// Admin reads the accounts' password hashes and fences the primary.
	Admin provision.Account
	// Interval between polls and lease renewals (default DefaultInterval).
	Interval time.Duration
	Logger   *slog.Logger
}

// Set is the running services of some regions.
type Set struct {
	followers []*follower
	client    *http.Client
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// Start binds every service of the configured regions and starts serving
// and following the controller. It returns at once: WaitReady tells when
// the services have the controller's view.
func Start(ctx context.Context, cfg Config) (_ *Set, err error) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	set := &Set{cancel: cancel, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}}
	defer func() {
		if err != nil {
			set.Close()
		}
	}()
	for _, r := range cfg.Regions {
		if _, ok := cfg.Topology.Region(r.Name); !ok {
			return nil, fmt.Errorf("services: %q is not a region of the topology", r.Name)
		}
		for _, svc := range cfg.Topology.Services {
			if svc.Region != r.Name {
				continue
			}
			f, err := newFollower(cfg, r, svc, set.client)
			if err != nil {
				return nil, err
			}
			set.followers = append(set.followers, f)
		}
	}
	for _, f := range set.followers {
		set.wg.Add(2)
		go func() {
			defer set.wg.Done()
			if err := f.svc.Serve(ctx); err != nil {
				f.log.Error("router stopped", "err", err)
			}
		}()
		go func() {
			defer set.wg.Done()
			f.follow(ctx)
		}()
	}
	return set, nil
}

// WaitReady waits until every service has published the controller's view
// and heard back from its first lease renewal (granted or not).
func (s *Set) WaitReady(ctx context.Context) error {
	for _, f := range s.followers {
		select {
		case <-f.ready:
		case <-ctx.Done():
			return fmt.Errorf("service %s: no view from the controller at %s: %w", f.name, f.controller, ctx.Err())
		}
	}
	return nil
}

// Close stops every service (closing their client connections) and
// waits for them.
func (s *Set) Close() error {
	s.cancel()
	var errs []error
	for _, f := range s.followers {
		errs = append(errs, f.svc.Close())
	}
	s.wg.Wait()
	s.client.CloseIdleConnections()
	return errors.Join(errs...)
}

// newFollower binds one service, with an empty view until the first poll.
func newFollower(cfg Config, r Region, svc topology.Service, client *http.Client) (*follower, error) {
	rcfg, err := router.ConfigFromTopology(svc)
	if err != nil {
		return nil, err
	}
	rcfg.Admin = router.Credentials(cfg.Admin)
	if rcfg.Kind == router.ReadConnRoute {
		rcfg.RegionOrder = router.RegionsByRTT(cfg.Topology, svc.Region)
	}
	for _, other := range cfg.Topology.Regions {
		if cfg.Topology.Compressed(svc.Region, other.Name) {
			rcfg.CompressRegions = append(rcfg.CompressRegions, other.Name)
		}
	}
	rcfg.Logger = cfg.Logger
	holder := &lease.Holder{}
	view := router.NewLiveView(router.View{Nodes: map[string]router.NodeView{}, Lease: holder})
	rs, err := router.NewService(rcfg, view, nil)
	if err != nil {
		return nil, err
	}
	return &follower{
		name:       svc.Name,
		kind:       rcfg.Kind,
		region:     r.Name,
		controller: r.Controller,
		endpoints:  r.Endpoints,
		topo:       cfg.Topology,
		interval:   cfg.Interval,
		client:     client,
		svc:        rs,
		view:       view,
		lease:      holder,
		log:        cfg.Logger.With("service", svc.Name, "region", r.Name),
		ready:      make(chan struct{}),
	}, nil
}
