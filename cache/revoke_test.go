package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

func TestRevoke(t *testing.T) {
	c, up, clk := newTestCache(t, Options{})
	ctx := context.Background()
	old1 := newToken(t, clk.Now(), tokenSpec{sub: "alice"})
	clk.Advance(time.Second)
	old2 := newToken(t, clk.Now(), tokenSpec{sub: "alice"})
	bob := newToken(t, clk.Now(), tokenSpec{sub: "bob"})
	for _, tok := range []string{old1, old2, bob} {
		_, err := c.Verify(ctx, tok)
		require.NoError(t, err)
	}
	require.Equal(t, 3, c.pos.len())

	c.Revoke(context.Background(), "alice", clk.Now())
	assert.Equal(t, 1, c.pos.len(), "alice's entries dropped, bob's kept")

	calls := up.calls.Load()
	for _, tok := range []string{old1, old2} {
		_, err := c.Verify(ctx, tok)
		assert.ErrorIs(t, err, verifier.ErrRevoked)
		assert.ErrorIs(t, err, verifier.ErrInvalidToken)
	}
	assert.Equal(t, calls, up.calls.Load(), "refused from the claims, without asking upstream")
	_, err := c.Verify(ctx, bob)
	assert.NoError(t, err)

	clk.Advance(time.Second)
	fresh := newToken(t, clk.Now(), tokenSpec{sub: "alice"})
	u, err := c.Verify(ctx, fresh)
	require.NoError(t, err, "a token issued after the revocation is accepted")
	assert.Equal(t, "alice", u.ID)
}

func TestRevokeBoundary(t *testing.T) {
	tests := []struct {
		name    string
		iat     time.Duration // relative to the revocation time
		revoked bool
	}{
		{"issued before", -time.Second, true},
		{"issued at", 0, true},
		{"issued within the same second", 0, true}, // iat has whole seconds
		{"issued after", time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, clk := newTestCache(t, Options{})
			at := clk.Now().Add(time.Hour)
			if tt.name == "issued within the same second" {
				at = at.Add(500 * time.Millisecond)
			}
			clk.Advance(2 * time.Hour)
			c.Revoke(context.Background(), "alice", at)
			tok := newToken(t, clk.Now(), tokenSpec{sub: "alice", iat: at.Truncate(time.Second).Add(tt.iat), exp: clk.Now().Add(time.Minute)})
			_, err := c.Verify(context.Background(), tok)
			if tt.revoked {
				assert.ErrorIs(t, err, verifier.ErrRevoked)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

// The upstream's verified claims decide when the token's own claims do not
// show the revocation: a token whose sub differs in case, say, is still
// caught on the verified user id.
func TestRevokeCheckedAgainstVerifiedUser(t *testing.T) {
	clk := newFakeClock()
	up := verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) {
		return &verifier.User{ID: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil
	})
	c := New(up, Options{Now: clk.Now})
	c.Revoke(context.Background(), "alice", t0)
	tok := newToken(t, clk.Now(), tokenSpec{sub: "someone-else", iat: t0.Add(time.Hour)})
	_, err := c.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, verifier.ErrRevoked)
	assert.Zero(t, c.pos.len())
	// The refusal is cached as a revocation.
	_, err = c.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, verifier.ErrRevoked)
}

func TestRevokeZeroAtMeansNow(t *testing.T) {
	c, _, clk := newTestCache(t, Options{})
	tok := newToken(t, clk.Now(), tokenSpec{sub: "alice"})
	c.Revoke(context.Background(), "alice", time.Time{})
	_, err := c.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, verifier.ErrRevoked)
	clk.Advance(time.Second)
	_, err = c.Verify(context.Background(), newToken(t, clk.Now(), tokenSpec{sub: "alice"}))
	assert.NoError(t, err)
}

