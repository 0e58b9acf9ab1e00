package protocol

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// socket reads and writes a TCP connection with raw system calls and waits
// in Go's network poller only when the socket is not ready.
//
// net.Conn's Read and Write enter the scheduler's system-call state on every
// call. On a busy proxy the runtime's monitor thread then keeps waking every
// 20 µs to take processors back from those calls and hand them to other
// threads: a quarter of the router's CPU went to that, and it made the
// router cost more CPU per statement than HAProxy (bench/router.sh). The
// socket is non-blocking, so a read or write returns at once and needs no
// hand-off; the processor stays with the goroutine during the call.
// Deadlines and Close still work: the waiting is net.Conn's own.
type socket struct {
	nc net.Conn
	rc syscall.RawConn
	// The current operation's buffer and result; readOp and writeOp are
	// bound once so that a call allocates nothing.
	buf             []byte
	n               int
	errno           syscall.Errno
	readOp, writeOp func(fd uintptr) bool
}

// newSocket returns raw I/O for a TCP connection, and nc itself for any
// other (TLS, pipes in tests).
func newSocket(nc net.Conn) io.ReadWriter {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	s := &socket{nc: nc, rc: rc}
	s.readOp, s.writeOp = s.read, s.write
	return s
}

func (s *socket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.buf, s.n, s.errno = p, 0, 0
	err := s.rc.Read(s.readOp)
	s.buf = nil
	switch {
	case err != nil:
		return 0, err
	case s.errno != 0:
		return 0, s.opError("read", s.errno)
	case s.n == 0:
		return 0, io.EOF
	}
	return s.n, nil
}

// read is one attempt to fill s.buf; false means wait until readable.
func (s *socket) read(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)))
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.n, s.errno = int(n), errno
		return true
	}
}

func (s *socket) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.buf, s.n, s.errno = p, 0, 0
	err := s.rc.Write(s.writeOp)
	s.buf = nil
	switch {
	case err != nil:
		return s.n, err
	case s.errno != 0:
		return s.n, s.opError("write", s.errno)
	}
	return s.n, nil
}

// write sends what is left of s.buf; false means wait until writable.
func (s *socket) write(fd uintptr) bool {
	for s.n < len(s.buf) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.buf[s.n])), uintptr(len(s.buf)-s.n))
		switch errno {
		case 0:
			s.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.errno = errno
			return true
		}
	}
	return true
}

// spoke reports, without waiting or consuming anything, whether the peer
// sent bytes or closed the connection.
func (s *socket) spoke() (spoke, reset bool) {
	s.rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		spoke, reset = errno != syscall.EAGAIN, errno == syscall.ECONNRESET
		return true
	})
	return spoke, reset
}

// opError is the error net.Conn would have returned.
func (s *socket) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.nc.LocalAddr(), Addr: s.nc.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
