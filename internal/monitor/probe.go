package monitor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/gtid"
	"github.com/meridian-geo/meridian/internal/node"
	"github.com/meridian-geo/meridian/internal/provision"
	"github.com/meridian-geo/meridian/internal/topology"
)

// The probe's queries. They run side by side, each on its own connection,
// so a probe costs one round trip however far the node is.
const (
	serverQuery    = "SELECT @@global.read_only, @@global.gtid_binlog_pos, @@global.gtid_slave_pos, @@global.gtid_current_pos"
	heartbeatQuery = "SELECT domain_id, TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) FROM " + heartbeatTable
	galeraQuery    = "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', " +
		"'wsrep_cluster_size', 'wsrep_cluster_status', 'wsrep_ready', 'wsrep_flow_control_paused')"
)

// MariaDB errors meaning the heartbeat table is not there yet.
const (
	errNoSuchTable    = 1146
	errNoSuchDatabase = 1049
)

// counters are what the monitor sent one node, for Stats.
type counters struct {
	queries, connects atomic.Uint64
}

// prober probes one node. Its client belongs to whoever runs probe (one
// goroutine at a time); its state is shared with the round under mu.
type prober struct {
	name           string
	galera         bool
	endpoints      provision.Endpoints
	connectTimeout time.Duration
	probeTimeout   time.Duration
	now            func() time.Time
	count          *counters
	log            *slog.Logger
	client         *node.Client
	// start receives the round number of each probe Run asks for.
	start chan uint64

	mu    sync.Mutex
	state probeState
}

func newProber(cfg Config, ref topology.NodeRef, count *counters) *prober {
	return &prober{
		name:           ref.Name,
		galera:         ref.ClusterKind == topology.Galera,
		endpoints:      cfg.Endpoints,
		connectTimeout: cfg.connectTimeout(ref.Name),
		probeTimeout:   cfg.ProbeTimeout,
		now:            cfg.Now,
		count:          count,
		log:            cfg.Logger.With("node", ref.Name, "region", ref.Region),
		start:          make(chan uint64, 1),
	}
}

// begin marks a probe as started, unless one still runs: a slow node is
// never probed twice at once.
func (p *prober) begin() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.state.running.IsZero() {
		return false
	}
	p.state.running, p.state.runningAt = time.Now(), p.now()
	return true
}

// record stores a finished probe, and logs the node failing or answering
// again.
func (p *prober) record(o *observation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch last := p.state.last; {
	case o.err != nil && (last == nil || last.err == nil):
		p.log.Warn("probe failed", "err", o.err)
	case o.err == nil && last != nil && last.err != nil:
		p.log.Info("node answers again")
	}
	p.state.running, p.state.runningAt, p.state.connecting = time.Time{}, time.Time{}, false
	p.state.last = o
	if o.err == nil {
		p.state.good, p.state.before = o, p.state.good
	}
}

func (p *prober) snapshot() probeState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// probe reads the node once, (re)connecting first if needed. After a
// failure the client is closed, so the next probe starts afresh.
func (p *prober) probe(ctx context.Context) *observation {
	o := &observation{at: p.now(), begun: time.Now()}
	defer func() { o.finished = time.Now() }()
	if p.client == nil {
		p.setConnecting(true)
		c, err := openClient(ctx, p.endpoints.Admin(p.name), p.connectTimeout, p.probeConns(), p.count)
		p.setConnecting(false)
		if err != nil {
			o.err, o.timedOut = err, time.Since(o.begun) >= p.connectTimeout
			return o
		}
		p.client = c
	}
	qctx, cancel := context.WithTimeout(ctx, p.probeTimeout)
	defer cancel()
	o.queried = time.Now()
	err := p.read(qctx, o)
	if err == nil {
		return o
	}
	if qctx.Err() != nil && ctx.Err() == nil {
		// Every query then failed the same way; one line says it.
		err = fmt.Errorf("node %s: probe timed out after %s: %w", p.name, p.probeTimeout, qctx.Err())
		o.timedOut = true
	}
	o.err = err
	p.close()
	return o
}

func (p *prober) setConnecting(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.connecting = on
}

func (p *prober) close() {
	if p.client != nil {
		p.client.Close()
		p.client = nil
	}
}

// probeConns is how many queries a probe runs at once.
func (p *prober) probeConns() int {
	if p.galera {
		return 4
	}
	return 3
}

// openClient connects to a node within timeout and opens conns
// connections, which the pool then keeps for good: a probe must not pay
// for dialling, which over a long link costs more than the probe may take.
func openClient(ctx context.Context, e node.Endpoint, timeout time.Duration, conns int, count *counters) (*node.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	count.connects.Add(1)
	c, err := node.Open(ctx, e)
	if err != nil {
		return nil, timeoutError(ctx, err, "connect", timeout)
	}
	db := c.DB()
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	pinned := make([]*sql.Conn, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for i := range pinned {
		wg.Go(func() { pinned[i], errs[i] = db.Conn(ctx) })
	}
	wg.Wait()
	for _, conn := range pinned {
		if conn != nil {
			conn.Close()
		}
	}
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, timeoutError(ctx, fmt.Errorf("node %s (%s): open %d connections: %w", e.Name, e.Addr, conns, err), "connect", timeout)
	}
	return c, nil
}

