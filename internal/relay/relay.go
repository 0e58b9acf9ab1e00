// Package relay keeps personal data inside its region on the replication
// links between regions. A relay listens in front of one MariaDB node, in
// the node's region; replicas of other regions connect to the relay instead
// of the node. It passes the connection through untouched (handshake,
// authentication, the replica's set-up queries) until the replica asks for
// the binary log, then forwards the stream event by event through a Filter
// that drops the row events of personal tables. So personal rows never
// cross the link, not even to be filtered at the receiving end, while every
// transaction still arrives (empty when it only touched personal tables)
// and GTID positions stay equal on both sides.
package relay

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-geo/meridian/internal/router/protocol"
)

// Config configures one relay.
type Config struct {
	// Name says which node the relay fronts, for logs and errors.
	Name string
	// Listen is host:port; "127.0.0.1:0" picks a free port.
	Listen string
	// Upstream is the node's host:port, reached from inside its region.
	Upstream string
	// Personal says which tables' rows stay in the region.
	Personal Personal
	// ServerTLS, when set, lets replicas connect with TLS, which the relay
	// terminates (it must read the stream); without it the relay does not
	// offer TLS, so a replica that requires it fails with a clear error
	// rather than bypassing the filter.
	ServerTLS *tls.Config
	// UpstreamTLS, when set, is used towards a node that offers TLS.
	UpstreamTLS *tls.Config
	Logger      *slog.Logger
	// DialTimeout bounds the connection to the node (default 5 s).
	DialTimeout time.Duration
}

// Stats are a relay's counters since it started.
type Stats struct {
	Connections    uint64 // replica connections accepted
	Dumps          uint64 // binlog dumps relayed
	Compressed     uint64 // connections compressed towards the replica
	Events         uint64 // events read from the node during dumps
	DroppedEvents  uint64 // events kept in the region
	DroppedRows    uint64 // row events of personal tables among them
	Refused        uint64 // dumps stopped because the binlog could not be filtered
	LastRefusal    string
	EventBytesIn   uint64
	EventBytesSent uint64
}

// Relay is a running relay.
type Relay struct {
	cfg Config
	ln  net.Listener
	log *slog.Logger

	mu       sync.Mutex
	sessions map[*session]struct{}
	closed   bool
	wg       sync.WaitGroup

	connections, dumps, compressed, events, dropped, droppedRows, refused atomic.Uint64
	bytesIn, bytesSent                                                    atomic.Uint64
	lastRefusal                                                           atomic.Value // string
}

// Start listens and serves until Close.
func Start(cfg Config) (*Relay, error) {
	if cfg.Personal == nil {
		return nil, errors.New("relay: no personal-table rule")
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("relay for %s: listen on %s: %w", cfg.Name, cfg.Listen, err)
	}
	r := &Relay{cfg: cfg, ln: ln, log: cfg.Logger.With("relay", cfg.Name), sessions: map[*session]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the address the relay listens on.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	s := Stats{
		Connections: r.connections.Load(), Dumps: r.dumps.Load(), Compressed: r.compressed.Load(), Events: r.events.Load(),
		DroppedEvents: r.dropped.Load(), DroppedRows: r.droppedRows.Load(), Refused: r.refused.Load(),
		EventBytesIn: r.bytesIn.Load(), EventBytesSent: r.bytesSent.Load(),
	}
	s.LastRefusal, _ = r.lastRefusal.Load().(string)
	return s
}

// Close stops listening and ends every relayed connection.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	err := r.ln.Close()
	for s := range r.sessions {
		s.close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.connections.Add(1)
		s := &session{relay: r, client: newWire(c)}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.sessions[s] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go func() {
			defer r.wg.Done()
			s.serve()
			r.mu.Lock()
			delete(r.sessions, s)
			r.mu.Unlock()
		}()
	}
}

// session is one replica's connection through the relay.
type session struct {
	relay          *Relay
	client, server *wire
	closeOnce      sync.Once
	// dumping is set once the replica asked for the binlog, before the
	// request goes on to the node, so the node's answer is read as events.
	dumping atomic.Bool
	// semiSync: the replica asked for semi-synchronous acknowledgements,
	// so every event packet carries two more header bytes.
	semiSync atomic.Bool
}

func (s *session) close() {
	s.closeOnce.Do(func() {
		s.client.conn.Close()
		if s.server != nil {
			s.server.conn.Close()
		}
	})
}

func (s *session) serve() {
	defer s.close()
	r := s.relay
	up, err := net.DialTimeout("tcp", r.cfg.Upstream, r.cfg.DialTimeout)
	if err != nil {
		r.log.Warn("cannot reach the node", "upstream", r.cfg.Upstream, "err", err)
		return
	}
	s.server = newWire(up)
	compress, err := s.handshake()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			r.log.Warn("connection phase failed", "err", err)
		}
		return
	}
	if compress {
		s.client.compress()
		r.compressed.Add(1)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.fromClient()
		s.close()
	}()
	s.fromServer()
	s.close()
	<-done
}

