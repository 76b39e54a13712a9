package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// joinCounter returns a test hook that reports on the returned channel each
// time a caller has joined a flight.
func joinCounter(c *Cache, buf int) <-chan struct{} {
	joined := make(chan struct{}, buf)
	c.testHookJoined = func() { joined <- struct{}{} }
	return joined
}

func TestConcurrentMissesShareOneCall(t *testing.T) {
	const n = 100
	c, up, clk := newTestCache(t, Options{})
	tok := newToken(t, clk.Now(), tokenSpec{})
	joined := joinCounter(c, n)
	entered, release := up.block()
	defer release()

	var wg sync.WaitGroup
	users := make([]*verifier.User, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { users[i], errs[i] = c.Verify(context.Background(), tok) })
	}
	recv(t, entered)
	for range n {
		recv(t, joined)
	}
	release()
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Same(t, users[0], users[i])
	}
	assert.EqualValues(t, 1, up.calls.Load())
}

// The caller whose call started the flight gives up; the others still get
// the answer, and the upstream call was not cancelled.
func TestFirstCallerCancellation(t *testing.T) {
	c, _, clk := newTestCache(t, Options{})
	tok := newToken(t, clk.Now(), tokenSpec{})
	joined := joinCounter(c, 2)

	release := make(chan struct{})
	upstreamCtxErr := make(chan error, 1)
	inner := c.next
	c.next = verifier.VerifierFunc(func(ctx context.Context, token string) (*verifier.User, error) {
		<-release
		upstreamCtxErr <- ctx.Err()
		return inner.Verify(ctx, token)
	})

	firstCtx, cancelFirst := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Verify(firstCtx, tok)
		first <- err
	}()
	recv(t, joined)
	second := make(chan error, 1)
	go func() {
		_, err := c.Verify(context.Background(), tok)
		second <- err
	}()
	recv(t, joined)

	cancelFirst()
	assert.ErrorIs(t, recv(t, first), context.Canceled, "the first caller leaves on its own ctx")
	close(release)
	assert.NoError(t, recv(t, upstreamCtxErr), "the shared call outlives its first caller")
	assert.NoError(t, recv(t, second), "the others still get the answer")
	assert.Equal(t, 1, c.pos.len())
}

// The only waiter leaves on its own deadline: nobody is left to read the
// answer, so the call is cancelled (the upstream sees its context end) and
// stores nothing; the next caller starts a fresh call rather than joining
// the cancelled one.
func TestLastWaiterLeavingCancelsTheCall(t *testing.T) {
	c, up, clk := newTestCache(t, Options{VerifyTimeout: time.Hour})
	tok := newToken(t, clk.Now(), tokenSpec{})
	fetched := make(chan struct{}, 1)
	c.testHookFetched = func() { fetched <- struct{}{} }
	entered, release := up.block()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Verify(ctx, tok)
		done <- err
	}()
	recv(t, entered)
	cancel()
	err := recv(t, done)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
	recv(t, fetched) // the upstream saw its context end, long before VerifyTimeout
	assert.Zero(t, c.pos.len(), "a cancelled call stores nothing")
	assert.Empty(t, c.sem, "and holds no slot")

	release()
	_, err = c.Verify(context.Background(), tok)
	require.NoError(t, err)
	assert.EqualValues(t, 2, up.calls.Load(), "a fresh call, not the cancelled one")
	assert.Equal(t, 1, c.pos.len())
}

// Fire-and-forget callers (forged tokens whose clients hang up) fill every
// MaxInflight slot and the queue behind it; once they have all gone, their
// calls are cancelled, the slots are free, and a real user's fresh token is
// verified at once instead of waiting VerifyTimeout.
func TestAbandonedFlightsFreeTheirSlots(t *testing.T) {
	const limit, queued = 2, 3
	reg := prometheus.NewRegistry()
	clk := newFakeClock()
	good := newUpstream(clk.Now)
	held := make(chan struct{}, limit)
	forged := map[string]bool{} // read-only once the calls start
	var tokens []string
	for i := range limit + queued {
		tok := newToken(t, clk.Now(), tokenSpec{sub: fmt.Sprint("forger-", i)})
		forged[tok] = true
		tokens = append(tokens, tok)
	}
	c := New(verifier.VerifierFunc(func(ctx context.Context, tok string) (*verifier.User, error) {
		if !forged[tok] {
			return good.Verify(ctx, tok)
		}
		select { // a queued call that got its slot after the hang-up must not block here
		case held <- struct{}{}:
		case <-ctx.Done():
		}
		<-ctx.Done() // a slow upstream: only the call's cancellation ends it
		return nil, fmt.Errorf("upstream: %w: %w", verifier.ErrUnavailable, ctx.Err())
	}), Options{MaxInflight: limit, VerifyTimeout: time.Hour, Now: clk.Now, Registerer: reg})
	semWait := make(chan struct{}, queued)
	c.testHookSemWait = func() { semWait <- struct{}{} }
	fetched := make(chan struct{}, limit+queued)
	c.testHookFetched = func() { fetched <- struct{}{} }

	callers := make(chan error, limit+queued)
	var cancels []context.CancelFunc
	for i, tok := range tokens {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		go func() {
			_, err := c.Verify(ctx, tok)
			callers <- err
		}()
		if i < limit {
			recv(t, held) // in the upstream, holding a slot
		} else {
			recv(t, semWait) // queued for a slot
		}
	}
	for _, cancel := range cancels { // every client hangs up
		cancel()
	}
	for range limit + queued {
		assert.ErrorIs(t, recv(t, callers), context.Canceled)
		recv(t, fetched)
	}
	assert.Empty(t, c.sem, "every slot given back")
	assert.Equal(t, float64(limit+queued), metricValues(t, reg)["tokenguard_upstream_verifications_total{outcome=abandoned}"])

	answer := make(chan error, 1)
	go func() {
		_, err := c.Verify(context.Background(), newToken(t, clk.Now(), tokenSpec{sub: "alice"}))
		answer <- err
	}()
	assert.NoError(t, recv(t, answer), "a real user gets a slot")
}

