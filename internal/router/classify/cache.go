package classify

import (
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Cache remembers classifications by statement digest, so that the hot path
// normalises and hashes a statement but does not parse it again. Only
// classifications that follow from the digest alone are kept: statements whose
// class depends on a literal value (SET autocommit = 0 or 1) and statements
// the parser rejected are classified every time.
//
// It is split into shards, each a bounded table evicted in CLOCK order (an
// approximation of LRU whose hits only take a read lock).
type Cache struct {
	shards []cacheShard
}

const cacheShards = 16

type cacheShard struct {
	mu      sync.RWMutex
	index   map[uint64]int
	entries []cacheEntry
	limit   int
	hand    int
}

type cacheEntry struct {
	hash       uint64
	normalised string
	class      Class
	used       atomic.Bool
}

// NewCache returns a cache holding about size classifications; size <= 0
// disables caching.
func NewCache(size int) *Cache {
	if size <= 0 {
		return &Cache{}
	}
	c := &Cache{shards: make([]cacheShard, cacheShards)}
	perShard := (size + cacheShards - 1) / cacheShards
	for i := range c.shards {
		c.shards[i].index = make(map[uint64]int, perShard)
		c.shards[i].entries = make([]cacheEntry, 0, perShard)
		c.shards[i].limit = perShard
	}
	return c
}

var defaultCache = NewCache(16384)

const (
	// maxCachedDigest keeps huge statements (bulk loads) out of the cache:
	// parsing them dwarfs a cache miss, and they would crowd out the rest.
	maxCachedDigest = 16 << 10
	// maxPooledBuffer keeps the buffers of huge statements out of the pool.
	maxPooledBuffer = 64 << 10
)

// Classify classifies one statement text (as sent in COM_QUERY, possibly
// several statements separated by ';') using the package's default cache.
func Classify(sql string) Class { return defaultCache.Classify(sql) }

// scratch buffers for digests; pooled so that a cache hit does not allocate.
var digestBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Classify classifies one statement text, from the cache when its digest is
// known.
func (c *Cache) Classify(sql string) Class {
	if len(c.shards) == 0 {
		class, _ := classify(sql)
		return class
	}
	bp := digestBuffers.Get().(*[]byte)
	buf, _ := appendNormalised((*bp)[:0], sql)
	defer func() {
		if cap(buf) <= maxPooledBuffer {
			*bp = buf
			digestBuffers.Put(bp)
		}
	}()
	hash := xxhash.Sum64(buf)
	shard := &c.shards[hash%cacheShards]
	if class, ok := shard.get(hash, buf); ok {
		return class
	}
	class, cacheable := classify(sql)
	if cacheable && len(buf) <= maxCachedDigest {
		shard.put(hash, string(buf), class)
	}
	return class
}

func (s *cacheShard) get(hash uint64, normalised []byte) (Class, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.index[hash]
	if !ok || s.entries[i].normalised != string(normalised) {
		return Class{}, false
	}
	s.entries[i].used.Store(true)
	return s.entries[i].class, true
}

func (s *cacheShard) put(hash uint64, normalised string, class Class) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[hash]; ok {
		// Another goroutine got here first, or two digests share a hash.
		s.entries[i].normalised, s.entries[i].class = normalised, class
		return
	}
	if n := len(s.entries); n < s.limit {
		s.entries = s.entries[:n+1]
		e := &s.entries[n]
		e.hash, e.normalised, e.class = hash, normalised, class
		s.index[hash] = n
		return
	}
	for {
		e := &s.entries[s.hand]
		if e.used.Load() {
			e.used.Store(false)
			s.hand = (s.hand + 1) % len(s.entries)
			continue
		}
		delete(s.index, e.hash)
		e.hash, e.normalised, e.class = hash, normalised, class
		s.index[hash] = s.hand
		s.hand = (s.hand + 1) % len(s.entries)
		return
	}
}
