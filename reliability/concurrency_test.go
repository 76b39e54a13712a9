package reliability

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/verifier"
	vt "github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// The caller that started a shared verification gives up while 100 others
// wait for it: the call goes on, and all 100 get the user from one upstream
// call (authzed/spicedb#925 was the opposite).
func TestFirstCallerCancelled(t *testing.T) {
	c := newChain(t, chainOptions{})
	defer c.close()
	user := c.newUser()
	tok := c.token(t, user)
	release := c.srv.Block()
	defer release()

	firstCtx, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := c.cache.Verify(firstCtx, tok)
		firstErr <- err
	}()
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second) // deadlock guard
	defer stop()
	require.NoError(t, c.srv.WaitBlocked(ctx, 1), "the first caller's call reached the upstream")

	const waiters = 100
	waiting := make(chan struct{}, waiters)
	type answer struct {
		u   *verifier.User
		err error
	}
	answers := make(chan answer, waiters)
	for range waiters {
		go func() {
			u, err := c.cache.Verify(&notifyCtx{Context: context.Background(), waiting: waiting}, tok)
			answers <- answer{u, err}
		}()
	}
	for range waiters {
		recv(t, waiting, "a waiter to join")
	}
	cancel()
	err := recv(t, firstErr, "the first caller")
	require.ErrorIs(t, err, context.Canceled, "the first caller leaves on its own context")
	release()
	for range waiters {
		a := recv(t, answers, "a waiter's answer")
		require.NoError(t, a.err)
		assert.Equal(t, user, a.u.ID)
	}
	assert.EqualValues(t, 1, c.srv.Calls(vt.EndpointVerifyToken), "one upstream call for all")
	assert.EqualValues(t, waiters, metric(t, c.reg, "tokenguard_singleflight_shared_total"),
		"every waiter was answered by the call the first caller started")
}

// A Revoke lands while 1,000 verifications of the user's tokens are held at
// the upstream: tokens issued before the revocation are refused, later ones
// accepted, and no answer the revocation covers is cached (the later tokens'
// answers are: the revocation does not cover them).
func TestRevokeRacingInflight(t *testing.T) {
	const (
		tokensEach = 10 // issued before the revocation, and after it
		callers    = 1000
	)
	c := newChain(t, chainOptions{})
	defer c.close()
	user := c.newUser()
	var before, after []string
	for range tokensEach {
		before = append(before, c.token(t, user))
	}
	revokedAt := c.clk.Now().Add(5 * time.Second)
	c.clk.Advance(10 * time.Second)
	for range tokensEach {
		after = append(after, c.token(t, user))
	}
	all := append(append([]string{}, before...), after...)

	release := c.srv.Block()
	defer release()
	waiting := make(chan struct{}, callers)
	type answer struct {
		tok string
		u   *verifier.User
		err error
	}
	answers := make(chan answer, callers)
	for i := range callers {
		tok := all[i%len(all)]
		go func() {
			u, err := c.cache.Verify(&notifyCtx{Context: context.Background(), waiting: waiting}, tok)
			answers <- answer{tok, u, err}
		}()
	}
	for range callers {
		recv(t, waiting, "a caller to join")
	}
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second) // deadlock guard
	defer stop()
	require.NoError(t, c.srv.WaitBlocked(ctx, len(all)), "one upstream call per token, all held")

	c.revoke(user, revokedAt)
	release()
	accepted := 0
	for range callers {
		a := recv(t, answers, "an answer")
		if a.err != nil {
			require.ErrorIs(t, a.err, verifier.ErrRevoked)
			assert.Contains(t, before, a.tok, "only tokens issued before the revocation are refused")
			continue
		}
		accepted++
		assert.True(t, a.u.IssuedAt.After(revokedAt), "accepted a token issued %v, revoked at %v", a.u.IssuedAt, revokedAt)
	}
	assert.Equal(t, callers/2, accepted)
	assert.EqualValues(t, len(all), c.srv.Calls(vt.EndpointVerifyToken))

	// Only the answers the revocation does not cover were stored.
	assert.EqualValues(t, tokensEach, metric(t, c.reg, "tokenguard_cache_entries", "kind", "positive"))
	hits := metric(t, c.reg, "tokenguard_cache_lookups_total", "result", "hit")
	for _, tok := range before {
		_, err := c.cache.Verify(context.Background(), tok)
		require.ErrorIs(t, err, verifier.ErrRevoked)
	}
	for _, tok := range after {
		u, err := c.cache.Verify(context.Background(), tok)
		require.NoError(t, err)
		assert.Equal(t, user, u.ID)
	}
	assert.Equal(t, hits+tokensEach, metric(t, c.reg, "tokenguard_cache_lookups_total", "result", "hit"),
		"the later tokens are hits after the race")
	assert.EqualValues(t, len(all), c.srv.Calls(vt.EndpointVerifyToken),
		"refused tokens stay refused and accepted ones are answered from the cache, without a call")
}

// Purge runs again and again while eight goroutines verify good, forged and
// revoked tokens: every answer stays right, and revoked tokens stay revoked
// (Purge keeps revocations).
func TestPurgeDuringLoad(t *testing.T) {
	const (
		users   = 16
		workers = 8
		rounds  = 40
		purges  = 50
	)
	c := newChain(t, chainOptions{cache: cache.Options{NegativeTTL: time.Hour}})
	defer c.close()
	owner := map[string]string{}
	var good, bad, revoked []string
	for range users {
		u := c.newUser()
		tok := c.token(t, u)
		owner[tok] = u
		good = append(good, tok)
		bad = append(bad, forged(u, c.clk.Now()))
	}
	gone := c.newUser()
	revoked = append(revoked, c.token(t, gone))
	c.revoke(gone, c.clk.Now())

	progress := make(chan struct{}, workers*rounds)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := context.Background()
			for r := range rounds {
				i := (w + r) % users
				u, err := c.cache.Verify(ctx, good[i])
				if assert.NoError(t, err) {
					assert.Equal(t, owner[good[i]], u.ID)
				}
				_, err = c.cache.Verify(ctx, bad[i])
				assert.True(t, errors.Is(err, verifier.ErrInvalidToken) && !errors.Is(err, verifier.ErrRevoked), "forged: %v", err)
				_, err = c.cache.Verify(ctx, revoked[0])
				assert.ErrorIs(t, err, verifier.ErrRevoked)
				progress <- struct{}{}
			}
		})
	}
	for range purges { // paced by the load, not by a clock
		recv(t, progress, "load progress")
		c.cache.Purge()
	}
	wg.Wait()

	calls := c.srv.Calls(vt.EndpointVerifyToken)
	assert.LessOrEqual(t, calls, int64((purges+1)*2*users), "at most one call per token between purges")
	for _, tok := range good {
		_, err := c.cache.Verify(context.Background(), tok)
		require.NoError(t, err)
	}
	calls = c.srv.Calls(vt.EndpointVerifyToken)
	for _, tok := range good {
		_, err := c.cache.Verify(context.Background(), tok)
		require.NoError(t, err)
	}
	assert.Equal(t, calls, c.srv.Calls(vt.EndpointVerifyToken), "after the load, good tokens are hits again")
}
