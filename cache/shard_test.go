package cache

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// testEntry makes a live positive entry for user under key lo.
func testEntry(lo uint64, user string) *entry {
	return &entry{user: &verifier.User{ID: user}, key: key128{lo: lo, hi: ^lo}, expires: 1 << 62, deadAt: 1 << 62}
}

func keysOldestFirst(s *shard) []uint64 { return s.lru.Keys() }

func TestShardSizing(t *testing.T) {
	tests := []struct {
		size, shards int
	}{
		{1, 1}, {511, 1}, {512, 2}, {1000, 2}, {8192, 32}, {100_000, 32},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			tb := newTable(tt.size, false)
			require.Len(t, tb.shards, tt.shards)
			total := 0
			for i := range tb.shards {
				total += tb.shards[i].cap
			}
			assert.Zero(t, unsafe.Sizeof(shard{})%128, "shards fill whole cache line pairs")
			assert.Equal(t, tt.size, total)
		})
	}
}

// Second chance: the oldest entry goes unless it was hit since it last
// reached the back; a hit entry is moved to the front with its bit cleared.
func TestEvictionSecondChance(t *testing.T) {
	tb := newTable(3, true)
	s := &tb.shards[0]
	for lo := uint64(1); lo <= 3; lo++ {
		s.put(testEntry(lo, "u"), 0)
	}
	require.Equal(t, []uint64{1, 2, 3}, keysOldestFirst(s))

	// Hit 1 (the oldest): it survives the next insertion, 2 goes instead.
	_, fresh := s.lookup(key128{1, ^uint64(1)}, 0)
	require.True(t, fresh)
	s.put(testEntry(4, "u"), 0)
	assert.Equal(t, []uint64{3, 1, 4}, keysOldestFirst(s), "1 got its second chance, 2 was evicted")
	assert.EqualValues(t, 1, s.evictions.Load())

	// 1's bit was cleared when it moved: without a new hit it goes in turn.
	s.put(testEntry(5, "u"), 0)
	assert.Equal(t, []uint64{1, 4, 5}, keysOldestFirst(s))
	s.put(testEntry(6, "u"), 0)
	assert.Equal(t, []uint64{4, 5, 6}, keysOldestFirst(s))

	// All referenced: each gets its chance, then the (new) oldest goes.
	for _, lo := range []uint64{4, 5, 6} {
		s.lookup(key128{lo, ^lo}, 0)
	}
	s.put(testEntry(7, "u"), 0)
	assert.Equal(t, []uint64{5, 6, 7}, keysOldestFirst(s))
}

// A dead entry (past deadAt) goes even if referenced, and does not count as
// an eviction.
func TestEvictionDeadFirst(t *testing.T) {
	tb := newTable(2, true)
	s := &tb.shards[0]
	dead := testEntry(1, "u")
	dead.expires, dead.deadAt = 10, 10
	dead.ref.Store(true)
	s.put(dead, 0)
	s.put(testEntry(2, "u"), 0)
	s.put(testEntry(3, "u"), 10)
	assert.Equal(t, []uint64{2, 3}, keysOldestFirst(s))
	assert.Zero(t, s.evictions.Load())
}

// The chances one insertion gives are bounded.
func TestEvictionBoundedScan(t *testing.T) {
	n := maxSecondChances + 8
	tb := newTable(n, false)
	s := &tb.shards[0]
	for lo := uint64(0); lo < uint64(n); lo++ {
		e := testEntry(lo, "u")
		e.user = nil
		e.ref.Store(true)
		s.put(e, 0)
	}
	s.put(&entry{key: key128{lo: 1000}, expires: 1 << 62, deadAt: 1 << 62}, 0)
	keys := keysOldestFirst(s)
	// maxSecondChances entries moved to the front; the next oldest went
	// although referenced.
	assert.NotContains(t, keys, uint64(maxSecondChances))
	assert.Equal(t, uint64(maxSecondChances+1), keys[0])
	assert.Len(t, keys, n)
}

// TestUserIndexModel drives a shard with random puts, replacements,
// removals, user drops and evictions, and checks after every step that the
// user index matches the entries held exactly.
func TestUserIndexModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: reproducible
	tb := newTable(32, true)
	s := &tb.shards[0]
	users := []string{"a", "b", "c", "d", "e"}
	for step := range 4000 {
		lo := uint64(rng.IntN(100))
		switch op := rng.IntN(10); {
		case op < 6:
			s.put(testEntry(lo, users[rng.IntN(len(users))]), 0)
		case op < 7:
			s.remove(key128{lo: lo, hi: ^lo})
		case op < 8:
			s.lookup(key128{lo: lo, hi: ^lo}, 0)
		case op < 9:
			u := users[rng.IntN(len(users))]
			tb.dropUser(u)
			for _, e := range s.lru.Values() {
				require.NotEqual(t, u, e.user.ID, "step %d: dropUser left an entry", step)
			}
		default:
			if rng.IntN(50) == 0 {
				tb.purge()
			}
		}
		checkIndex(t, s, step)
		if t.Failed() {
			return
		}
	}
}

// checkIndex compares s.byUser with the model derived from the LRU's
// contents.
func checkIndex(t *testing.T, s *shard, step int) {
	t.Helper()
	want := map[string]map[uint64]bool{}
	for _, e := range s.lru.Values() {
		if want[e.user.ID] == nil {
			want[e.user.ID] = map[uint64]bool{}
		}
		want[e.user.ID][e.key.lo] = true
	}
	got := map[string]map[uint64]bool{}
	for id, head := range s.byUser {
		require.Nil(t, head.prev, "step %d: head of %s has a prev", step, id)
		got[id] = map[uint64]bool{}
		for e := head; e != nil; e = e.next {
			require.Equal(t, id, e.user.ID, "step %d", step)
			require.False(t, got[id][e.key.lo], "step %d: %s lists %d twice", step, id, e.key.lo)
			got[id][e.key.lo] = true
			if e.next != nil {
				require.Same(t, e, e.next.prev, "step %d: broken back link", step)
			}
		}
	}
	require.Equal(t, want, got, "step %d", step)
	require.LessOrEqual(t, s.lru.Len(), s.cap)
}
