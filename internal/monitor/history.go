package monitor

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/snapshot"
)

// The seed's replication_lag_history, with lag in seconds to the
// microsecond and latency to the microsecond as well; target_node tells
// apart two replicas of one region. Times are UTC.
const (
	historyTable  = "meridian.replication_lag_history"
	createHistory = "CREATE TABLE IF NOT EXISTS " + historyTable + " (" +
		"id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, " +
		"source_region VARCHAR(64) NOT NULL, " +
		"target_region VARCHAR(64) NOT NULL, " +
		"target_node VARCHAR(64) NOT NULL, " +
		"lag_seconds DECIMAL(12,6) NULL, " +
		"gtid_lag BIGINT UNSIGNED NULL, " +
		"network_latency_ms DECIMAL(10,3) NULL, " +
		"recorded_at DATETIME(6) NOT NULL, " +
		"INDEX idx_regions_time (source_region, target_region, recorded_at), " +
		"INDEX idx_recorded_at (recorded_at)" +
		") ENGINE=InnoDB"
	// historyTimeout bounds one history write; nothing waits for it.
	historyTimeout = 10 * time.Second
	sqlTime        = "2006-01-02 15:04:05.000000"
)

// historyInsert is the statement recording one row per channel of every
// node up in s, "" when there is none. gtid_lag is the channel's
// transactions behind, all domains together (a count of transactions, not
// a sum of sequence numbers); network_latency_ms is the round trip the
// controller measured to the other end when one end is its own region.
func historyInsert(s snapshot.Snapshot) string {
	var rows []string
	for _, n := range s.Nodes {
		if !n.Up {
			continue
		}
		for _, c := range n.Replication {
			source := c.SourceRegion
			if source == "" {
				source = c.Connection
			}
			gtidLag := "NULL"
			if c.GTIDLag != nil {
				var total uint64
				for _, behind := range c.GTIDLag {
					total += behind
				}
				gtidLag = strconv.FormatUint(total, 10)
			}
			var latency *float64
			if rtt := measuredRTT(s, source, n.Region); rtt != nil {
				v := *rtt * 1000
				latency = &v
			}
			rows = append(rows, "("+strings.Join([]string{
				node.QuoteString(source), node.QuoteString(n.Region), node.QuoteString(n.Name),
				decimal(c.LagSeconds, 6), gtidLag, decimal(latency, 3),
				"'" + s.At.UTC().Format(sqlTime) + "'",
			}, ", ")+")")
		}
	}
	if len(rows) == 0 {
		return ""
	}
	return "INSERT INTO " + historyTable +
		" (source_region, target_region, target_node, lag_seconds, gtid_lag, network_latency_ms, recorded_at) VALUES " +
		strings.Join(rows, ", ")
}

// historyPurge deletes the rows recorded before cutoff.
func historyPurge(cutoff time.Time) string {
	return "DELETE FROM " + historyTable + " WHERE recorded_at < '" + cutoff.UTC().Format(sqlTime) + "'"
}

func decimal(v *float64, places int) string {
	if v == nil {
		return "NULL"
	}
	return strconv.FormatFloat(*v, 'f', places, 64)
}

// measuredRTT is the round trip s measured between regions a and b when
// one of them is the controller's own, nil otherwise.
func measuredRTT(s snapshot.Snapshot, a, b string) *float64 {
	other := ""
	switch s.ControllerRegion {
	case a:
		other = b
	case b:
		other = a
	}
	for _, l := range s.WAN {
		if other != "" && l.To == other {
			return l.RTTSeconds
		}
	}
	return nil
}

// historian records the lag history on a node of the controller's region.
// It writes with ExecLocal, outside the binlog and outside Galera: the
// history is the region's own, and on a read-only region a replicated
// write would be an errant transaction (and a Galera one would land on
// every member).
type historian struct {
	node           string
	cfg            Config
	count          *counters
	tally          *tally
	client         *node.Client
	tableReady     bool
	connectTimeout time.Duration
	log            *slog.Logger
}

func newHistorian(cfg Config, t *tally) *historian {
	name := regionNodes(cfg.Topology, cfg.Region)[0]
	return &historian{
		node: name, cfg: cfg, count: t.nodes[name], tally: t,
		connectTimeout: cfg.connectTimeout(name),
		log:            cfg.Logger.With("node", name, "table", historyTable),
	}
}

// run records the first snapshot as soon as it is published, then the
// latest one every history interval.
func (h *historian) run(ctx context.Context, first <-chan struct{}, latest func() snapshot.Snapshot) {
	defer h.close()
	select {
	case <-ctx.Done():
		return
	case <-first:
	}
	ticker := time.NewTicker(h.cfg.HistoryInterval)
	defer ticker.Stop()
	for {
		if err := h.write(ctx, latest()); err != nil && ctx.Err() == nil {
			h.log.Warn("lag history not recorded", "err", err)
			h.close()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (h *historian) write(ctx context.Context, s snapshot.Snapshot) error {
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	if h.client == nil {
		c, err := openClient(ctx, h.cfg.Endpoints.Admin(h.node), h.connectTimeout, 1, h.count)
		if err != nil {
			return err
		}
		h.client, h.tableReady = c, false
	}
	var stmts []string
	if !h.tableReady {
		stmts = append(stmts, createSchema, createHistory)
	}
	insert := historyInsert(s)
	if insert != "" {
		stmts = append(stmts, insert)
	}
	stmts = append(stmts, historyPurge(h.cfg.Now().Add(-h.cfg.HistoryRetention)))
	h.count.queries.Add(uint64(len(stmts)))
	if err := h.client.ExecLocal(ctx, stmts...); err != nil {
		return err
	}
	h.tableReady = true
	if insert != "" {
		h.tally.historyWrites.Add(1)
	}
	return nil
}

func (h *historian) close() {
	if h.client != nil {
		h.client.Close()
		h.client = nil
	}
}
