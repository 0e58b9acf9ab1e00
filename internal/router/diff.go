package router

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/meridian-geo/meridian/internal/router/classify"
	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// A diff service (MaxScale's diff router) binds each connection to its
// main server like readconnroute and mirrors its text statements to an
// other server: the client gets main's answer; other's is read, compared
// with it (rows, an order-insensitive checksum of them, rows affected,
// error code) and timed, per normalised statement (DiffReport).
//
// The other server runs each statement at the same time as main: the
// statement is sent to other first, then to main, whose answer is relayed
// to the client while a goroutine reads other's. The session waits for
// other's answer before its next command (one statement in flight, so
// both servers see the same sequence), at most DiffTimeout: a client is
// slowed only by how much other is slower than main.
//
// Only reads are mirrored by default (plain reads outside transactions
// and pins, as readwritesplit would send to a replica): writes, locking
// reads and whatever runs in a transaction count as skipped, so that
// diffing against a replica never writes to it. DiffWrites mirrors them
// too (MaxScale's behaviour), for two independent servers. Session
// commands (SET, USE) reach other through the session's usual replay and
// are not compared. Prepared statements are not mirrored.

// DiffReport is what a diff service has compared so far.
type DiffReport struct {
	Service string `json:"service"`
	Main    string `json:"main"`
	Other   string `json:"other"`
	// Writes tells whether writes are mirrored (diff_writes).
	Writes bool `json:"writes"`
	// Statements, most mismatches first, then most executed.
	Statements []DiffStatement `json:"statements"`
}

// DiffStatement is one normalised statement's record.
type DiffStatement struct {
	// Statement is the normalised text (classify.Digest); statements past
	// the report's bound share the entry "(other statements)".
	Statement string `json:"statement"`
	// Executions counts the statements run on main.
	Executions uint64 `json:"executions"`
	// Compared counts those other answered too; Skipped the rest: writes
	// not mirrored, other unavailable, slower than DiffTimeout or failed.
	Compared   uint64 `json:"compared"`
	Skipped    uint64 `json:"skipped"`
	Mismatches uint64 `json:"mismatches"`
	// MainMs and OtherMs are the mean latencies of compared executions, in
	// milliseconds (main's includes relaying its answer to the client);
	// the Max fields the largest.
	MainMs       float64       `json:"main_ms"`
	OtherMs      float64       `json:"other_ms"`
	MainMaxMs    float64       `json:"main_max_ms"`
	OtherMaxMs   float64       `json:"other_max_ms"`
	LastMismatch *DiffMismatch `json:"last_mismatch,omitempty"`
}

// DiffMismatch is one execution whose answers differed.
type DiffMismatch struct {
	// SQL is the statement as sent (its first 1 KiB).
	SQL   string     `json:"sql"`
	At    time.Time  `json:"at"`
	Main  DiffAnswer `json:"main"`
	Other DiffAnswer `json:"other"`
}

// DiffAnswer sums up one server's answer.
type DiffAnswer struct {
	Rows uint64 `json:"rows"`
	// Checksum is the rows' order-insensitive checksum, in hex.
	Checksum     string  `json:"checksum"`
	AffectedRows uint64  `json:"affected_rows"`
	ErrorCode    uint16  `json:"error_code,omitempty"`
	Ms           float64 `json:"ms"`
}

const (
	// maxDiffStatements bounds the report: an application with unbounded
	// distinct statements must not grow the router's memory.
	maxDiffStatements = 1000
	otherStatements   = "(other statements)"
	maxExampleSQL     = 1 << 10
	// otherRetry spaces reconnections to an unreachable other server, so a
	// dead one does not cost every statement a connect timeout.
	otherRetry = 5 * time.Second
	// defaultDiffTimeout is DiffTimeout when unset.
	defaultDiffTimeout = 5 * time.Second
)

// diffLedger is a diff service's record, shared by its sessions.
type diffLedger struct {
	main, other string
	writes      bool
	timeout     time.Duration
	otherPolicy *connPolicy

	mu    sync.Mutex
	stmts map[uint64]*diffEntry
}

