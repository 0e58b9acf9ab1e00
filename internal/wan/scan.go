package wan

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"
)

// Watch looks for given byte strings in everything the WAN links carry,
// the way a network tap would: tests prove with it that some data (a
// personal canary value) never crosses a link while other data does.
type Watch struct {
	links   *Links
	needles [][]byte
	longest int

	mu   sync.Mutex
	hits map[Hit]int
}

// Hit is one needle seen on one proxy, in one direction.
type Hit struct {
	// From is the client's region, To the region of Target, the server the
	// proxy leads to (host:port).
	From, To, Target string
	// Downstream: the bytes went from the server to the client.
	Downstream bool
	Needle     string
}

// Watch starts looking for needles on every link, existing and future,
// until Stop. Bytes dropped by a partition never crossed and are not seen.
func (l *Links) Watch(needles ...string) *Watch {
	w := &Watch{links: l, hits: map[Hit]int{}}
	for _, n := range needles {
		w.needles = append(w.needles, []byte(n))
		w.longest = max(w.longest, len(n))
	}
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	list := append(slices.Clone(l.loadWatches()), w)
	l.watches.Store(&list)
	return w
}

// Stop ends the watch; its hits stay readable.
func (w *Watch) Stop() {
	l := w.links
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	list := slices.DeleteFunc(slices.Clone(l.loadWatches()), func(x *Watch) bool { return x == w })
	l.watches.Store(&list)
}

// Hits returns every needle seen so far with the number of times, by proxy
// and direction.
func (w *Watch) Hits() map[Hit]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[Hit]int, len(w.hits))
	for h, n := range w.hits {
		out[h] = n
	}
	return out
}

func (l *Links) loadWatches() []*Watch {
	if p := l.watches.Load(); p != nil {
		return *p
	}
	return nil
}

// streamScan scans one direction of one connection. It keeps the end of
// the previous chunk, so a needle split between two chunks is still seen,
// and counts a match only when it ends in the new chunk.
type streamScan struct {
	watches *atomic.Pointer[[]*Watch]
	hit     Hit
	tail    []byte
}

func (s *streamScan) scan(chunk []byte) {
	if s.watches == nil {
		return
	}
	p := s.watches.Load()
	if p == nil || len(*p) == 0 {
		s.tail = s.tail[:0]
		return
	}
	buf := append(s.tail, chunk...)
	keep := 0
	for _, w := range *p {
		for _, n := range w.needles {
			for at := 0; ; {
				i := bytes.Index(buf[at:], n)
				if i < 0 {
					break
				}
				if end := at + i + len(n); end > len(s.tail) {
					w.record(s.hit, n)
				}
				at += i + 1
			}
		}
		keep = max(keep, w.longest-1)
	}
	keep = min(keep, len(buf))
	s.tail = append(s.tail[:0], buf[len(buf)-keep:]...)
}

func (w *Watch) record(h Hit, needle []byte) {
	h.Needle = string(needle)
	w.mu.Lock()
	w.hits[h]++
	w.mu.Unlock()
}