// timeoutError says so when err came from ctx running out.
func timeoutError(ctx context.Context, err error, what string, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s timed out after %s: %w", what, timeout, err)
	}
	return err
}

// read runs the probe's queries side by side; each fills its own part of o.
// When several fail, they share a cause (the node went away): the first
// failure says it.
func (p *prober) read(ctx context.Context, o *observation) error {
	reads := []func(context.Context, *observation) error{p.readServer, p.readReplicas, p.readHeartbeats}
	if p.galera {
		reads = append(reads, p.readGalera)
	}
	errs := make([]error, len(reads))
	var wg sync.WaitGroup
	for i, read := range reads {
		wg.Go(func() {
			p.count.queries.Add(1)
			errs[i] = read(ctx, o)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readServer reads the read-only flag and the GTID positions, and times the query on an already open connection: that is the round trip
// to the node.
func (p *prober) readServer(ctx context.Context, o *observation) error {
	conn, err := p.client.DB().Conn(ctx)
	if err != nil {
		return fmt.Errorf("node %s: read GTID positions: %w", p.name, err)
	}
	defer conn.Close()
	var binlog, slave, current string
	sent := time.Now()
	err = conn.QueryRowContext(ctx, serverQuery).Scan(&o.readOnly, &binlog, &slave, &current)
	o.ping = time.Since(sent)
	if err != nil {
		return fmt.Errorf("node %s: read GTID positions: %w", p.name, err)
	}
	for _, v := range []struct {
		name, text string
		dest       *gtid.Position
	}{
		{"gtid_binlog_pos", binlog, &o.binlog},
		{"gtid_slave_pos", slave, &o.slave},
		{"gtid_current_pos", current, &o.current},
	} {
		if *v.dest, err = gtid.Parse(v.text); err != nil {
			return fmt.Errorf("node %s: %s: %w", p.name, v.name, err)
		}
	}
	return nil
}

func (p *prober) readReplicas(ctx context.Context, o *observation) error {
	var err error
	o.replicas, err = p.client.Replicas(ctx)
	return err
}

// readHeartbeats reads the age of every domain's heartbeat row. No table
// yet means no heartbeat has arrived, which is not an error.
func (p *prober) readHeartbeats(ctx context.Context, o *observation) error {
	o.heartbeats = map[uint32]time.Duration{}
	rows, err := p.client.DB().QueryContext(ctx, heartbeatQuery)
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == errNoSuchTable || me.Number == errNoSuchDatabase) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node %s: read heartbeats: %w", p.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var domain uint32
		var micros int64
		if err := rows.Scan(&domain, &micros); err != nil {
			return fmt.Errorf("node %s: read heartbeats: %w", p.name, err)
		}
		// A negative age is clock skew between the writer and this node.
		o.heartbeats[domain] = time.Duration(max(micros, 0)) * time.Microsecond
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("node %s: read heartbeats: %w", p.name, err)
	}
	return nil
}

func (p *prober) readGalera(ctx context.Context, o *observation) error {
	rows, err := p.client.DB().QueryContext(ctx, galeraQuery)
	if err != nil {
		return fmt.Errorf("node %s: read Galera status: %w", p.name, err)
	}
	defer rows.Close()
	status := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return fmt.Errorf("node %s: read Galera status: %w", p.name, err)
		}
		status[name] = value
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("node %s: read Galera status: %w", p.name, err)
	}
	o.galera, err = parseGalera(status)
	if err != nil {
		return fmt.Errorf("node %s: Galera status: %w", p.name, err)
	}
	return nil
}

// parseGalera reads the wsrep status variables; a variable the server does
// not report (no provider loaded) leaves its zero value.
func parseGalera(status map[string]string) (*Galera, error) {
	g := &Galera{
		LocalState:    status["wsrep_local_state_comment"],
		ClusterStatus: status["wsrep_cluster_status"],
		Ready:         status["wsrep_ready"] == "ON",
	}
	var err error
	if v, ok := status["wsrep_cluster_size"]; ok {
		if g.ClusterSize, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("wsrep_cluster_size %q: %w", v, err)
		}
	}
	if v, ok := status["wsrep_flow_control_paused"]; ok {
		if g.FlowControlPaused, err = strconv.ParseFloat(v, 64); err != nil {
			return nil, fmt.Errorf("wsrep_flow_control_paused %q: %w", v, err)
		}
	}
	return g, nil
}
