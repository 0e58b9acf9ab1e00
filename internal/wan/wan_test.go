package wan

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const partitionDeadline = 300 * time.Millisecond

func TestSplitRTT(t *testing.T) {
	tests := []struct {
		rtt      time.Duration
		up, down int64
	}{
		{0, 0, 0},
		{80 * time.Millisecond, 40, 40},
		{75 * time.Millisecond, 37, 38},
		{1500 * time.Microsecond, 1, 1},
		{time.Second, 500, 500},
	}
	for _, tt := range tests {
		var st linkState
		st.setRTT(tt.rtt)
		up, down := st.delay(false).Milliseconds(), st.delay(true).Milliseconds()
		if up != tt.up || down != tt.down {
			t.Errorf("setRTT(%s) = %d, %d ms one way; want %d, %d", tt.rtt, up, down, tt.up, tt.down)
		}
	}
}

func TestRouteSameRegionIsDirect(t *testing.T) {
	l := newLinks(t, 80*time.Millisecond)
	got, err := l.Route("eu", "eu", "127.0.0.1:3306")
	if err != nil {
		t.Fatal(err)
	}
	if got != "127.0.0.1:3306" {
		t.Errorf("same-region route = %s, want the target itself", got)
	}
	if s := l.Snapshot(); len(s) != 0 {
		t.Errorf("same-region route created links: %+v", s)
	}
}

func TestRouteRejectsBadInput(t *testing.T) {
	l := newLinks(t, 0)
	tests := []struct {
		name, from, to, target, wantErr string
	}{
		{"no port", "eu", "us", "127.0.0.1", "not host:port"},
		{"empty from", "", "us", "127.0.0.1:1", "empty region"},
		{"empty to", "eu", "", "127.0.0.1:1", "empty region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Route(tt.from, tt.to, tt.target)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Route(%q, %q, %q) error = %v, want it to mention %q", tt.from, tt.to, tt.target, err, tt.wantErr)
			}
		})
	}
}

func TestRouteAddsRTT(t *testing.T) {
	l := newLinks(t, 80*time.Millisecond)
	target := echoServer(t)
	addr := mustRoute(t, l, "eu", "us", target)
	if addr == target || !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("route = %s, want a bound loopback proxy address distinct from %s", addr, target)
	}
	conn := dial(t, addr)
	got := roundTrip(t, conn)
	t.Logf("round trip at rtt 80ms: %s", got)
	assertBetween(t, got, 70*time.Millisecond, 200*time.Millisecond)
}

func TestRouteIsPerClientRegion(t *testing.T) {
	l := newLinks(t, 10*time.Millisecond)
	target := echoServer(t)
	eu := mustRoute(t, l, "eu", "us", target)
	apac := mustRoute(t, l, "apac", "us", target)
	if eu == apac {
		t.Errorf("eu and apac clients share proxy %s", eu)
	}
	if again := mustRoute(t, l, "eu", "us", target); again != eu {
		t.Errorf("second eu route = %s, want cached %s", again, eu)
	}
}

