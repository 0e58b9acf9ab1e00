package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ControllerMetrics are the controller's own metrics: what it did
// (counters) and who takes writes under which lease (gauges read from the
// controller at scrape time). Register with WithCollector.
type ControllerMetrics struct {
	failovers, switchovers *prometheus.CounterVec
	scheduleSkips          prometheus.Counter
	gauges                 func() ControllerGauges
}

// ControllerGauges are the controller's state at scrape time.
type ControllerGauges struct {
	// Primaries maps each writable region to the node taking its writes.
	Primaries map[string]string
	Leases    []LeaseGauge
}

// LeaseGauge is one write lease ledger.
type LeaseGauge struct {
	Region    string
	Granting  bool
	ExpiresIn time.Duration
}

var (
	primaryInfo = prometheus.NewDesc("meridian_primary_info",
		"1 for the node that takes writes for a region (every writable region in active-active).", []string{"region", "node"}, nil)
	leaseExpiry = prometheus.NewDesc("meridian_write_lease_expiry_seconds",
		"Seconds until the last write lease granted for the region's primary ends; 0 once none is valid (revoked, or no router renews).", []string{"region"}, nil)
	leaseGranting = prometheus.NewDesc("meridian_write_lease_granting",
		"1 while the controller grants write leases for the region's primary, 0 while revoked (failover or switchover under way).", []string{"region"}, nil)
)

// Results of the failover and switchover counters.
const (
	ResultSuccess = "success"
	ResultRefused = "refused"
	ResultFailed  = "failed"
)

// NewControllerMetrics returns the metrics; gauges is called at each scrape.
func NewControllerMetrics(gauges func() ControllerGauges) *ControllerMetrics {
	m := &ControllerMetrics{
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_failovers_total",
			Help: "Failovers by result: success, refused (by the guard, the decision or an unsafe manual request), failed."}, []string{"result"}),
		switchovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_switchovers_total",
			Help: "Switchovers (operator and follow-the-sun) by result: success, refused (rolled back or not started), failed."}, []string{"result"}),
		scheduleSkips: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_schedule_skips_total",
			Help: "Follow-the-sun windows whose move was postponed (the next region unhealthy or too far behind at the window start) or skipped (the switchover failed)."}),
		gauges: gauges,
	}
	for _, r := range []string{ResultSuccess, ResultRefused, ResultFailed} {
		// Present at 0 from the start, so that increase() sees the first one.
		m.failovers.WithLabelValues(r)
		m.switchovers.WithLabelValues(r)
	}
	return m
}

// Failover counts a failover by result.
func (m *ControllerMetrics) Failover(result string) { m.failovers.WithLabelValues(result).Inc() }

// Switchover counts a switchover by result.
func (m *ControllerMetrics) Switchover(result string) { m.switchovers.WithLabelValues(result).Inc() }

// ScheduleSkip counts a skipped follow-the-sun move.
func (m *ControllerMetrics) ScheduleSkip() { m.scheduleSkips.Inc() }

func (m *ControllerMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.failovers.Describe(ch)
	m.switchovers.Describe(ch)
	m.scheduleSkips.Describe(ch)
	ch <- primaryInfo
	ch <- leaseExpiry
	ch <- leaseGranting
}

func (m *ControllerMetrics) Collect(ch chan<- prometheus.Metric) {
	m.failovers.Collect(ch)
	m.switchovers.Collect(ch)
	m.scheduleSkips.Collect(ch)
	g := m.gauges()
	for region, node := range g.Primaries {
		ch <- prometheus.MustNewConstMetric(primaryInfo, prometheus.GaugeValue, 1, region, node)
	}
	for _, l := range g.Leases {
		ch <- prometheus.MustNewConstMetric(leaseExpiry, prometheus.GaugeValue, l.ExpiresIn.Seconds(), l.Region)
		ch <- prometheus.MustNewConstMetric(leaseGranting, prometheus.GaugeValue, boolValue(l.Granting), l.Region)
	}
}