// Revoke lands while the upstream call for a token is in flight and the
// upstream still calls the token valid. A revocation that covers the token
// (its user, issued at or before) keeps the answer out of the cache and the
// waiting caller gets ErrRevoked; one that does not (another user's, or one
// older than the token) neither stores nor refuses anything less.
func TestRevokeRacesInflightCall(t *testing.T) {
	tests := []struct {
		name    string
		revoke  string        // the user revoked while the call is in flight
		iat     time.Duration // of the token, relative to the revocation
		revoked bool
	}{
		{"issued before the revocation", "alice", -time.Minute, true},
		{"issued after the revocation", "alice", time.Minute, false},
		{"another user revoked", "mallory", -time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, up, clk := newTestCache(t, Options{})
			at := clk.Now()
			tok := newToken(t, clk.Now(), tokenSpec{sub: "alice", iat: at.Add(tt.iat)})
			entered, release := up.block()
			defer release()

			type result struct {
				u   *verifier.User
				err error
			}
			done := make(chan result, 1)
			go func() {
				u, err := c.Verify(context.Background(), tok)
				done <- result{u, err}
			}()
			recv(t, entered) // the upstream call is in flight
			c.Revoke(context.Background(), tt.revoke, at)
			release()
			r := recv(t, done)

			if tt.revoked {
				assert.ErrorIs(t, r.err, verifier.ErrRevoked)
				assert.Nil(t, r.u)
				assert.Zero(t, c.pos.len(), "an answer the revocation covers is not stored")
			} else {
				require.NoError(t, r.err)
				assert.Equal(t, "alice", r.u.ID)
				assert.Equal(t, 1, c.pos.len(), "an answer the revocation does not cover is stored")
			}
			assert.EqualValues(t, 1, up.calls.Load())
		})
	}
}

// A caller that joined a flight and reads its answer only after a Revoke
// that came once the flight had stored it is refused: each waiter checks the
// revocation memory again on the user the flight verified.
func TestWaiterRechecksRevocation(t *testing.T) {
	c, up, clk := newTestCache(t, Options{})
	tok := newToken(t, clk.Now(), tokenSpec{sub: "alice"})
	entered, release := up.block()
	defer release()
	var callers atomic.Int32
	leaderJoined, joined, proceed := make(chan struct{}), make(chan struct{}), make(chan struct{})
	c.testHookJoined = func() {
		switch callers.Add(1) {
		case 1: // the leader, which may get here after its upstream call began
			close(leaderJoined)
		case 2: // the waiter, parked between joining and reading
			joined <- struct{}{}
			<-proceed
		}
	}
	type result struct {
		u   *verifier.User
		err error
	}
	leader, waiter := make(chan result, 1), make(chan result, 1)
	go func() {
		u, err := c.Verify(context.Background(), tok)
		leader <- result{u, err}
	}()
	recv(t, entered) // the leader's upstream call is in flight
	recv(t, leaderJoined)
	go func() {
		u, err := c.Verify(context.Background(), tok)
		waiter <- result{u, err}
	}()
	recv(t, joined)
	release()
	r := recv(t, leader)
	require.NoError(t, r.err, "the leader finished before the revocation")
	c.Revoke(context.Background(), "alice", clk.Now())
	close(proceed)

	r = recv(t, waiter)
	assert.ErrorIs(t, r.err, verifier.ErrRevoked)
	assert.Nil(t, r.u)
	assert.EqualValues(t, 1, up.calls.Load(), "one shared upstream call")
}