func TestMaxInflight(t *testing.T) {
	const limit, n = 2, 5
	c, up, clk := newTestCache(t, Options{MaxInflight: limit, VerifyTimeout: time.Hour})
	semWait := make(chan struct{}, n)
	c.testHookSemWait = func() { semWait <- struct{}{} }
	entered, release := up.block()

	var wg sync.WaitGroup
	for i := range n {
		tok := newToken(t, clk.Now(), tokenSpec{sub: fmt.Sprint("user-", i)})
		wg.Go(func() {
			_, err := c.Verify(context.Background(), tok)
			assert.NoError(t, err)
		})
	}
	for range limit {
		recv(t, entered)
	}
	for range n - limit {
		recv(t, semWait)
	}
	// Every flight is either in the upstream or waiting for a slot.
	assert.EqualValues(t, limit, up.calls.Load(), "no more than MaxInflight calls at once")
	assert.Len(t, c.sem, limit)
	release()
	wg.Wait()
	assert.EqualValues(t, n, up.calls.Load())
	assert.Empty(t, c.sem, "every slot given back")
}

// A flight that cannot get a slot within VerifyTimeout fails as unavailable.
func TestMaxInflightTimeout(t *testing.T) {
	c, up, clk := newTestCache(t, Options{MaxInflight: 1, VerifyTimeout: time.Millisecond})
	c.sem <- struct{}{} // the only slot is taken
	_, err := c.Verify(context.Background(), newToken(t, clk.Now(), tokenSpec{}))
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
	assert.Zero(t, up.calls.Load())
}

// The shared call's own deadline (VerifyTimeout) turns into ErrUnavailable
// even when the upstream reports it as a bare context error.
func TestVerifyTimeout(t *testing.T) {
	clk := newFakeClock()
	c := New(verifier.VerifierFunc(func(ctx context.Context, _ string) (*verifier.User, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}), Options{Now: clk.Now, VerifyTimeout: time.Millisecond})
	_, err := c.Verify(context.Background(), newToken(t, clk.Now(), tokenSpec{}))
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, c.pos.len())
}

// A caller that missed the table just before an earlier flight for its token
// stored the answer, and so starts a flight of its own after that one ended,
// must be answered from the table: a stampede straddling the end of a flight
// made a second upstream call (seen in the load harness's stampede runs).
func TestLateJoinerAfterFlightMakesNoSecondCall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token func(now time.Time) string
		want  error
	}{
		{"verified", func(now time.Time) string { return newToken(t, now, tokenSpec{}) }, nil},
		{"refused", func(now time.Time) string {
			tok := newToken(t, now, tokenSpec{})
			return tok[:len(tok)-2] + "xx" // bad signature: the upstream refuses it
		}, verifier.ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, up, clk := newTestCache(t, Options{})
			tok := tc.token(clk.Now())
			_, err := c.Verify(context.Background(), tok) // the first flight stores its answer
			require.ErrorIs(t, err, tc.want)
			require.EqualValues(t, 1, up.calls.Load())

			// The late caller: past its own table lookup, now at the flight.
			u, _, err := c.resolve(context.Background(), tok, c.keys.key(tok))
			require.ErrorIs(t, err, tc.want)
			if tc.want == nil {
				require.NotNil(t, u)
			}
			assert.EqualValues(t, 1, up.calls.Load(), "answered from the table, not the upstream")
		})
	}
}

// TestUpstreamPanic: an upstream verifier that panics fails the callers of
// its flight as unavailable (503, never 401) instead of ending the process,
// gives its upstream slot back, and leaves nothing cached.
func TestUpstreamPanic(t *testing.T) {
	clk := newFakeClock()
	up := newUpstream(clk.Now)
	bad := newToken(t, clk.Now(), tokenSpec{sub: "63ed812a43be72c176aa5d2b"})
	good := newToken(t, clk.Now(), tokenSpec{})
	var panics atomic.Int64
	next := verifier.VerifierFunc(func(ctx context.Context, tok string) (*verifier.User, error) {
		if tok == bad {
			panics.Add(1)
			panic("verifier bug")
		}
		return up.Verify(ctx, tok)
	})
	// One slot: had the panic kept it, the next call would wait for it.
	c := New(next, Options{Now: clk.Now, MaxInflight: 1, VerifyTimeout: 10 * time.Second})
	c.testHookSemWait = func() { t.Error("waited for an upstream slot: the panicking call kept its slot") }

	_, err := c.Verify(context.Background(), bad)
	require.ErrorIs(t, err, verifier.ErrUnavailable)
	assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
	assert.Contains(t, err.Error(), "verifier bug")
	assert.Contains(t, err.Error(), "TestUpstreamPanic", "the error carries the panic's stack")

	u, err := c.Verify(context.Background(), good)
	require.NoError(t, err)
	assert.Equal(t, "63ed812a43be72c176aa5d21", u.ID)

	_, err = c.Verify(context.Background(), bad)
	require.ErrorIs(t, err, verifier.ErrUnavailable)
	assert.EqualValues(t, 2, panics.Load(), "a panic's answer is not cached")
}