type diffEntry struct {
	DiffStatement
	mainTotal, otherTotal time.Duration
}

func newDiffLedger(cfg ServiceConfig) *diffLedger {
	timeout := cfg.DiffTimeout
	if timeout == 0 {
		timeout = defaultDiffTimeout
	}
	return &diffLedger{main: cfg.DiffMain, other: cfg.DiffOther, writes: cfg.DiffWrites, timeout: timeout,
		otherPolicy: &connPolicy{node: cfg.DiffOther}, stmts: map[uint64]*diffEntry{}}
}

// execution is one statement's run on both servers.
type execution struct {
	sql         string
	compared    bool
	main, other protocol.Tally
	mainTook    time.Duration
	otherTook   time.Duration
}

func (l *diffLedger) record(e execution) {
	normalised, hash := classify.Digest(e.sql)
	l.mu.Lock()
	defer l.mu.Unlock()
	entry, ok := l.stmts[hash]
	if !ok && len(l.stmts) >= maxDiffStatements {
		normalised, hash = otherStatements, 0
		entry, ok = l.stmts[hash]
	}
	if !ok {
		entry = &diffEntry{DiffStatement: DiffStatement{Statement: normalised}}
		l.stmts[hash] = entry
	}
	entry.Executions++
	if !e.compared {
		entry.Skipped++
		return
	}
	entry.Compared++
	entry.mainTotal += e.mainTook
	entry.otherTotal += e.otherTook
	entry.MainMaxMs = max(entry.MainMaxMs, ms(e.mainTook))
	entry.OtherMaxMs = max(entry.OtherMaxMs, ms(e.otherTook))
	if e.main.Same(&e.other) {
		return
	}
	entry.Mismatches++
	sql := e.sql
	if len(sql) > maxExampleSQL {
		sql = sql[:maxExampleSQL]
	}
	entry.LastMismatch = &DiffMismatch{SQL: sql, At: time.Now().UTC(),
		Main: answer(&e.main, e.mainTook), Other: answer(&e.other, e.otherTook)}
}

func (l *diffLedger) report(service string) DiffReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := DiffReport{Service: service, Main: l.main, Other: l.other, Writes: l.writes,
		Statements: make([]DiffStatement, 0, len(l.stmts))}
	for _, e := range l.stmts {
		st := e.DiffStatement
		if st.LastMismatch != nil {
			m := *st.LastMismatch
			st.LastMismatch = &m
		}
		if st.Compared > 0 {
			st.MainMs = ms(e.mainTotal) / float64(st.Compared)
			st.OtherMs = ms(e.otherTotal) / float64(st.Compared)
		}
		r.Statements = append(r.Statements, st)
	}
	sort.Slice(r.Statements, func(i, j int) bool {
		a, b := r.Statements[i], r.Statements[j]
		if a.Mismatches != b.Mismatches {
			return a.Mismatches > b.Mismatches
		}
		if a.Executions != b.Executions {
			return a.Executions > b.Executions
		}
		return a.Statement < b.Statement
	})
	return r
}

