package controller

import (
	"context"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/api"
	"github.com/meridian-geo/meridian/internal/census"
	"github.com/meridian-geo/meridian/internal/residency"
)

// DefaultResidencyAuditInterval is how often the controller audits where
// personal data is, when the topology declares personal tables.
const DefaultResidencyAuditInterval = time.Minute

// residencyAudits keeps the latest residency audit.
type residencyAudits struct {
	mu     sync.Mutex
	latest *residency.Report
}

// auditResidency runs the residency audit now and then every interval
// until ctx ends, logging each change of verdict.
func (c *Controller) auditResidency(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		r := census.Audit(ctx, c.topo, c.cfg.Monitor.Endpoints, c.now)
		if ctx.Err() != nil {
			return
		}
		c.residency.mu.Lock()
		previous := c.residency.latest
		c.residency.latest = &r
		c.residency.mu.Unlock()
		switch {
		case len(r.Violations) > 0 && (previous == nil || len(previous.Violations) != len(r.Violations)):
			for _, v := range r.Violations {
				c.log.Error("residency violation: personal data outside its region", "node", v.Node, "region", v.Region, "table", v.Table, "belongs_in", v.Home, "rows", v.Rows)
			}
		case len(r.Violations) == 0 && previous != nil && len(previous.Violations) > 0:
			c.log.Info("residency audit clean again")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Residency is the residency rules and the latest audit (GET
// /api/v1/residency, the metrics).
func (c *Controller) Residency() api.ResidencyView {
	c.residency.mu.Lock()
	latest := c.residency.latest
	c.residency.mu.Unlock()
	return api.ResidencyView{
		Jurisdictions: api.Jurisdictions(c.topo), Tables: api.ResidencyRules(c.topo),
		Interval: c.residencyInterval(), Report: latest,
	}
}

// residencyInterval is the audit's period; 0 when it does not run.
func (c *Controller) residencyInterval() time.Duration {
	switch i := c.cfg.ResidencyAuditInterval; {
	case !c.topo.HasPersonalData() || i < 0:
		return 0
	case i == 0:
		return DefaultResidencyAuditInterval
	default:
		return i
	}
}
