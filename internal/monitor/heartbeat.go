package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/topology"
)

// The heartbeat table lives in the meridian schema of every node: the
// writable regions' link nodes write it, replication brings it everywhere.
const (
	heartbeatTable  = "meridian.heartbeat"
	createSchema    = "CREATE DATABASE IF NOT EXISTS meridian"
	createHeartbeat = "CREATE TABLE IF NOT EXISTS " + heartbeatTable + " (" +
		"domain_id INT UNSIGNED NOT NULL PRIMARY KEY, " +
		"server_id INT UNSIGNED NOT NULL, " +
		"ts DATETIME(6) NOT NULL)"
	heartbeatExists = "SELECT @@global.read_only, (SELECT COUNT(*) FROM information_schema.TABLES " +
		"WHERE TABLE_SCHEMA = 'meridian' AND TABLE_NAME = 'heartbeat')"
)

// heartbeatSQL writes domain's heartbeat row, unless the server is
// read-only: the admin account bypasses read_only, and a write on a
// read-only node would be an errant transaction. The check is part of the
// statement, so read_only cannot be turned on between check and write
// (turning it on waits for running statements). The domain is passed
// explicitly because on a Galera node @@gtid_domain_id is the node's local
// domain; the transaction itself carries the cluster's (the region's).
func heartbeatSQL(domain uint32) string {
	return "INSERT INTO " + heartbeatTable + " (domain_id, server_id, ts) " +
		"SELECT " + strconv.FormatUint(uint64(domain), 10) + ", @@server_id, NOW(6) FROM DUAL WHERE @@global.read_only = 0 " +
		"ON DUPLICATE KEY UPDATE server_id = VALUES(server_id), ts = VALUES(ts)"
}

// heartbeater writes one region's heartbeat row on the region's link node
// every heartbeat interval while the layout makes the region writable, on a
// connection of its own. Both follow the primaries: after a failover inside
// the region the writer moves to the new link node.
type heartbeater struct {
	region, node   string
	domain         uint32
	cfg            Config
	primaries      func() topology.Primaries
	count          *counters
	tally          *tally
	client         *node.Client
	conn           *sql.Conn
	schemaReady    bool
	log            *slog.Logger
	problem        string // the last problem logged, to log changes only
	connectTimeout time.Duration
}

func newHeartbeater(cfg Config, region topology.Region, t *tally, primaries func() topology.Primaries) *heartbeater {
	return &heartbeater{region: region.Name, domain: region.GTIDDomainID, cfg: cfg, primaries: primaries, tally: t}
}

// follow points the writer at the region's link node under p.
func (h *heartbeater) follow(p topology.Primaries) {
	link := h.cfg.Topology.LinkNodeFor(h.region, p)
	if link == h.node {
		return
	}
	h.disconnect()
	h.node, h.count, h.connectTimeout = link, h.tally.nodes[link], h.cfg.connectTimeout(link)
	h.log = h.cfg.Logger.With("node", link, "region", h.region)
	h.problem = ""
}

func (h *heartbeater) run(ctx context.Context) {
	defer h.disconnect()
	ticker := time.NewTicker(h.cfg.HeartbeatInterval)
	defer ticker.Stop()
	for {
		p := h.primaries()
		h.follow(p)
		if slices.Contains(h.cfg.Topology.WritableRegionsFor(h.cfg.Now(), p), h.region) {
			h.beat(ctx)
		} else {
			h.disconnect()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// beat writes the heartbeat once, connecting and creating the table first
// when needed. A slow write delays the next (the ticker drops ticks): a
// heartbeat is written every heartbeat interval or every round trip to the
// writer, whichever is longer, and that is the sawtooth of the lag readings.
func (h *heartbeater) beat(ctx context.Context) {
	if err := h.connect(ctx); err != nil {
		h.report(ctx, "heartbeat writer cannot connect", err)
		return
	}
	if !h.schemaReady {
		sctx, cancel := context.WithTimeout(ctx, h.connectTimeout)
		ready, err := h.ensureSchema(sctx)
		cancel()
		if err != nil {
			h.report(ctx, "heartbeat table not ready", err)
			h.disconnect()
			return
		}
		if !ready {
			h.tally.heartbeatSkips.Add(1)
			h.report(ctx, "heartbeat skipped: the writable region's link node is read-only", nil)
			return
		}
	}
	wctx, cancel := context.WithTimeout(ctx, h.cfg.ProbeTimeout)
	defer cancel()
	h.count.queries.Add(1)
	res, err := h.conn.ExecContext(wctx, heartbeatSQL(h.domain))
	if err != nil {
		h.report(ctx, "heartbeat write failed", fmt.Errorf("node %s: %w", h.node, err))
		h.disconnect()
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		h.tally.heartbeatSkips.Add(1)
		h.report(ctx, "heartbeat skipped: the writable region's link node is read-only", nil)
		return
	}
	h.tally.heartbeatWrites.Add(1)
	h.report(ctx, "", nil)
}

// report logs a problem when it appears or changes, and its end, rather
// than ten times a second.
func (h *heartbeater) report(ctx context.Context, problem string, err error) {
	text := problem
	if err != nil {
		text += ": " + err.Error()
	}
	if text == h.problem || ctx.Err() != nil {
		return
	}
	switch {
	case problem == "":
		h.log.Info("heartbeats written again")
	case err != nil:
		h.log.Warn(problem, "err", err)
	default:
		h.log.Warn(problem)
	}
	h.problem = text
}

func (h *heartbeater) connect(ctx context.Context) error {
	if h.conn != nil {
		return nil
	}
	c, err := openClient(ctx, h.cfg.Endpoints.Admin(h.node), h.connectTimeout, 1, h.count)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, h.connectTimeout)
	defer cancel()
	conn, err := c.DB().Conn(cctx)
	if err != nil {
		c.Close()
		return fmt.Errorf("node %s: pin a connection: %w", h.node, err)
	}
	h.client, h.conn, h.schemaReady = c, conn, false
	return nil
}

func (h *heartbeater) disconnect() {
	if h.conn != nil {
		h.conn.Close()
		h.client.Close()
		h.client, h.conn = nil, nil
	}
}

// ensureSchema creates the heartbeat table when it is missing, through
// replication so that it exists on every replica too; ready is false when
// the node is read-only, where even that DDL would be errant. Only a missing
// table is created: on Galera every DDL is a cluster-wide operation that may
// abort other transactions, so it is not repeated needlessly.
func (h *heartbeater) ensureSchema(ctx context.Context) (ready bool, err error) {
	var readOnly bool
	var tables int
	h.count.queries.Add(1)
	if err := h.conn.QueryRowContext(ctx, heartbeatExists).Scan(&readOnly, &tables); err != nil {
		return false, fmt.Errorf("node %s: read read_only: %w", h.node, err)
	}
	switch {
	case tables > 0:
		h.schemaReady = true
		return true, nil
	case readOnly:
		return false, nil
	}
	for _, stmt := range []string{createSchema, createHeartbeat} {
		h.count.queries.Add(1)
		if _, err := h.conn.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("node %s: %s: %w", h.node, stmt, err)
		}
	}
	h.schemaReady = true
	return true, nil
}
