// Package netloop runs sockets on epoll event loops. A loop is one OS
// thread that waits for readiness with a raw epoll_wait and runs the
// handler of each ready socket itself, so a request and its answer cross
// the proxy without waking a goroutine: on a machine whose cores are
// shared with the clients and the servers, those wake-ups cost a proxy
// built on Go's scheduler a tenth of its throughput (docs/BENCHMARKS.md).
//
// A goroutine can still do blocking I/O on a loop's socket (the slow path):
// Socket.Read and Write wait for the loop to see the socket ready.
package netloop

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// ErrWouldBlock is what a non-blocking Socket returns instead of waiting.
var ErrWouldBlock = errors.New("netloop: socket not ready")

// Loop is one event loop.
type Loop struct {
	epfd, wakefd int

	mu      sync.Mutex
	sockets map[uint64]*Socket
	nextID  uint64
	posted  []func()
	// signalled is set while a wake-up is pending, so that many posts
	// cost one eventfd write.
	signalled atomic.Bool
}

const wakeID = 0

// edgeTriggered is EPOLLET, which package syscall declares negative.
const edgeTriggered = 1 << 31

var (
	startOnce sync.Once
	loops     []*Loop
	startErr  error
	next      atomic.Uint64
)

// Pick returns one of the process's loops, starting them on first use: as
// many as there are processors, each holding one for good. GOMAXPROCS is
// raised by their number so that the rest of the process keeps the
// processors it had.
func Pick() (*Loop, error) {
	startOnce.Do(func() {
		n := runtime.GOMAXPROCS(0)
		for range n {
			l, err := newLoop()
			if err != nil {
				startErr = err
				return
			}
			loops = append(loops, l)
		}
		runtime.GOMAXPROCS(2 * n)
		for _, l := range loops {
			go l.run()
		}
	})
	if startErr != nil {
		return nil, startErr
	}
	return loops[next.Add(1)%uint64(len(loops))], nil
}

func newLoop() (*Loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netloop: epoll_create1: %w", err)
	}
	wakefd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		syscall.Close(epfd)
		return nil, fmt.Errorf("netloop: eventfd: %w", errno)
	}
	l := &Loop{epfd: epfd, wakefd: int(wakefd), sockets: map[uint64]*Socket{}, nextID: wakeID + 1}
	if err := l.ctl(syscall.EPOLL_CTL_ADD, l.wakefd, syscall.EPOLLIN, wakeID); err != nil {
		syscall.Close(l.wakefd)
		syscall.Close(epfd)
		return nil, err
	}
	return l, nil
}

func (l *Loop) ctl(op, fd int, events uint32, id uint64) error {
	var ev syscall.EpollEvent
	ev.Events = events
	*(*uint64)(unsafe.Pointer(&ev.Fd)) = id
	if err := syscall.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("netloop: epoll_ctl: %w", err)
	}
	return nil
}

// Post runs f on the loop's thread.
func (l *Loop) Post(f func()) {
	l.mu.Lock()
	l.posted = append(l.posted, f)
	l.mu.Unlock()
	if l.signalled.CompareAndSwap(false, true) {
		one := uint64(1)
		syscall.Write(l.wakefd, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
}

// run waits in epoll_wait without leaving its processor: a blocking
// system call through the scheduler would hand the processor off and wake
// a thread to take it back on every event. The garbage collector still
// stops the loop: its preemption signal interrupts epoll_wait, and the
// loop yields.
func (l *Loop) run() {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 128)
	ready := make([]*Socket, 0, len(events))
	flags := make([]uint32, 0, len(events))
	var drain [8]byte
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(l.epfd),
			uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), ^uintptr(0), 0, 0)
		if errno == syscall.EINTR {
			// Most likely the scheduler's preemption signal, for a stop of
			// the world: RawSyscall6 has no preemption check, so yield
			// here or the world never stops.
			runtime.Gosched()
			continue
		}
		if errno != 0 {
			panic(fmt.Sprintf("netloop: epoll_wait: %v", errno))
		}
		woken := false
		for _, ev := range events[:n] {
			if *(*uint64)(unsafe.Pointer(&ev.Fd)) == wakeID {
				woken = true
			}
		}
		if woken {
			// Before taking the posted work: a Post that finds signalled
			// still set relies on its work being taken after this.
			syscall.Read(l.wakefd, drain[:])
			l.signalled.Store(false)
		}
		ready, flags = ready[:0], flags[:0]
		var posted []func()
		l.mu.Lock()
		for _, ev := range events[:n] {
			if s := l.sockets[*(*uint64)(unsafe.Pointer(&ev.Fd))]; s != nil {
				ready, flags = append(ready, s), append(flags, ev.Events)
			}
		}
		if woken {
			posted, l.posted = l.posted, nil
		}
		l.mu.Unlock()
		for i, s := range ready {
			s.ready(flags[i])
		}
		for _, f := range posted {
			f()
		}
	}
}

// Socket is a TCP socket registered with a loop, edge-triggered.
type Socket struct {
	loop    *Loop
	id      uint64
	fd      int
	handler func()
	// blocking selects the goroutine side: Read and Write wait for
	// readiness instead of returning ErrWouldBlock.
	blocking bool

	// pending is what the loop's side wrote and the socket could not take
	// yet, in order; Flush sends it.
	pending []byte

	// Readiness edges seen, and the goroutine waiting for one.
	reads, writes atomic.Uint64
	// drainedAt is the count of read edges before the last read that
	// found nothing more to read (see MayRead).
	drainedAt uint64
	waiting   atomic.Bool
	wake      chan struct{}

	mu     sync.Mutex
	closed bool
	local  net.Addr
	remote net.Addr
}

