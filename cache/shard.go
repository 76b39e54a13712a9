package cache

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/tokenguard/tokenguard/verifier"
)

// maxSecondChances bounds the work of one insertion: after that many
// referenced entries have been given a second chance, the oldest goes
// regardless of its bit.
const maxSecondChances = 32

// entry is one cached answer. Apart from ref, hnext and the user-list links,
// an entry is immutable once stored (published by the atomic store that links
// it into the shard's read index), so lock-free readers may use it.
type entry struct {
	user *verifier.User // nil for a negative entry
	key  key128
	// expires is when the entry stops being served (clock.mono nanoseconds);
	// deadAt >= expires is when it may no longer be served even as stale.
	expires, deadAt int64
	ref             atomic.Bool // set by hits, cleared by the eviction sweep
	kind            rejectKind  // negative entries: which refusal to repeat
	// prev and next link the positive entries of one user (shard.byUser);
	// guarded by the shard's lock.
	prev, next *entry
	// hnext links the entries of one bucket of the shard's read index.
	// Written under the shard's lock, read without it.
	hnext atomic.Pointer[entry]
}

// table is a bounded map from key to entry, split into a power-of-two number
// of shards so that misses on different tokens take different locks.
type table struct {
	shards []shard
	mask   uint64
}

type shardFields struct {
	// buckets is the read index: hash chains (by key.hi) of exactly the
	// entries in lru, so that a hit takes no lock. Its length is fixed
	// (a power of two, at least cap); writers change the chains under mu.
	buckets []atomic.Pointer[entry]
	bmask   uint64

	mu  sync.RWMutex                   // guards lru, byUser, the chains' links and entries' prev/next
	lru *simplelru.LRU[uint64, *entry] // by key.lo; recency order; its own bound is never reached
	// byUser heads each user's list of entries (positive table only, else
	// nil). The LRU's eviction callback unlinks, so every path that drops an
	// entry keeps the index exact.
	byUser map[string]*entry
	cap    int

	evictions atomic.Uint64 // live entries dropped to make room; written only on a miss
}

// shard pads its fields to a multiple of 128 bytes (two cache lines, the
// unit of the adjacent-line prefetcher) so neighbouring shards never share
// one.
type shard struct {
	shardFields
	_ [128 - unsafe.Sizeof(shardFields{})%128]byte
}

// Shard sizing: at most maxShards shards, each holding at least minPerShard
// entries, so a small cache keeps near-exact recency order.
const (
	maxShards   = 32
	minPerShard = 256
)

func newTable(size int, indexUsers bool) *table {
	n := 1
	for n < maxShards && size/(2*n) >= minPerShard {
		n *= 2
	}
	t := &table{shards: make([]shard, n), mask: uint64(n - 1)}
	for i := range t.shards {
		s := &t.shards[i]
		s.cap = size / n
		if i < size%n {
			s.cap++
		}
		if indexUsers {
			s.byUser = make(map[string]*entry)
		}
		nb := 1
		for nb < s.cap {
			nb *= 2
		}
		s.buckets, s.bmask = make([]atomic.Pointer[entry], nb), uint64(nb-1)
		s.reset()
	}
	return t
}

// reset empties the shard, releasing its memory. Callers hold s.mu or own s.
func (s *shard) reset() {
	// The LRU's own bound sits one above ours: put evicts first, so it is
	// never reached and every eviction goes through the second-chance sweep.
	lru, err := simplelru.NewLRU(s.cap+1, s.onEvict)
	if err != nil {
		panic("cache: " + err.Error()) // unreachable: cap+1 > 0
	}
	s.lru = lru
	if s.byUser != nil {
		s.byUser = make(map[string]*entry)
	}
	for i := range s.buckets {
		s.buckets[i].Store(nil)
	}
}

func (t *table) shard(k key128) *shard { return &t.shards[k.lo&t.mask] }

// onEvict runs, under s.mu, for every entry leaving the LRU, whatever the
// reason: second-chance eviction, Remove, or replacement.
func (s *shard) onEvict(_ uint64, e *entry) {
	if s.byUser != nil && e.user != nil {
		s.unlink(e)
	}
	s.unindex(e)
}

// index links e at the head of its bucket. Its fields are written before
// the atomic store publishes it, so a reader that finds it sees them.
// Callers hold s.mu.
func (s *shard) index(e *entry) {
	b := &s.buckets[e.key.hi&s.bmask]
	e.hnext.Store(b.Load())
	b.Store(e)
}