func answer(t *protocol.Tally, took time.Duration) DiffAnswer {
	return DiffAnswer{Rows: t.Rows, Checksum: strconv.FormatUint(t.Checksum, 16), AffectedRows: t.AffectedRows,
		ErrorCode: t.ErrorCode, Ms: ms(took)}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// DiffReport is what the service compared so far; empty unless it is a
// diff service.
func (s *Service) DiffReport() DiffReport {
	if s.diff == nil {
		return DiffReport{Service: s.cfg.Name, Statements: []DiffStatement{}}
	}
	return s.diff.report(s.cfg.Name)
}

// diffSession is what one diff session compares: main's answer is tallied
// by the session's relay as it reaches the client, other's by its own.
type diffSession struct {
	main       protocol.Tally
	otherRelay protocol.Relay
	other      protocol.Tally
	// done hands other's answer back from the goroutine reading it.
	done chan otherAnswer
	// retryAt is when other may be dialled again after a failure.
	retryAt time.Time
}

type otherAnswer struct {
	took time.Duration
	err  error
}

func newDiffSession(s *session) *diffSession {
	d := &diffSession{done: make(chan otherAnswer, 1)}
	s.relay.Tally = &d.main
	d.otherRelay = protocol.Relay{Layout: s.relay.Layout, Tally: &d.other}
	return d
}

var errOtherTimeout = errors.New("other server slower than diff_timeout")

// diffQuery serves a COM_QUERY of a diff session: main answers the client
// as in any bound session, other runs it alongside, and the two answers
// are recorded.
func (s *session) diffQuery(req *protocol.Request) error {
	if err := req.ReadAll(maxBuffered); err != nil {
		return s.refuse(req, err)
	}
	sql := string(req.Payload[1:])
	class := classify.Classify(sql)
	if class.Route == classify.All {
		return s.query(req)
	}
	d := s.diff
	other := s.mirror(req.Payload, s.cls.Decide(class))
	d.main.Reset()
	start := time.Now()
	err := s.query(req)
	e := execution{sql: sql, mainTook: time.Since(start)}
	if other != nil {
		res := s.otherAnswer(other)
		if res.err != nil {
			s.log.Info("closing the other server's connection", "node", other.node, "err", res.err)
			s.drop(other)
		}
		e.compared = res.err == nil && d.main.Complete && d.other.Complete
		e.otherTook, e.main, e.other = res.took, d.main, d.other
	}
	s.svc.diff.record(e)
	return err
}

// mirror sends a statement to the other server, if it is to be compared
// and other is available, and starts reading its answer; nil otherwise.
func (s *session) mirror(payload []byte, d classify.Decision) *backend {
	if d.Route != classify.Replica && !s.svc.diff.writes {
		return nil
	}
	b := s.otherBackend(s.svc.view.View())
	if b == nil {
		return nil
	}
	b.conn.ResetSeq()
	err := b.conn.WritePacket(payload)
	if err == nil {
		err = b.conn.Flush()
	}
	if err != nil {
		s.log.Info("closing the other server's connection", "node", b.node, "err", err)
		s.drop(b)
		return nil
	}
	b.stats.queries.Add(1)
	r := &s.diff.otherRelay
	r.Backend, r.BackendTracks = b.conn, b.caps&protocol.ClientSessionTrack != 0
	r.Tally.Reset()
	sent := time.Now()
	go func() {
		_, err := r.Results()
		s.diff.done <- otherAnswer{took: time.Since(sent), err: err}
	}()
	return b
}

// otherAnswer waits for the goroutine reading other's answer, at most the
// service's DiffTimeout: past it other's connection is cut, which ends the
// goroutine.
func (s *session) otherAnswer(b *backend) otherAnswer {
	timer := time.NewTimer(s.svc.diff.timeout)
	defer timer.Stop()
	select {
	case res := <-s.diff.done:
		return res
	case <-timer.C:
		b.raw.Close()
		res := <-s.diff.done
		res.err = fmt.Errorf("%w (%s)", errOtherTimeout, s.svc.diff.timeout)
		return res
	}
}

// otherBackend is the session's connection to the other server, opened
// when needed; nil while other is unavailable.
func (s *session) otherBackend(v View) *backend {
	p, now := s.svc.diff.otherPolicy, time.Now()
	if b := s.other; b != nil {
		if p.keeps(v, now, b.node, b.addr) {
			return b
		}
		s.drop(b)
	}
	if !p.serves(v, p.node, now) || now.Before(s.diff.retryAt) {
		return nil
	}
	b, err := s.connect(p.node, v.Nodes[p.node])
	if err != nil {
		s.log.Warn("cannot reach the other server: statements are not compared for a while", "node", p.node, "err", err, "retry_in", otherRetry)
		s.diff.retryAt = now.Add(otherRetry)
		return nil
	}
	s.other = b
	return b
}
