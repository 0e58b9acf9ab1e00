package router

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// A readconnroute service binds each client connection to one server when
// it logs in, and a diff service binds it to its main server: every
// command of the connection then goes there, whatever it is. The session
// keeps that backend in its replica slot, so the readwritesplit machinery
// (session commands, prepared statements, resets) serves it unchanged;
// only where a command goes differs (session.boundBackend).
//
// When the server goes away — its connection fails, or the view marks it
// down, fenced, or no longer of the bound role — the session tells the
// client why and closes, as MaxScale's readconnroute does: reconnecting
// elsewhere behind the client's back would lose its session state. The
// view is checked at each command; an idle connection notices at its next.

// connPolicy is how a service picks the server a connection is bound to.
// Its methods are pure: they see a View and the router's own load figures.
type connPolicy struct {
	// node, when set, is the only server (a diff service's main).
	node string
	// connect is ConnectReplica, ConnectPrimary or ConnectAny.
	connect string
	maxLag  time.Duration
	// rank orders regions, the service's own first (0); unlisted regions
	// come after every listed one.
	rank map[string]int
}

func newConnPolicy(cfg ServiceConfig) *connPolicy {
	if cfg.Kind == Diff {
		return &connPolicy{node: cfg.DiffMain}
	}
	p := &connPolicy{connect: cfg.ConnectTo, maxLag: cfg.MaxReplicationLag, rank: map[string]int{cfg.Region: 0}}
	if p.connect == "" {
		p.connect = ConnectReplica
	}
	for _, r := range cfg.RegionOrder {
		if _, ok := p.rank[r]; !ok {
			p.rank[r] = len(p.rank)
		}
	}
	return p
}

// serves reports whether name is of the kind of server the service binds
// to and may receive commands at now: up, not fenced, and a replica (a
// node neither this router's primary nor another's), the primary, or
// either; the primary only while the write lease allows it.
func (p *connPolicy) serves(v View, name string, now time.Time) bool {
	n, ok := v.Nodes[name]
	if !ok || !n.Up || n.Fenced || n.Addr == "" || (name == v.Primary && !leaseAllows(v, now)) {
		return false
	}
	switch {
	case p.node != "":
		return name == p.node
	case p.connect == ConnectPrimary:
		return name == v.Primary
	case p.connect == ConnectReplica:
		return name != v.Primary && !n.Writer
	}
	return true
}

// candidates lists the servers a new connection may be bound to, best
// first: the nearest region, then the fewest connections this service
// holds to the server, then by name. Lag counts only here: a bound
// connection is not cut for a passing lag spike.
func (p *connPolicy) candidates(v View, now time.Time, load func(node string) Load) []string {
	var names []string
	for name, n := range v.Nodes {
		if p.serves(v, name, now) && (name == v.Primary || withinLag(n, p.maxLag)) {
			names = append(names, name)
		}
	}
	rank := func(region string) int {
		if r, ok := p.rank[region]; ok {
			return r
		}
		return len(p.rank)
	}
	conns := make(map[string]int64, len(names))
	for _, name := range names {
		conns[name] = load(name).Sessions
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := v.Nodes[names[i]], v.Nodes[names[j]]
		if ra, rb := rank(a.Region), rank(b.Region); ra != rb {
			return ra < rb
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		if conns[names[i]] != conns[names[j]] {
			return conns[names[i]] < conns[names[j]]
		}
		return names[i] < names[j]
	})
	return names
}

// keeps reports whether a bound connection to node at addr may go on.
func (p *connPolicy) keeps(v View, now time.Time, node, addr string) bool {
	return p.serves(v, node, now) && v.Nodes[node].Addr == addr
}

// errNoServer answers a login when no server qualifies.
var errNoServer = errors.New("no server is available for this service")

// bind opens the connection a session is bound to: the first candidate
// that accepts it.
func (s *session) bind(v View) (*backend, error) {
	var errs []error
	for _, name := range s.binding.candidates(v, time.Now(), s.svc.load) {
		b, err := s.connect(name, v.Nodes[name])
		if err == nil {
			s.replica, s.bound = b, name
			return b, nil
		}
		var se *protocol.ServerError
		if errors.As(err, &se) {
			return nil, err // the server refused the client itself: another would too
		}
		s.log.Warn("cannot bind the connection to a server: trying the next", "node", name, "err", err)
		errs = append(errs, err)
	}
	if errs == nil {
		return nil, errNoServer
	}
	return nil, errors.Join(errs...)
}

// bindAtLogin binds a new client connection before its login succeeds, so
// that a client no server can take is refused at once.
func (s *session) bindAtLogin() error {
	if s.binding == nil || s.replica != nil {
		return nil
	}
	if s.svc.diff != nil {
		s.diff = newDiffSession(s)
	}
	if _, err := s.bind(s.svc.view.View()); err != nil {
		if replyErr := s.replyError(err); replyErr != nil {
			return replyErr
		}
		return err
	}
	return nil
}

// boundBackend is where every command of a bound session goes. A session
// whose server is gone ends (boundLost); one without a server yet (after
// COM_CHANGE_USER) is bound afresh.
func (s *session) boundBackend(v View) (*backend, error) {
	b := s.replica
	switch {
	case s.boundLost():
		return nil, s.errBoundLost()
	case b == nil:
		return s.bind(v)
	case !s.binding.keeps(v, time.Now(), b.node, b.addr):
		s.log.Info("bound server left the service's set: closing the connection", "node", b.node)
		s.drop(b)
		return nil, s.errBoundLost()
	}
	return b, nil
}

// boundLost reports whether the session was bound to a server whose
// connection is gone: the session answers its current command and ends.
func (s *session) boundLost() bool {
	return s.bound != "" && s.replica == nil
}

func (s *session) errBoundLost() error {
	return &protocol.ServerError{Code: erConnectionKilled, State: "70100",
		Message: fmt.Sprintf("meridian: server %s of service %s is gone; closing the connection", s.bound, s.svc.cfg.Name)}
}
