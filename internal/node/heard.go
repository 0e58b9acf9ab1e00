package node

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Every TCP connection a Client opens records, per address, when a byte
// last arrived from it. A probe that fails while bytes still arrive (a
// reconnection across a slow link, a handshake cut short by a deadline)
// met a node that answers; one that heard nothing met a silent node.
// Telling them apart is what keeps the cost of a handshake from passing
// for the loss of a node.
var heard sync.Map // address -> *atomic.Int64 (nanoseconds since heardEpoch)

// heardEpoch makes the recorded times monotonic: a time.Time keeps its
// monotonic reading only in memory, and atomics hold integers.
var heardEpoch = time.Now()

// LastHeard is when a byte last arrived from addr on any connection this
// process opened to it through this package (zero when none ever did).
func LastHeard(addr string) time.Time {
	v, ok := heard.Load(addr)
	if !ok {
		return time.Time{}
	}
	ns := v.(*atomic.Int64).Load()
	if ns == 0 {
		return time.Time{}
	}
	return heardEpoch.Add(time.Duration(ns))
}

// HeardSince reports whether a byte arrived from addr at or after t.
func HeardSince(addr string, t time.Time) bool {
	last := LastHeard(addr)
	return !last.IsZero() && !last.Before(t)
}

func heardClock(addr string) *atomic.Int64 {
	v, _ := heard.LoadOrStore(addr, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// dialHeard dials a TCP address and records the bytes that arrive on the
// connection.
func dialHeard(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &heardConn{Conn: c, clock: heardClock(addr)}, nil
}

// heardConn is a connection that stamps its address's clock at every read
// that returns bytes.
type heardConn struct {
	net.Conn
	clock *atomic.Int64
}

func (c *heardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.clock.Store(int64(time.Since(heardEpoch)))
	}
	return n, err
}

// SyscallConn exposes the socket, so that the driver's check of an idle
// connection's liveness (a non-blocking read before reuse) keeps working.
func (c *heardConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, syscall.EINVAL
	}
	return sc.SyscallConn()
}