// Adopt moves a TCP connection onto the loop: the socket is taken out of
// Go's poller (nc is closed) and handler runs on the loop's thread at
// every readiness edge. The socket starts blocking.
func (l *Loop) Adopt(nc *net.TCPConn, handler func()) (*Socket, error) {
	rc, err := nc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		var r uintptr
		var errno syscall.Errno
		r, _, errno = syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = os.NewSyscallError("fcntl", errno)
			return
		}
		fd = int(r)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	s := &Socket{loop: l, fd: fd, handler: handler, blocking: true, wake: make(chan struct{}, 1),
		drainedAt: ^uint64(0), local: nc.LocalAddr(), remote: nc.RemoteAddr()}
	nc.Close()
	l.mu.Lock()
	s.id = l.nextID
	l.nextID++
	l.sockets[s.id] = s
	l.mu.Unlock()
	if err := l.ctl(syscall.EPOLL_CTL_ADD, fd, syscall.EPOLLIN|syscall.EPOLLOUT|syscall.EPOLLRDHUP|edgeTriggered, s.id); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ready records an edge, wakes a goroutine waiting for it and runs the
// handler.
func (s *Socket) ready(events uint32) {
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		s.reads.Add(1)
	}
	if events&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		s.writes.Add(1)
	}
	if s.waiting.CompareAndSwap(true, false) {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.handler()
}

// SetBlocking chooses between the goroutine side (true) and the loop's.
func (s *Socket) SetBlocking(on bool) { s.blocking = on }

// wait blocks until edges has moved past seen, the count read before the
// attempt that found the socket not ready.
func (s *Socket) wait(edges *atomic.Uint64, seen uint64) {
	s.waiting.Store(true)
	if edges.Load() != seen {
		s.waiting.Store(false)
		return
	}
	<-s.wake
}

// MayRead reports whether the socket may have something to read: it
// became readable since a read last found it drained (nothing, or less than
// asked for). The loop's side reads only then: with edge-triggered epoll a
// read that would find nothing is a wasted system call.
func (s *Socket) MayRead() bool { return s.reads.Load() != s.drainedAt }

func (s *Socket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		seen := s.reads.Load()
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(s.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch errno {
		case 0:
			if n == 0 {
				return 0, io.EOF
			}
			if int(n) < len(p) {
				s.drainedAt = seen
			}
			return int(n), nil
		case syscall.EINTR:
		case syscall.EAGAIN:
			s.drainedAt = seen
			if !s.blocking {
				return 0, ErrWouldBlock
			}
			s.wait(&s.reads, seen)
		default:
			return 0, s.opError("read", errno)
		}
	}
}

// Write writes all of p. On the goroutine side it waits for room; on the
// loop's side what the socket cannot take now is kept, after anything
// kept before, until Flush sends it.
func (s *Socket) Write(p []byte) (int, error) {
	if s.blocking {
		if _, err := s.Flush(); err != nil {
			return 0, err
		}
		return s.send(p)
	}
	if len(s.pending) == 0 {
		n, err := s.send(p)
		if !errors.Is(err, ErrWouldBlock) {
			return n, err
		}
		s.pending = append(s.pending, p[n:]...)
		return len(p), nil
	}
	s.pending = append(s.pending, p...)
	return len(p), nil
}

// Flush sends what Write kept, and reports whether some is still kept (on
// the loop's side, when the socket has no room for it yet).
func (s *Socket) Flush() (bool, error) {
	if len(s.pending) == 0 {
		return false, nil
	}
	n, err := s.send(s.pending)
	s.pending = s.pending[:copy(s.pending, s.pending[n:])]
	if errors.Is(err, ErrWouldBlock) {
		return true, nil
	}
	if len(s.pending) == 0 && cap(s.pending) > keptPending {
		s.pending = nil
	}
	return len(s.pending) > 0, err
}

// keptPending bounds the pending buffer an idle socket keeps.
const keptPending = 64 << 10

// send writes p, waiting for room on the goroutine side; on the loop's
// side it returns ErrWouldBlock with what it wrote so far.
func (s *Socket) send(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		seen := s.writes.Load()
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(s.fd), uintptr(unsafe.Pointer(&p[written])), uintptr(len(p)-written))
		switch errno {
		case 0:
			written += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			if !s.blocking {
				return written, ErrWouldBlock
			}
			s.wait(&s.writes, seen)
		default:
			return written, s.opError("write", errno)
		}
	}
	return written, nil
}

// Shutdown ends both directions from any goroutine: whoever uses the
// socket then reads EOF. The descriptor stays the socket's until Close.
func (s *Socket) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		syscall.Shutdown(s.fd, syscall.SHUT_RDWR)
	}
}

// ResetOnClose makes Close send a TCP reset instead of an orderly close
// (SO_LINGER 0), as a server that aborts a connection does.
func (s *Socket) ResetOnClose() error {
	return syscall.SetsockoptLinger(s.fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
}

// Close closes the socket and forgets it.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := syscall.Close(s.fd)
	s.mu.Unlock()
	s.loop.mu.Lock()
	delete(s.loop.sockets, s.id)
	s.loop.mu.Unlock()
	return err
}

func (s *Socket) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.local, Addr: s.remote, Err: os.NewSyscallError(op, errno)}
}