// Capability flags the relay changes in the connection phase.
const (
	clientCompress = protocol.ClientCompress
	clientSSL      = protocol.ClientSSL
)

// Commands that start a binlog dump (MariaDB's, and MySQL's GTID one).
const (
	comBinlogDump     = 0x12
	comBinlogDumpGTID = 0x1e
)

// handshake relays the connection phase. The relay changes capability
// flags only: it offers TLS to the replica only when it can terminate it,
// and keeps the node's side uncompressed, compressing towards the replica
// itself when both asked for it. Sequence ids are shifted where only one
// side went through a TLS request.
func (s *session) handshake() (compress bool, err error) {
	cfg := s.relay.cfg
	seq, greeting, err := s.server.readPacket()
	if err != nil {
		return false, fmt.Errorf("read the node's greeting: %w", err)
	}
	capsAt, err := greetingCapsAt(greeting)
	if err != nil {
		if len(greeting) > 0 && greeting[0] == 0xff {
			_ = s.client.writePacket(seq, greeting)
			_ = s.client.flush()
		}
		return false, err
	}
	serverCaps := uint32(binary.LittleEndian.Uint16(greeting[capsAt:]))
	if len(greeting) >= capsAt+7 {
		serverCaps |= uint32(binary.LittleEndian.Uint16(greeting[capsAt+5:])) << 16
	}
	low := binary.LittleEndian.Uint16(greeting[capsAt:])
	if cfg.ServerTLS != nil {
		low |= uint16(clientSSL)
	} else {
		low &^= uint16(clientSSL)
	}
	binary.LittleEndian.PutUint16(greeting[capsAt:], low)
	if err := s.send(s.client, seq, greeting); err != nil {
		return false, err
	}

	seq, resp, err := s.client.readPacket()
	if err != nil {
		return false, err
	}
	if len(resp) < 32 {
		return false, fmt.Errorf("handshake response of %d bytes", len(resp))
	}
	shift := 0 // client sequence ids minus the node's
	if binary.LittleEndian.Uint32(resp)&clientSSL != 0 {
		if cfg.ServerTLS == nil {
			return false, errors.New("the replica asked for TLS, which this relay was not given a certificate for")
		}
		tc := tls.Server(s.client.conn, cfg.ServerTLS)
		if err := tc.Handshake(); err != nil {
			return false, fmt.Errorf("TLS with the replica: %w", err)
		}
		s.client.upgrade(tc)
		shift++
		if seq, resp, err = s.client.readPacket(); err != nil {
			return false, err
		}
		if len(resp) < 32 {
			return false, fmt.Errorf("handshake response of %d bytes", len(resp))
		}
	}
	caps := binary.LittleEndian.Uint32(resp)
	compress = caps&clientCompress != 0 && serverCaps&clientCompress != 0
	caps &^= clientCompress | clientSSL
	if cfg.UpstreamTLS != nil && serverCaps&clientSSL != 0 {
		caps |= clientSSL
		request := bytes.Clone(resp[:32])
		binary.LittleEndian.PutUint32(request, caps)
		if err := s.send(s.server, 1, request); err != nil {
			return false, err
		}
		tc := tls.Client(s.server.conn, cfg.UpstreamTLS)
		if err := tc.Handshake(); err != nil {
			return false, fmt.Errorf("TLS with the node: %w", err)
		}
		s.server.upgrade(tc)
		shift--
	}
	binary.LittleEndian.PutUint32(resp, caps)
	if err := s.send(s.server, byte(int(seq)-shift), resp); err != nil {
		return false, err
	}
	return compress, s.authenticate(shift)
}

// authenticate relays the authentication exchange until the node accepts
// or refuses the replica.
func (s *session) authenticate(shift int) error {
	for {
		seq, p, err := s.server.readPacket()
		if err != nil {
			return err
		}
		if err := s.send(s.client, byte(int(seq)+shift), p); err != nil {
			return err
		}
		switch {
		case len(p) == 0:
			return errors.New("empty packet in authentication")
		case p[0] == 0x00:
			return nil
		case p[0] == 0xff:
			return io.EOF
		case len(p) == 2 && p[0] == 0x01 && p[1] == 0x03:
			continue // fast authentication: the OK follows at once
		}
		seq, p, err = s.client.readPacket()
		if err != nil {
			return err
		}
		if err := s.send(s.server, byte(int(seq)-shift), p); err != nil {
			return err
		}
	}
}

func (s *session) send(w *wire, seq byte, p []byte) error {
	if err := w.writePacket(seq, p); err != nil {
		return err
	}
	return w.flush()
}

