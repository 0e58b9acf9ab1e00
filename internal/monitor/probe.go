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
	"github.com/meridian-geo/meridian/internal/snapshot"
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
	name         string
	galera       bool
	endpoints    provision.Endpoints
	probeTimeout time.Duration
	// declaredRTT is the topology's round trip from the controller's
	// region to the node's; pings are the latest measured ones (the first
	// query of each probe on an open connection), newest last.
	declaredRTT time.Duration
	pings       []time.Duration
	now         func() time.Time
	count       *counters
	log         *slog.Logger
	client      *node.Client
	// start receives the round number of each probe Run asks for.
	start chan uint64

	mu    sync.Mutex
	state probeState
}

// Link timing. A node is judged by what it does, not by the cost of
// reaching it: a probe's deadlines grow with the round trip to the node,
// taken as the larger of the declared one and the slowest of the latest
// measured ones (a link slower than declared, as after `sandbox latency`,
// must not make a healthy node look dead).
const (
	// pingsKept is how many measured round trips the estimate remembers:
	// about ten seconds at the default interval, so a link that became
	// faster is trusted again soon, and one slow probe is not forgotten
	// at the next.
	pingsKept = 10
	// connectRTTs is how many round trips opening a node's connections
	// costs: TCP (through a proxy, one more), the server's greeting,
	// authentication, the session settings, a ping, then the probe's
	// other connections dialled side by side. Over a 300 ms link that is
	// 2.4 s, longer than a whole probe interval: bounding a reconnection
	// by the probe timeout would keep such a node unreachable for good.
	connectRTTs = 8
)

func newProber(cfg Config, ref topology.NodeRef, count *counters) *prober {
	return &prober{
		name:         ref.Name,
		galera:       ref.ClusterKind == topology.Galera,
		endpoints:    cfg.Endpoints,
		probeTimeout: cfg.ProbeTimeout,
		declaredRTT:  cfg.declaredRTT(ref.Name),
		now:          cfg.Now,
		count:        count,
		log:          cfg.Logger.With("node", ref.Name, "region", ref.Region),
		start:        make(chan uint64, 1),
	}
}

// linkRTT is the round trip the probe's deadlines allow for.
func (p *prober) linkRTT() time.Duration {
	rtt := p.declaredRTT
	for _, ping := range p.pings {
		rtt = max(rtt, ping)
	}
	return rtt
}

// queryTimeout bounds a probe's queries on open connections: the probe
// timeout for the server, plus the trip there and back.
func (p *prober) queryTimeout() time.Duration { return p.probeTimeout + p.linkRTT() }

// connectTimeout bounds opening the connections: the probe timeout plus
// connectRTTs round trips.
func (p *prober) connectTimeout() time.Duration {
	return p.probeTimeout + connectRTTs*p.linkRTT()
}

func (p *prober) measured(ping time.Duration) {
	p.pings = append(p.pings, ping)
	if len(p.pings) > pingsKept {
		p.pings = p.pings[1:]
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
		p.log.Warn("probe failed", "err", o.err, "answering", o.answered)
	case o.err == nil && last != nil && last.err != nil:
		p.log.Info("node answers again")
	}
	p.state.running, p.state.runningAt, p.state.connecting = time.Time{}, time.Time{}, false
	p.state.last = o
	if o.err == nil {
		p.state.good, p.state.before = o, p.state.good
	}
}

// snapshot is the probe state now, with whether the probe in progress has
// heard from the node since it began.
func (p *prober) snapshot() probeState {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state
	if !st.running.IsZero() {
		st.answering = node.HeardSince(p.endpoints.Admin(p.name).Addr, st.running)
	}
	return st
}

// probe reads the node once, connecting first if it has no connections.
// A connection that broke since the last probe (the node restarted, or a
// link healed and its proxy closed the streams that lived through the
// cut) is replaced at once, within the same probe, and only when the new
// one fails too does the probe fail: a reconnection is no failure.
//
// A failed probe says whether the node answered meanwhile (bytes arrived
// from it: a handshake cut short by a deadline, a slow server) or not
// (refused, reset, or silent past the deadline): only the latter is a
// node lost (see Node.Answering).
func (p *prober) probe(ctx context.Context) *observation {
	o := &observation{at: p.now(), begun: time.Now()}
	addr := p.endpoints.Admin(p.name).Addr
	defer func() {
		o.finished = time.Now()
		if o.err != nil {
			o.answered = !refusal(o.err) && node.HeardSince(addr, o.begun)
		}
	}()
	if p.client != nil {
		err := p.query(ctx, o)
		if err == nil || ctx.Err() != nil {
			o.err = err
			return o
		}
		p.close()
		if !retriable(err, node.HeardSince(addr, o.begun)) {
			o.err = err
			return o
		}
		p.log.Debug("probe connection lost, reconnecting", "err", err)
	}
	if err := p.connect(ctx); err != nil {
		o.err, o.timedOut = err, time.Since(o.begun) >= p.connectTimeout()
		return o
	}
	if err := p.query(ctx, o); err != nil {
		o.err = err
		p.close()
	}
	return o
}

// retriable reports whether a probe that failed on an open connection
// should reconnect and try again: the connection broke (closed, reset,
// invalid), or the query ran out of time while the node was heard from
// (the driver was already dialling a replacement). A query that met only
// silence, or an error from the server itself, is the probe's answer.
func retriable(err error, heard bool) bool {
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		return heard
	}
	return true
}

// refusal reports an error the server itself returned (access denied,
// shutting down, too many connections): an answer, but one that says the
// node cannot serve.
func refusal(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me)
}

// connect opens the client within the connect timeout.
func (p *prober) connect(ctx context.Context) error {
	p.setConnecting(true)
	defer p.setConnecting(false)
	c, err := openClient(ctx, p.endpoints.Admin(p.name), p.connectTimeout(), p.probeConns(), p.count)
	if err != nil {
		return err
	}
	p.client = c
	return nil
}

// query runs the probe's queries within the query timeout.
func (p *prober) query(ctx context.Context, o *observation) error {
	timeout := p.queryTimeout()
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	o.queried = time.Now()
	err := p.read(qctx, o)
	if err == nil {
		p.measured(o.ping)
		return nil
	}
	if qctx.Err() != nil && ctx.Err() == nil {
		// Every query then failed the same way; one line says it.
		o.timedOut = true
		return fmt.Errorf("node %s: probe timed out after %s: %w", p.name, timeout.Round(time.Millisecond), qctx.Err())
	}
	return err
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
		return fmt.Errorf("node %s: read snapshot.Galera status: %w", p.name, err)
	}
	defer rows.Close()
	status := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return fmt.Errorf("node %s: read snapshot.Galera status: %w", p.name, err)
		}
		status[name] = value
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("node %s: read snapshot.Galera status: %w", p.name, err)
	}
	o.galera, err = parseGalera(status)
	if err != nil {
		return fmt.Errorf("node %s: snapshot.Galera status: %w", p.name, err)
	}
	return nil
}

// parseGalera reads the wsrep status variables; a variable the server does
// not report (no provider loaded) leaves its zero value.
func parseGalera(status map[string]string) (*snapshot.Galera, error) {
	g := &snapshot.Galera{
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