// unindex unlinks e from its bucket. e keeps its own hnext, so a reader
// standing on e still reaches the rest of the chain; an entry is never
// indexed twice, so a reader that has passed it never meets it again, and a
// lookup that starts after unindex returns cannot reach it: no indexed
// entry links to it any more. Callers hold s.mu.
func (s *shard) unindex(e *entry) {
	link := &s.buckets[e.key.hi&s.bmask]
	for p := link.Load(); p != nil; p = link.Load() {
		if p == e {
			link.Store(e.hnext.Load())
			return
		}
		link = &p.hnext
	}
}

func (s *shard) link(e *entry) {
	id := e.user.ID
	head := s.byUser[id]
	e.prev, e.next = nil, head
	if head != nil {
		head.prev = e
	}
	s.byUser[id] = e
}

func (s *shard) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if e.next != nil {
		s.byUser[e.user.ID] = e.next
	} else {
		delete(s.byUser, e.user.ID)
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.prev, e.next = nil, nil
}

// put stores e, replacing any entry under the same key and making room
// first. now is the current clock.mono reading. Callers hold s.mu.
func (s *shard) put(e *entry, now int64) {
	// An entry under the same lo is this token's, or, with probability
	// 2^-64, another's: either way the new answer replaces it.
	if s.lru.Contains(e.key.lo) {
		s.lru.Remove(e.key.lo) // unlinks the old entry from the user index
	}
	s.makeRoom(now)
	s.lru.Add(e.key.lo, e)
	s.index(e)
	if s.byUser != nil && e.user != nil {
		s.link(e)
	}
}

// makeRoom evicts until there is space for one more entry, CLOCK style: an
// oldest entry whose referenced bit is set has the bit cleared and moves to
// the front (its second chance); one that is unreferenced, or dead, goes. At
// most maxSecondChances chances are given per call. Callers hold s.mu.
func (s *shard) makeRoom(now int64) {
	chances := 0
	for s.lru.Len() >= s.cap {
		k, e, ok := s.lru.GetOldest()
		if !ok {
			return
		}
		dead := now >= e.deadAt
		if !dead && chances < maxSecondChances && e.ref.Load() {
			e.ref.Store(false)
			s.lru.Get(k) // move to front
			chances++
			continue
		}
		s.lru.RemoveOldest()
		if !dead {
			s.evictions.Add(1)
		}
	}
}

// lookup returns the entry under k, or nil, and whether it may be served
// (now < expires); such an entry is marked referenced. It takes no lock: it
// walks k's chain of the read index with atomic loads, and writes nothing
// shared unless the entry's reference bit is unset.
func (s *shard) lookup(k key128, now int64) (e *entry, fresh bool) {
	for e = s.buckets[k.hi&s.bmask].Load(); e != nil; e = e.hnext.Load() {
		if e.key == k {
			break
		}
	}
	if e == nil {
		return nil, false
	}
	if now < e.expires {
		fresh = true
		if !e.ref.Load() { // a load first, so hot entries' lines stay shared
			e.ref.Store(true)
		}
	}
	return e, fresh
}

// remove drops the entry under k, if any.
func (s *shard) remove(k key128) {
	s.mu.Lock()
	if e, ok := s.lru.Peek(k.lo); ok && e.key == k {
		s.lru.Remove(k.lo)
	}
	s.mu.Unlock()
}

// peek returns the entry under k, or nil, without marking it referenced.
func (s *shard) peek(k key128) *entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.lru.Peek(k.lo); ok && e.key == k {
		return e
	}
	return nil
}

// dropUser removes every entry of user id from the table and returns how
// many there were.
func (t *table) dropUser(id string) int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for e := s.byUser[id]; e != nil; {
			next := e.next
			s.lru.Remove(e.key.lo)
			e = next
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// purge empties every shard.
func (t *table) purge() {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.reset()
		s.mu.Unlock()
	}
}

// len counts the entries held, dead ones not yet evicted included.
func (t *table) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		n += s.lru.Len()
		s.mu.RUnlock()
	}
	return n
}

// evictions sums the per-shard eviction counters, for metrics.
func (t *table) evictions() (n uint64) {
	for i := range t.shards {
		n += t.shards[i].evictions.Load()
	}
	return n
}
