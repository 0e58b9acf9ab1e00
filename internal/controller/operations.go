package controller

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/meridian-geo/meridian/internal/audit"
	"github.com/meridian-geo/meridian/internal/lease"
	"github.com/meridian-geo/meridian/internal/topology"
)

// Status is the controller's state as GET /api/v1/controller shows it.
type Status struct {
	// Acting is false for a controller without credentials (it watches).
	Acting            bool               `json:"acting"`
	AutomaticFailover bool               `json:"automatic_failover"`
	Primaries         topology.Primaries `json:"primaries"`
	PrimaryRegion     string             `json:"primary_region,omitempty"`
	Leases            []LeaseState       `json:"leases"`
	// Returning are old primaries to fence and rejoin when they come back.
	Returning []string `json:"returning,omitempty"`
	// KeptOut are nodes refused at rejoin, with their errant transactions.
	KeptOut  map[string][]string `json:"kept_out,omitempty"`
	Schedule *ScheduleStatus     `json:"schedule,omitempty"`
}

// Status reports the controller's state.
func (c *Controller) Status() Status {
	st := c.stateNow()
	now := c.now()
	return Status{
		Acting: c.exec != nil, AutomaticFailover: c.exec != nil && !c.cfg.Failover.Manual,
		Primaries: st.Primaries, PrimaryRegion: c.topo.PrimaryRegionFor(now, st.Primaries),
		Leases: c.leases.states(time.Now()), Returning: st.Returning, KeptOut: st.KeptOut,
		Schedule: c.scheduleStatus(st.Primaries, now),
	}
}

// operations adapts the controller to the API.
type operations struct{ c *Controller }

func (o operations) Lease(region, service string) (lease.Grant, error) {
	return o.c.Lease(region, service)
}

func (o operations) Switchover(ctx context.Context, to string) (any, error) {
	return o.c.Switchover(ctx, to)
}

func (o operations) Failover(ctx context.Context, region string, force bool) (any, error) {
	return o.c.Failover(ctx, region, force)
}

func (o operations) Ack(cluster string) error { return o.c.Ack(cluster) }
func (o operations) Audit() []audit.Entry     { return o.c.audit.Entries() }
func (o operations) Status() any              { return o.c.Status() }

func (o operations) ErrorStatus(err error) int {
	switch {
	case IsRefused(err):
		return http.StatusConflict
	case errors.Is(err, ErrUnknown):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotActing):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
