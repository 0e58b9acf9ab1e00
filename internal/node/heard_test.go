package node

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestHeard: bytes read on a connection stamp its address; a connection
// that only sends does not.
func TestHeard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	greet := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		<-greet
		c.Write([]byte("hello"))
		time.Sleep(time.Second)
	}()
	addr := ln.Addr().String()
	before := time.Now()
	c, err := dialHeard(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if HeardSince(addr, before) {
		t.Fatal("heard from a server that sent nothing")
	}
	close(greet)
	buf := make([]byte, 5)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	if !HeardSince(addr, before) || LastHeard(addr).After(time.Now()) {
		t.Fatalf("last heard %s, want between %s and now", LastHeard(addr), before)
	}
	// The driver checks an idle connection's liveness through its socket.
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatal("a recording connection hides its socket")
	}
	if _, err := sc.SyscallConn(); err != nil {
		t.Fatal(err)
	}
}
