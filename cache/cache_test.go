package cache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

func TestNewPanics(t *testing.T) {
	up := newUpstream(time.Now)
	tests := []struct {
		name string
		next verifier.Verifier
		opts Options
		want string
	}{
		{"nil verifier", nil, Options{}, "cache: nil verifier"},
		{"negative size", up, Options{Size: -1}, "cache: negative Options.Size"},
		{"negative TTL", up, Options{TTL: -time.Second}, "cache: negative Options.TTL"},
		{"negative MaxInflight", up, Options{MaxInflight: -1}, "cache: negative Options.MaxInflight"},
		{"negative VerifyTimeout", up, Options{VerifyTimeout: -1}, "cache: negative Options.VerifyTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.PanicsWithValue(t, tt.want, func() { New(tt.next, tt.opts) })
		})
	}
}

func TestDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	assert.Equal(t, 100_000, o.Size)
	assert.Equal(t, 5*time.Minute, o.TTL)
	assert.Equal(t, 10*time.Second, o.NegativeTTL)
	assert.Equal(t, 10_000, o.NegativeSize)
	assert.Equal(t, 5*time.Second, o.VerifyTimeout)
	assert.Equal(t, 64, o.MaxInflight)
	assert.Equal(t, time.Duration(0), o.StaleIfError)
	assert.Equal(t, 5*time.Second, o.ClockSkew)
	assert.Equal(t, 30*time.Minute, o.MaxTokenLifetime)
	assert.Equal(t, 100_000, o.MaxRevocations)

	c := New(newUpstream(time.Now), Options{})
	assert.Len(t, c.pos.shards, 32, "default Size is sharded 32 ways")
	total := 0
	for i := range c.pos.shards {
		total += c.pos.shards[i].cap
	}
	assert.Equal(t, 100_000, total, "shard capacities add up to Size")
}

func TestHitServesCachedUser(t *testing.T) {
	c, up, clk := newTestCache(t, Options{})
	tok := newToken(t, clk.Now(), tokenSpec{})
	ctx := context.Background()

	u1, err := c.Verify(ctx, tok)
	require.NoError(t, err)
	u2, err := c.Verify(ctx, tok)
	require.NoError(t, err)
	assert.Same(t, u1, u2, "a hit returns the stored user")
	assert.Equal(t, "63ed812a43be72c176aa5d21", u1.ID)
	assert.EqualValues(t, 1, up.calls.Load())

	other := newToken(t, clk.Now(), tokenSpec{sub: "another-user-000000000000"})
	u3, err := c.Verify(ctx, other)
	require.NoError(t, err)
	assert.Equal(t, "another-user-000000000000", u3.ID, "different tokens never share an entry")
	assert.EqualValues(t, 2, up.calls.Load())
}

// A Cache is a verifier.Verifier, so caches stack.
func TestStacks(t *testing.T) {
	inner, up, clk := newTestCache(t, Options{})
	outer := New(inner, Options{Now: clk.Now})
	tok := newToken(t, clk.Now(), tokenSpec{})
	for range 3 {
		u, err := outer.Verify(context.Background(), tok)
		require.NoError(t, err)
		assert.Equal(t, "63ed812a43be72c176aa5d21", u.ID)
	}
	assert.EqualValues(t, 1, up.calls.Load())
}

func TestTTL(t *testing.T) {
	const skew = 5 * time.Second
	tests := []struct {
		name     string
		ttl      time.Duration
		tokenExp time.Duration // from now
		lapsesAt time.Duration // first instant the entry is no longer served
	}{
		{"TTL shorter than token", 5 * time.Minute, 30 * time.Minute, 5 * time.Minute},
		{"clamped to exp minus skew", 5 * time.Minute, 2 * time.Minute, 2*time.Minute - skew},
		{"long TTL clamped", 24 * time.Hour, 30 * time.Minute, 30*time.Minute - skew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, up, clk := newTestCache(t, Options{TTL: tt.ttl})
			tok := newToken(t, clk.Now(), tokenSpec{exp: clk.Now().Add(tt.tokenExp)})
			ctx := context.Background()
			_, err := c.Verify(ctx, tok)
			require.NoError(t, err)

			clk.Advance(tt.lapsesAt - time.Nanosecond)
			_, err = c.Verify(ctx, tok)
			require.NoError(t, err)
			assert.EqualValues(t, 1, up.calls.Load(), "still cached just before it lapses")

			clk.Advance(time.Nanosecond)
			_, err = c.Verify(ctx, tok)
			require.NoError(t, err)
			assert.EqualValues(t, 2, up.calls.Load(), "asked again once lapsed")
		})
	}
}

// A token within ClockSkew of its expiry is answered but not cached.
func TestNearlyExpiredNotCached(t *testing.T) {
	c, up, clk := newTestCache(t, Options{})
	tok := newToken(t, clk.Now(), tokenSpec{exp: clk.Now().Add(3 * time.Second)})
	for range 2 {
		_, err := c.Verify(context.Background(), tok)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 2, up.calls.Load())
	assert.Zero(t, c.pos.len())
}