func TestSetLatencyChangesLiveConnections(t *testing.T) {
	l := newLinks(t, 80*time.Millisecond)
	target := echoServer(t)
	conn := dial(t, mustRoute(t, l, "eu", "us", target))
	roundTrip(t, conn)

	// Reverse order: the link is the same in both directions.
	if err := l.SetLatency("us", "eu", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got := roundTrip(t, conn)
	t.Logf("round trip after SetLatency 20ms: %s", got)
	assertBetween(t, got, 18*time.Millisecond, 70*time.Millisecond)

	if err := l.SetLatency("eu", "us", 160*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got = roundTrip(t, conn)
	t.Logf("round trip after SetLatency 160ms: %s", got)
	assertBetween(t, got, 150*time.Millisecond, 300*time.Millisecond)

	// A proxy created later in the other direction gets the new latency too.
	reverse := dial(t, mustRoute(t, l, "us", "eu", target))
	got = roundTrip(t, reverse)
	t.Logf("round trip on a new us->eu proxy: %s", got)
	assertBetween(t, got, 150*time.Millisecond, 300*time.Millisecond)

	if err := l.SetLatency("eu", "eu", time.Millisecond); err == nil {
		t.Error("SetLatency within one region succeeded, want an error")
	}
	if err := l.SetLatency("eu", "us", -time.Millisecond); err == nil {
		t.Error("SetLatency with a negative rtt succeeded, want an error")
	}
}

func TestPartitionAndHeal(t *testing.T) {
	l := newLinks(t, 80*time.Millisecond)
	target := echoServer(t)
	addr := mustRoute(t, l, "eu", "us", target)
	before := dial(t, addr)
	roundTrip(t, before)

	if err := l.Partition("us", "eu"); err != nil {
		t.Fatal(err)
	}
	assertBlackHoled(t, before)
	assertBlackHoled(t, before) // still open: a timeout again, not EOF
	during := dial(t, addr)
	assertBlackHoled(t, during)
	lateProxy := dial(t, mustRoute(t, l, "us", "eu", target))
	assertBlackHoled(t, lateProxy)
	assertPartitioned(t, l, true)
	// Latency toxics are replaced behind the black hole; it must keep swallowing.
	if err := l.SetLatency("eu", "us", 80*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	assertBlackHoled(t, before)

	if err := l.Heal("eu", "us"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []net.Conn{before, during, lateProxy} {
		assertClosedByProxy(t, c)
	}
	after := dial(t, addr)
	got := roundTrip(t, after)
	t.Logf("round trip after heal: %s", got)
	assertBetween(t, got, 70*time.Millisecond, 200*time.Millisecond)
	assertPartitioned(t, l, false)
}

func TestHealAll(t *testing.T) {
	l := newLinks(t, 0)
	target := echoServer(t)
	addrs := []string{mustRoute(t, l, "eu", "us", target), mustRoute(t, l, "apac", "us", target)}
	for _, other := range []string{"eu", "apac"} {
		if err := l.Partition(other, "us"); err != nil {
			t.Fatal(err)
		}
	}
	assertPartitioned(t, l, true)
	if err := l.HealAll(); err != nil {
		t.Fatal(err)
	}
	assertPartitioned(t, l, false)
	for _, addr := range addrs {
		roundTrip(t, dial(t, addr))
	}
}

func TestConcurrentRouteCreatesOneProxy(t *testing.T) {
	l := newLinks(t, 0)
	target := echoServer(t)
	const callers = 32
	addrs := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { addrs[i], errs[i] = l.Route("eu", "us", target) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if addrs[i] != addrs[0] {
			t.Fatalf("concurrent routes returned %s and %s", addrs[0], addrs[i])
		}
	}
	s := l.Snapshot()
	if len(s) != 1 || s[0].Proxies != 1 {
		t.Errorf("snapshot = %+v, want one link with one proxy", s)
	}
}

func TestCloseFreesPorts(t *testing.T) {
	l := New(func(a, b string) time.Duration { return 0 })
	target := echoServer(t)
	addrs := []string{mustRoute(t, l, "eu", "us", target), mustRoute(t, l, "apac", "us", target)}
	open := dial(t, addrs[0])
	l.Close()
	assertClosedByProxy(t, open)
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("port of closed proxy %s still taken: %v", addr, err)
			continue
		}
		ln.Close()
	}
	if _, err := l.Route("eu", "us", target); err == nil {
		t.Error("Route after Close succeeded, want an error")
	}
	l.Close()
}

func TestSnapshot(t *testing.T) {
	rtts := map[pair]time.Duration{pairOf("eu", "us"): 80 * time.Millisecond, pairOf("apac", "us"): 150 * time.Millisecond}
	l := New(func(a, b string) time.Duration { return rtts[pairOf(a, b)] })
	t.Cleanup(l.Close)
	target := echoServer(t)
	mustRoute(t, l, "eu", "us", target)
	mustRoute(t, l, "eu", "us", echoServer(t))
	mustRoute(t, l, "us", "eu", target)
	if err := l.Partition("eu", "us"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetLatency("apac", "us", 90*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := []LinkState{
		{From: "apac", To: "us", RTT: 90 * time.Millisecond},
		{From: "eu", To: "us", RTT: 80 * time.Millisecond, Partitioned: true, Proxies: 2},
		{From: "us", To: "eu", RTT: 80 * time.Millisecond, Partitioned: true, Proxies: 1},
	}
	got := l.Snapshot()
	if len(got) != len(want) {
		t.Fatalf("snapshot = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("snapshot[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func newLinks(t *testing.T, rtt time.Duration) *Links {
	t.Helper()
	l := New(func(a, b string) time.Duration { return rtt })
	t.Cleanup(l.Close)
	return l
}

func mustRoute(t *testing.T, l *Links, from, to, target string) string {
	t.Helper()
	addr, err := l.Route(from, to, target)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// echoServer returns the address of a loopback TCP server that echoes every byte.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				io.Copy(conn, conn)
			})
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// roundTrip sends a message and times its echo.
func roundTrip(t *testing.T, conn net.Conn) time.Duration {
	t.Helper()
	msg := []byte("ping")
	start := time.Now()
	if err := conn.SetDeadline(start.Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	reply := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, reply); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	return time.Since(start)
}

func assertBetween(t *testing.T, got, low, high time.Duration) {
	t.Helper()
	if got < low || got > high {
		t.Errorf("round trip %s, want between %s and %s", got, low, high)
	}
}

// assertBlackHoled checks that a write is accepted but no reply arrives, and that
// the connection is not closed.
func assertBlackHoled(t *testing.T, conn net.Conn) {
	t.Helper()
	if err := conn.SetDeadline(time.Now().Add(partitionDeadline)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatalf("write during partition: %v", err)
	}
	n, err := conn.Read(make([]byte, 4))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read during partition = %d bytes, %v; want a timeout", n, err)
	}
}

func assertClosedByProxy(t *testing.T, conn net.Conn) {
	t.Helper()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection still open, want it closed by the proxy")
	}
}

func assertPartitioned(t *testing.T, l *Links, want bool) {
	t.Helper()
	for _, s := range l.Snapshot() {
		if s.Partitioned != want {
			t.Errorf("link %s->%s partitioned = %v, want %v", s.From, s.To, s.Partitioned, want)
		}
	}
}