// greetingCapsAt is where the lower capability flags sit in a protocol 10
// greeting: after the version string, connection id and salt's first part.
func greetingCapsAt(g []byte) (int, error) {
	if len(g) == 0 || g[0] != 10 {
		return 0, errors.New("not a protocol 10 greeting")
	}
	end := bytes.IndexByte(g[1:], 0)
	if end < 0 {
		return 0, errors.New("greeting without a version string")
	}
	at := 1 + end + 1 + 4 + 8 + 1
	if len(g) < at+2 {
		return 0, errors.New("greeting too short")
	}
	return at, nil
}

var semiSyncRequest = regexp.MustCompile(`(?i)^\s*SET\s+@rpl_semi_sync_slave\s*=\s*1\b`)

// fromClient relays the replica's requests, noting a binlog dump before it
// reaches the node.
func (s *session) fromClient() {
	for {
		seq, p, err := s.client.readPacket()
		if err != nil {
			return
		}
		if seq == 0 && len(p) > 0 && !s.dumping.Load() {
			switch p[0] {
			case comBinlogDump, comBinlogDumpGTID:
				s.dumping.Store(true)
				s.relay.dumps.Add(1)
			case protocol.ComQuery:
				if semiSyncRequest.Match(p[1:]) {
					s.semiSync.Store(true)
				}
			}
		}
		if err := s.server.writePacket(seq, p); err != nil {
			return
		}
		if s.client.idle() {
			if err := s.server.flush(); err != nil {
				return
			}
		}
	}
}

// fromServer relays the node's answers, and the binlog through the filter
// once a dump started.
func (s *session) fromServer() {
	for {
		seq, p, err := s.server.readPacket()
		if err != nil {
			return
		}
		if s.dumping.Load() {
			s.dump(seq, p)
			return
		}
		if err := s.client.writePacket(seq, p); err != nil {
			return
		}
		if s.server.idle() {
			if err := s.client.flush(); err != nil {
				return
			}
		}
	}
}

// semi-synchronous replication's event packet header: a magic byte and a
// flag asking the replica to acknowledge the event.
const (
	semiSyncMagic   = 0xef
	semiSyncNeedAck = 0x01
)

// dump relays a binlog dump, starting from its first packet, until the
// node ends it or a connection breaks.
func (s *session) dump(seq byte, first []byte) {
	r := s.relay
	filter := NewFilter(r.cfg.Personal)
	out := seq
	carryAck := false
	p := first
	for {
		// A logical packet continues while its pieces are full.
		for piece := p; len(piece) == maxPayload; {
			var err error
			if _, piece, err = s.server.readPacket(); err != nil {
				return
			}
			p = append(p, piece...)
		}
		if len(p) == 0 || p[0] != 0x00 {
			// EOF or an error ends the dump; pass it on as it is.
			_ = s.client.writeLogical(&out, p)
			_ = s.client.flush()
			return
		}
		ev, ack := p[1:], false
		if s.semiSync.Load() && len(ev) >= 2 && ev[0] == semiSyncMagic {
			ack, ev = ev[1]&semiSyncNeedAck != 0, ev[2:]
		}
		r.events.Add(1)
		r.bytesIn.Add(uint64(len(ev)))
		dropped, rows := filter.Dropped, filter.RowEvents
		kept, err := filter.Push(ev)
		r.dropped.Add(filter.Dropped - dropped)
		r.droppedRows.Add(filter.RowEvents - rows)
		if err != nil {
			s.refuse(&out, err)
			return
		}
		ack = ack || carryAck
		carryAck = ack && len(kept) == 0
		for i, k := range kept {
			payload := make([]byte, 0, len(k)+3)
			payload = append(payload, 0x00)
			if s.semiSync.Load() {
				flag := byte(0)
				if ack && i == len(kept)-1 {
					flag = semiSyncNeedAck
				}
				payload = append(payload, semiSyncMagic, flag)
			}
			payload = append(payload, k...)
			r.bytesSent.Add(uint64(len(k)))
			if err := s.client.writeLogical(&out, payload); err != nil {
				return
			}
		}
		if s.server.idle() {
			if err := s.client.flush(); err != nil {
				return
			}
		}
		var err2 error
		if _, p, err2 = s.server.readPacket(); err2 != nil {
			return
		}
	}
}

// refuse stops a dump the filter cannot vouch for, telling the replica why
// (it shows in Last_IO_Error) rather than sending what might be personal.
func (s *session) refuse(seq *byte, cause error) {
	r := s.relay
	r.refused.Add(1)
	msg := fmt.Sprintf("meridian relay for %s: %v", r.cfg.Name, cause)
	r.lastRefusal.Store(msg)
	r.log.Error("binlog dump refused", "err", cause)
	// 1236 is ER_MASTER_FATAL_ERROR_READING_BINLOG: the replica stops its
	// IO thread with the message rather than retrying in a loop.
	_ = s.client.writeLogical(seq, protocol.AppendERR(nil, &protocol.ServerError{Code: 1236, State: "HY000", Message: msg}))
	_ = s.client.flush()
}
