package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// Hits race a Revoke of their user: a Verify that begins after Revoke has
// returned never answers with the revoked user, though the hits before it
// went through the lock-free read index. Run under -race.
func TestHitRacingRevokeNeverServesRevoked(t *testing.T) {
	for round := range 20 {
		c, _, clk := newTestCache(t, Options{})
		ctx := context.Background()
		tok := newToken(t, clk.Now(), tokenSpec{sub: "alice"})
		_, err := c.Verify(ctx, tok)
		require.NoError(t, err)

		var revoked atomic.Bool
		var stale atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				<-start
				for range 2000 {
					after := revoked.Load() // read before the Verify begins
					u, err := c.Verify(ctx, tok)
					if after && (err == nil || u != nil) {
						stale.Add(1)
					}
				}
			})
		}
		close(start)
		require.NoError(t, c.Revoke(ctx, "alice", clk.Now()))
		revoked.Store(true)
		wg.Wait()
		assert.Zero(t, stale.Load(), "round %d: hits after Revoke returned that got the revoked user", round)
		_, err = c.Verify(ctx, tok)
		assert.ErrorIs(t, err, verifier.ErrRevoked)
	}
}

// The read index holds exactly the LRU's entries through eviction,
// replacement and removal, with many keys per bucket.
func TestReadIndexMatchesLRU(t *testing.T) {
	tb := newTable(minPerShard, true)
	require.Len(t, tb.shards, 1)
	s := &tb.shards[0]
	s.bmask = 3 // 4 buckets: long chains, for the test's sake
	users := make([]*verifier.User, 8)
	for i := range users {
		users[i] = &verifier.User{ID: fmt.Sprint("u", i)}
	}
	for i := range 3 * minPerShard {
		k := key128{lo: uint64(i % (2 * minPerShard)), hi: uint64(i * 7)}
		s.mu.Lock()
		s.put(&entry{user: users[i%len(users)], key: k, expires: 1 << 62, deadAt: 1 << 62}, 0)
		if i%5 == 0 {
			s.lru.Remove(key128{lo: uint64(i / 2)}.lo)
		}
		s.mu.Unlock()
	}
	tb.dropUser("u3")

	indexed := map[*entry]bool{}
	for i := range s.buckets {
		for e := s.buckets[i].Load(); e != nil; e = e.hnext.Load() {
			require.False(t, indexed[e], "entry indexed twice")
			require.Equal(t, uint64(i), e.key.hi&s.bmask, "entry in the wrong bucket")
			indexed[e] = true
		}
	}
	for _, k := range s.lru.Keys() {
		e, _ := s.lru.Peek(k)
		assert.True(t, indexed[e], "LRU entry %v missing from the index", e.key)
		got, fresh := s.lookup(e.key, 0)
		assert.True(t, fresh)
		assert.Same(t, e, got)
		delete(indexed, e)
	}
	assert.Empty(t, indexed, "index holds entries the LRU dropped")
	_, fresh := s.lookup(key128{lo: 1, hi: 999999}, 0)
	assert.False(t, fresh)

	tb.purge()
	for i := range s.buckets {
		assert.Nil(t, s.buckets[i].Load(), "purge leaves bucket %d linked", i)
	}
}
