// Package router is Meridian's MariaDB-protocol router: applications
// connect to the router of their region as they would to MariaDB, and each
// statement goes where it should — writes and transactions to the current
// primary wherever it is, reads to a nearby replica that is fresh enough.
//
// One goroutine serves each client connection and relays every request
// and its response synchronously, packet by packet (see package
// protocol); backend connections open only when a statement needs them.
// A readwritesplit session over plain TCP is served by an event loop
// instead whenever nothing has to wait (loop.go, package netloop), which
// spares the scheduler a goroutine wake-up per packet.
// Routing reads the topology View afresh for every statement, so a new
// primary is picked up at the next statement without dropping clients.
package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// Service is one running router endpoint.
type Service struct {
	cfg        ServiceConfig
	view       ViewSource
	accounts   AccountSource
	ownsAcct   *AdminAccounts
	policy     policy
	log        *slog.Logger
	clientTLS  *tls.Config
	backendTLS *tls.Config
	ln         net.Listener
	// writeHold is ServiceConfig.WriteHold resolved.
	writeHold time.Duration
	// binding picks the one server each connection of a readconnroute or
	// diff service is bound to; nil for readwritesplit.
	binding *connPolicy
	// diff records what a diff service compared; nil for other kinds.
	diff *diffLedger
	// committed is the newest GTID per domain the sessions saw committed
	// (causal_reads global).
	committed committedGTIDs
	// replayLimit bounds the transactions kept for a replay (0: none);
	// replay counts holds, retries and replays.
	replayLimit int
	replay      replayCounters

	connIDs atomic.Uint32
	server  atomic.Pointer[serverInfo]

	mu       sync.Mutex
	sessions map[*session]struct{}
	nodes    map[string]*nodeCounters
	closed   bool
	wg       sync.WaitGroup
}

// serverInfo is what the router announces to clients, learnt from a
// backend's greeting.
type serverInfo struct {
	version string
	caps    uint32
	extCaps uint32
	charset uint8
}

// nodeCounters are one backend node's figures; sessions update them with
// atomics only.
type nodeCounters struct {
	queries     atomic.Uint64
	outstanding atomic.Int64
	conns       atomic.Int64
}

// Stats is a service's activity so far.
type Stats struct {
	Sessions int
	Backends map[string]BackendStats
	Failover FailoverStats
}

// BackendStats are one node's figures as seen by a service.
type BackendStats struct {
	// Queries counts client commands sent to the node.
	Queries uint64
	// Connections is the number of backend connections open to it now.
	Connections int64
	// Outstanding is the number of commands awaiting its answer now.
	Outstanding int64
}

// NewService validates cfg and binds the listener; Serve accepts clients.
// accounts may be nil: the service then reads mysql.user itself with the
// admin credentials of cfg.
func NewService(cfg ServiceConfig, view ViewSource, accounts AccountSource) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CausalReads == CausalDefault {
		cfg.CausalReads = CausalLocal
	}
	s := &Service{
		cfg:  cfg,
		view: view,
		policy: policy{region: cfg.Region, maxLag: cfg.MaxReplicationLag,
			masterAcceptReads: cfg.MasterAcceptReads == nil || *cfg.MasterAcceptReads},
		log:      cfg.Logger.With("service", cfg.Name),
		sessions: map[*session]struct{}{},
		nodes:    map[string]*nodeCounters{},
	}
	switch cfg.Kind {
	case ReadConnRoute:
		s.binding = newConnPolicy(cfg)
	case Diff:
		v := view.View()
		for _, o := range [][2]string{{"main", cfg.DiffMain}, {"other", cfg.DiffOther}} {
			if _, ok := v.Nodes[o[1]]; !ok {
				return nil, fmt.Errorf("service %s: option %s: no node %s in the topology", cfg.Name, o[0], o[1])
			}
		}
		s.binding, s.diff = newConnPolicy(cfg), newDiffLedger(cfg)
	}
	s.writeHold = DefaultWriteHold
	if cfg.WriteHold != nil {
		s.writeHold = *cfg.WriteHold
	}
	s.replayLimit = DefaultReplayLimit
	if cfg.TransactionReplayLimit != nil {
		s.replayLimit = *cfg.TransactionReplayLimit
	}
	var err error
	if s.clientTLS, err = clientTLS(cfg.TLS, cfg.Name); err != nil {
		return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
	}
	if s.backendTLS, err = backendTLS(cfg.TLS); err != nil {
		return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
	}
	if accounts == nil {
		tlsName := ""
		if s.backendTLS != nil {
			tlsName = "meridian-router-" + cfg.Name
			if err := mysql.RegisterTLSConfig(tlsName, s.backendTLS); err != nil {
				return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
			}
		}
		s.ownsAcct = NewAdminAccounts(view, cfg.Admin, tlsName)
		accounts = s.ownsAcct
	}
	s.accounts = accounts
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if s.ln, err = net.Listen("tcp", listen); err != nil {
		return nil, fmt.Errorf("service %s: listen on %s: %w", cfg.Name, listen, err)
	}
	return s, nil
}