func TestNegativeCache(t *testing.T) {
	c, up, clk := newTestCache(t, Options{NegativeTTL: 10 * time.Second})
	tok := newToken(t, clk.Now(), tokenSpec{})
	forged := tok[:len(tok)-4] + "AAAA" // well-formed, bad signature
	ctx := context.Background()

	_, err := c.Verify(ctx, forged)
	require.ErrorIs(t, err, verifier.ErrInvalidToken)
	clk.Advance(10*time.Second - time.Nanosecond)
	_, err = c.Verify(ctx, forged)
	require.ErrorIs(t, err, verifier.ErrInvalidToken)
	assert.EqualValues(t, 1, up.calls.Load(), "refusal cached for NegativeTTL")
	assert.Zero(t, c.pos.len(), "refusals stay out of the positive table")

	clk.Advance(time.Nanosecond)
	_, err = c.Verify(ctx, forged)
	require.ErrorIs(t, err, verifier.ErrInvalidToken)
	assert.EqualValues(t, 2, up.calls.Load(), "asked again after NegativeTTL")
}

func TestNegativeCacheKeepsKind(t *testing.T) {
	c, up, clk := newTestCache(t, Options{})
	tok := newToken(t, clk.Now(), tokenSpec{exp: clk.Now().Add(time.Minute)})
	up.setErr(verifier.ErrTokenExpired)
	for range 2 {
		_, err := c.Verify(context.Background(), tok)
		require.ErrorIs(t, err, verifier.ErrTokenExpired)
	}
	assert.EqualValues(t, 1, up.calls.Load())
}

func TestNegativeCacheDisabled(t *testing.T) {
	c, up, clk := newTestCache(t, Options{NegativeTTL: -1})
	tok := newToken(t, clk.Now(), tokenSpec{})
	up.setErr(verifier.ErrInvalidToken)
	for range 2 {
		_, err := c.Verify(context.Background(), tok)
		require.ErrorIs(t, err, verifier.ErrInvalidToken)
	}
	assert.EqualValues(t, 2, up.calls.Load())
}

func TestErrorsNotCached(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantIs  error
		wantNot error
	}{
		{"unavailable", verifier.ErrUnavailable, verifier.ErrUnavailable, verifier.ErrInvalidToken},
		{"api 503", &appservices.APIError{StatusCode: 503}, verifier.ErrUnavailable, verifier.ErrInvalidToken},
		{"unknown error", errors.New("boom"), nil, verifier.ErrInvalidToken},
		{"both kinds", errors.Join(verifier.ErrInvalidToken, verifier.ErrUnavailable), verifier.ErrUnavailable, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, up, clk := newTestCache(t, Options{StaleIfError: time.Hour})
			tok := newToken(t, clk.Now(), tokenSpec{})
			up.setErr(tt.err)
			for range 2 {
				u, err := c.Verify(context.Background(), tok)
				require.Error(t, err)
				assert.Nil(t, u)
				if tt.wantIs != nil {
					assert.ErrorIs(t, err, tt.wantIs)
				}
				if tt.wantNot != nil {
					assert.NotErrorIs(t, err, tt.wantNot)
				}
			}
			assert.EqualValues(t, 2, up.calls.Load(), "every call asks upstream again")
			assert.Zero(t, c.pos.len())
			assert.Zero(t, c.neg.len())
		})
	}
}

func TestNilUserFailsClosed(t *testing.T) {
	clk := newFakeClock()
	c := New(verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) {
		return nil, nil
	}), Options{Now: clk.Now})
	u, err := c.Verify(context.Background(), newToken(t, clk.Now(), tokenSpec{}))
	assert.Nil(t, u)
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
}

func TestPurge(t *testing.T) {
	c, up, clk := newTestCache(t, Options{})
	ctx := context.Background()
	good := newToken(t, clk.Now(), tokenSpec{sub: "user-a"})
	bad := good[:len(good)-4] + "AAAA"
	revoked := newToken(t, clk.Now(), tokenSpec{sub: "user-b"})
	c.Revoke(context.Background(), "user-b", clk.Now())

	_, err := c.Verify(ctx, good)
	require.NoError(t, err)
	_, err = c.Verify(ctx, bad)
	require.Error(t, err)
	require.Equal(t, 1, c.pos.len())
	require.Equal(t, 1, c.neg.len())

	c.Purge()
	assert.Zero(t, c.pos.len())
	assert.Zero(t, c.neg.len())
	assert.Empty(t, c.pos.shard(c.keys.key(good)).byUser, "user index emptied too")

	calls := up.calls.Load()
	_, err = c.Verify(ctx, good)
	require.NoError(t, err)
	_, err = c.Verify(ctx, bad)
	require.Error(t, err)
	assert.Equal(t, calls+2, up.calls.Load(), "both asked again")

	_, err = c.Verify(ctx, revoked)
	assert.ErrorIs(t, err, verifier.ErrRevoked, "Purge keeps revocations")
}

// An upstream answer that arrives after a Purge is not stored: Purge moves
// the generation, which the store checks.
func TestPurgeDropsAnswersInFlight(t *testing.T) {
	c, up, clk := newTestCache(t, Options{})
	tok := newToken(t, clk.Now(), tokenSpec{})
	entered, release := up.block()
	defer release()
	done := make(chan error, 1)
	go func() {
		_, err := c.Verify(context.Background(), tok)
		done <- err
	}()
	recv(t, entered)
	c.Purge()
	release()
	require.NoError(t, recv(t, done), "the caller still gets its answer")
	assert.Zero(t, c.pos.len(), "but it is not stored")
}

func TestCallerContextDoneBeforeMiss(t *testing.T) {
	c, up, clk := newTestCache(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Verify(ctx, newToken(t, clk.Now(), tokenSpec{}))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, up.calls.Load(), "no flight started for a caller already gone")
}
