package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/meridian-geo/meridian/internal/services"
)

// servicesReady bounds the wait for the services' first view: the
// controller's first probe round and one lease renewal.
const servicesReady = 30 * time.Second

// startServices starts every region's router services. Each reaches the
// nodes through its region's WAN routes and the controller through a WAN
// route from its region to the controller's, so a partition cuts its
// lease renewals as it would between real data centres.
func (s *Sandbox) startServices(ctx context.Context, info *Info, interval time.Duration) error {
	ctrl := s.Controller()
	api, err := url.Parse(ctrl.URL())
	if err != nil {
		return fmt.Errorf("controller URL: %w", err)
	}
	ctrlRegion := s.topo.ControllerRegion(s.now())
	var regions []services.Region
	for _, r := range s.topo.Regions {
		addr, err := s.links.Route(r.Name, ctrlRegion, api.Host)
		if err != nil {
			return fmt.Errorf("WAN route %s -> the controller in %s: %w", r.Name, ctrlRegion, err)
		}
		regions = append(regions, services.Region{Name: r.Name, Controller: "http://" + addr,
			Endpoints: EndpointsFrom(info, s.topo, s.creds, r.Name)})
	}
	set, err := services.Start(context.Background(), services.Config{
		Topology: s.topo, Regions: regions, Admin: s.creds.Admin, Interval: interval, Logger: s.log,
	})
	if err != nil {
		return fmt.Errorf("start the router services: %w", err)
	}
	s.mu.Lock()
	s.services = set
	s.mu.Unlock()
	ctrl.Handle("GET /api/v1/services", set.Handler(s.log))
	ctx, cancel := context.WithTimeout(ctx, servicesReady)
	defer cancel()
	if err := set.WaitReady(ctx); err != nil {
		return err
	}
	info.Services = serviceInfos(set.Statuses())
	return nil
}

// Services are the sandbox's running router services, nil unless
// Options.Services.
func (s *Sandbox) Services() *services.Set {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.services
}

func serviceInfos(statuses []services.Status) []ServiceInfo {
	out := []ServiceInfo{}
	for _, st := range statuses {
		host, port, _ := net.SplitHostPort(st.Listen)
		p, _ := strconv.Atoi(port)
		out = append(out, ServiceInfo{Name: st.Name, Region: st.Region, Kind: st.Kind, Host: host, Port: p})
	}
	return out
}