// Addr is the address clients connect to.
func (s *Service) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts clients until ctx ends or Close is called.
func (s *Service) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	s.log.Info("router listening", "addr", s.ln.Addr().String(), "region", s.cfg.Region, "kind", s.cfg.Kind)
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("service %s: accept: %w", s.cfg.Name, err)
		}
		sess := newSession(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.sessions[sess] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			sess.run(ctx)
			s.mu.Lock()
			delete(s.sessions, sess)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every client session (and with them their
// backend connections) and waits for them to end.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for sess := range s.sessions {
		sess.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.ownsAcct != nil {
		err = errors.Join(err, s.ownsAcct.Close())
	}
	return err
}

// Stats reports the sessions open now and each backend node's figures.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Sessions: len(s.sessions), Backends: make(map[string]BackendStats, len(s.nodes)), Failover: s.replay.stats()}
	for name, c := range s.nodes {
		st.Backends[name] = BackendStats{Queries: c.queries.Load(), Connections: c.conns.Load(), Outstanding: c.outstanding.Load()}
	}
	return st
}

func (s *Service) counters(name string) *nodeCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.nodes[name]
	if !ok {
		c = &nodeCounters{}
		s.nodes[name] = c
	}
	return c
}

// load is the policy's view of this service's traffic to a node.
func (s *Service) load(name string) Load {
	c := s.counters(name)
	return Load{Outstanding: c.outstanding.Load(), Sessions: c.conns.Load()}
}

// proxiedExt are MariaDB's extended capabilities the router passes
// between client and backend: the packets they change are relayed as they
// are or understood by the relay (progress reports, cached metadata).
const proxiedExt = protocol.MariaDBProgress | protocol.MariaDBStmtBulk | protocol.MariaDBExtendedTypeInfo |
	protocol.MariaDBCacheMetadata

// proxied are the capabilities the router passes between client and
// backend unchanged: they change what the server does or how packets the
// router streams verbatim are laid out, and both sides agree on them.
// Compression is withheld; TLS is the router's own. CLIENT_MYSQL
// (ClientLongPassword) is left out, as MariaDB does, so that clients read
// the extended capabilities.
const proxied = protocol.ClientFoundRows | protocol.ClientLongFlag | protocol.ClientConnectWithDB |
	protocol.ClientNoSchema | protocol.ClientODBC | protocol.ClientLocalFiles | protocol.ClientIgnoreSpace |
	protocol.ClientProtocol41 | protocol.ClientInteractive | protocol.ClientIgnoreSigpipe |
	protocol.ClientTransactions | protocol.ClientReserved | protocol.ClientSecureConnection |
	protocol.ClientMultiStatements | protocol.ClientMultiResults | protocol.ClientPSMultiResults |
	protocol.ClientPluginAuth | protocol.ClientConnectAttrs | protocol.ClientPluginAuthLenencClientData |
	protocol.ClientCanHandleExpiredPasswords | protocol.ClientSessionTrack | protocol.ClientDeprecateEOF |
	protocol.ClientRememberOptions

// fallbackServer is announced while no backend could be asked.
var fallbackServer = serverInfo{version: "5.5.5-10.11.0-MariaDB", caps: proxied, charset: 8}

// serverInfo returns what to announce to a client, asking a backend for
// its greeting the first time one answers.
func (s *Service) serverInfo() serverInfo {
	if info := s.server.Load(); info != nil {
		return *info
	}
	v := s.view.View()
	names := make([]string, 0, len(v.Nodes))
	for name, n := range v.Nodes {
		if n.Up && !n.Fenced {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i] == v.Primary || (names[j] != v.Primary && names[i] < names[j]) })
	for _, name := range names {
		g, err := s.greeting(v.Nodes[name].Addr)
		if err != nil {
			s.log.Warn("cannot read a backend greeting", "node", name, "err", err)
			continue
		}
		// The server's own version string: clients and their test suites
		// read features from it.
		info := serverInfo{version: g.Version, caps: g.Caps & proxied, charset: g.Charset}
		if g.Caps&protocol.ClientLongPassword == 0 {
			info.extCaps = g.ExtCaps & proxiedExt
		}
		s.server.Store(&info)
		return info
	}
	return fallbackServer
}

// greeting reads a server's initial handshake and hangs up.
func (s *Service) greeting(addr string) (protocol.Greeting, error) {
	nc, err := net.DialTimeout("tcp", addr, s.cfg.ConnectTimeout)
	if err != nil {
		return protocol.Greeting{}, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(s.cfg.ConnectTimeout))
	p, err := protocol.NewConn(nc, protocol.Backend, 0).ReadPacket(nil, 1<<16)
	if err != nil {
		return protocol.Greeting{}, err
	}
	return protocol.ParseGreeting(p)
}
