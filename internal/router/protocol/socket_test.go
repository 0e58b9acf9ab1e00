package protocol

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair is a connected pair of loopback TCP connections.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// A write larger than the socket buffers waits for the reader and arrives
// whole; the reader sees EOF once the writer closes.
func TestSocketMovesBytesAndEOF(t *testing.T) {
	a, b := tcpPair(t)
	sa, sb := newSocket(a), newSocket(b)
	if _, ok := sa.(*socket); !ok {
		t.Fatalf("newSocket(%T) = %T, want raw socket I/O", a, sa)
	}
	want := bytes.Repeat([]byte("meridian"), 1<<20)
	sent := make(chan error, 1)
	go func() {
		n, err := sa.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		a.Close()
		sent <- err
	}()
	got, err := io.ReadAll(sb)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(want))
	}
}

// Deadlines and Close reach a read that waits, as on a plain net.Conn.
func TestSocketWaitEndsOnDeadlineAndClose(t *testing.T) {
	a, _ := tcpPair(t)
	s := newSocket(a)
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a deadline error", err)
	}
	a.SetReadDeadline(time.Time{})
	read := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 8))
		read <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	if err := <-read; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed connection: %v, want net.ErrClosed", err)
	}
}

// Other connections (TLS, pipes) keep their own Read and Write.
func TestSocketLeavesOtherConnsAlone(t *testing.T) {
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if s := newSocket(p); s != io.ReadWriter(p) {
		t.Fatalf("newSocket(pipe) = %T, want the pipe itself", s)
	}
}
