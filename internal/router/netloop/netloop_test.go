package netloop

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// pair returns a loop socket and the plain connection at its other end.
func pair(t *testing.T, handler func()) (*Socket, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Pick()
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Adopt(nc.(*net.TCPConn), handler)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, peer
}

// TestBlockingSide reads and writes a loop's socket from a goroutine that
// waits for the loop to see it ready, and ends with EOF on Shutdown.
func TestBlockingSide(t *testing.T) {
	s, peer := pair(t, func() {})
	go func() {
		time.Sleep(20 * time.Millisecond) // the read below must wait
		peer.Write([]byte("ping"))
	}()
	buf := make([]byte, 16)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if n, err := io.ReadFull(peer, buf[:4]); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		s.Shutdown()
	}()
	if _, err := s.Read(buf); err != io.EOF {
		t.Fatalf("read after shutdown: %v, want EOF", err)
	}
}

// TestLoopSide runs the handler on the loop when data arrives; on that
// side a socket with nothing to read says so instead of waiting.
func TestLoopSide(t *testing.T) {
	got := make(chan string, 4)
	var s *Socket
	ready := make(chan struct{})
	s, peer := pair(t, func() {
		<-ready
		buf := make([]byte, 16)
		n, err := s.Read(buf)
		switch {
		case errors.Is(err, ErrWouldBlock):
		case err != nil:
			got <- err.Error()
		default:
			got <- string(buf[:n])
		}
	})
	s.SetBlocking(false)
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("read of an empty socket: %v, want ErrWouldBlock", err)
	}
	if s.MayRead() {
		t.Error("a socket found empty may still have something to read")
	}
	close(ready)
	peer.Write([]byte("hello"))
	select {
	case msg := <-got:
		if msg != "hello" {
			t.Fatalf("handler read %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never ran")
	}
}