// The store itself is guarded: an answer checked before Revoke but stored
// after it is dropped by the per-user check under the shard's lock, while
// another user's answer, and a token issued after the revocation, are stored.
func TestRevokeBlocksStore(t *testing.T) {
	c, _, clk := newTestCache(t, Options{})
	alice := &verifier.User{ID: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	bob := &verifier.User{ID: "bob", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	gen := c.gen.Load()
	c.Revoke(context.Background(), "alice", clk.Now())
	c.storePositive(c.keys.key("alice's token"), alice, alice.IssuedAt, alice.ExpiresAt, gen)
	assert.Zero(t, c.pos.len(), "covered by the revocation")
	c.storePositive(c.keys.key("bob's token"), bob, bob.IssuedAt, bob.ExpiresAt, gen)
	assert.Equal(t, 1, c.pos.len(), "another user's revocation moves nothing")
	c.storePositive(c.keys.key("alice's new token"), alice, clk.Now().Add(time.Second), alice.ExpiresAt, gen)
	assert.Equal(t, 2, c.pos.len(), "a token issued after the revocation")
	c.Purge()
	c.storePositive(c.keys.key("bob's token"), bob, bob.IssuedAt, bob.ExpiresAt, gen)
	assert.Zero(t, c.pos.len(), "Purge still blocks every store that read the old generation")
}

// The revocation memory is bounded: past MaxRevocations the oldest is folded
// into the watermark, which keeps refusing its tokens (and, fail closed,
// every older token).
func TestRevocationMemoryBound(t *testing.T) {
	c, _, clk := newTestCache(t, Options{MaxRevocations: 3})
	ctx := context.Background()
	start := clk.Now()
	users := []string{"u0", "u1", "u2", "u3"}
	tokens := map[string]string{}
	for _, id := range users {
		tokens[id] = newToken(t, clk.Now(), tokenSpec{sub: id})
		clk.Advance(time.Second)
		c.Revoke(context.Background(), id, clk.Now())
		clk.Advance(time.Second)
	}
	assert.Equal(t, 3, len(c.revs.byUser), "bounded")
	for _, id := range users {
		_, err := c.Verify(ctx, tokens[id])
		assert.ErrorIs(t, err, verifier.ErrRevoked, "%s still refused after being forgotten", id)
	}
	// An unrelated user's token older than the watermark (u0's revocation) is
	// refused too; one issued after it is not.
	older := newToken(t, clk.Now(), tokenSpec{sub: "carol", iat: start})
	_, err := c.Verify(ctx, older)
	assert.ErrorIs(t, err, verifier.ErrRevoked)
	newer := newToken(t, clk.Now(), tokenSpec{sub: "carol", iat: start.Add(3 * time.Second)})
	_, err = c.Verify(ctx, newer)
	assert.NoError(t, err)
}

// Revocations age out after MaxTokenLifetime + ClockSkew.
func TestRevocationAgesOut(t *testing.T) {
	c, _, clk := newTestCache(t, Options{MaxTokenLifetime: 30 * time.Minute})
	c.Revoke(context.Background(), "alice", clk.Now())
	clk.Advance(30*time.Minute + 5*time.Second)
	c.Revoke(context.Background(), "bob", clk.Now())
	assert.Equal(t, 2, len(c.revs.byUser), "kept until the lifetime has passed")
	clk.Advance(time.Nanosecond)
	c.Revoke(context.Background(), "carol", clk.Now())
	assert.Equal(t, 2, len(c.revs.byUser), "alice forgotten")

	// alice's forgotten revocation still refuses a (non-conforming) token
	// issued before it.
	tok := newToken(t, clk.Now(), tokenSpec{sub: "alice", iat: t0.Add(-time.Minute), exp: clk.Now().Add(time.Hour)})
	_, err := c.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, verifier.ErrRevoked)
}

func TestRevokeLaterTimeWins(t *testing.T) {
	r := newRevocations(10, time.Hour)
	r.add("a", t0.Add(time.Minute), t0)
	r.add("a", t0, t0) // an earlier time does not shrink the revocation
	assert.Error(t, r.denies("a", t0.Add(30*time.Second)))
	r.add("a", t0.Add(2*time.Minute), t0)
	assert.Error(t, r.denies("a", t0.Add(90*time.Second)))
	assert.NoError(t, r.denies("a", t0.Add(3*time.Minute)))
	assert.Equal(t, 1, len(r.byUser))
	assert.Len(t, r.order, 1)
}

func TestRevocationHeapOrder(t *testing.T) {
	r := newRevocations(4, 100*time.Hour)
	for i, m := range []int{5, 3, 9, 1, 7, 2} {
		r.add(fmt.Sprint("u", i), t0.Add(time.Duration(m)*time.Minute), t0)
	}
	// 1 and 2 were folded: the floor is at minute 2.
	assert.Equal(t, 4, len(r.byUser))
	assert.True(t, r.floor.Equal(t0.Add(2*time.Minute)))
	assert.ErrorIs(t, r.denies("anyone", t0.Add(2*time.Minute)), verifier.ErrRevoked)
	assert.NoError(t, r.denies("anyone", t0.Add(2*time.Minute+time.Second)))
}

// Hits race Revoke: every Verify that starts after Revoke has returned is
// refused, whether it would have been a hit, a miss or joined a flight.
func TestRevokeWhileHitting(t *testing.T) {
	c, _, clk := newTestCache(t, Options{})
	tokens := []string{
		newToken(t, clk.Now(), tokenSpec{sub: "alice", extra: map[string]any{"n": 1}}),
		newToken(t, clk.Now(), tokenSpec{sub: "alice", extra: map[string]any{"n": 2}}),
	}
	_, err := c.Verify(context.Background(), tokens[0]) // tokens[1] stays a miss
	require.NoError(t, err)

	var revoked atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := revoked.Load()
				_, err := c.Verify(context.Background(), tokens[i%2])
				if after && !errors.Is(err, verifier.ErrRevoked) {
					t.Errorf("Verify started after Revoke returned: %v", err)
					return
				}
			}
		})
	}
	c.Revoke(context.Background(), "alice", clk.Now())
	revoked.Store(true)
	for _, tok := range tokens {
		_, err := c.Verify(context.Background(), tok)
		assert.ErrorIs(t, err, verifier.ErrRevoked)
	}
	close(stop)
	wg.Wait()
	assert.Zero(t, c.pos.len())
}
