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

func TestStaleIfError(t *testing.T) {
	const (
		ttl    = time.Minute
		window = 30 * time.Second
		skew   = 5 * time.Second
	)
	tests := []struct {
		name      string
		tokenLife time.Duration // exp - now at verification
		after     time.Duration // since the verification
		upErr     error
		stale     bool
	}{
		{"at TTL, window open", time.Hour, ttl, verifier.ErrUnavailable, true},
		{"last instant of the window", time.Hour, ttl + window - time.Nanosecond, verifier.ErrUnavailable, true},
		{"window closed", time.Hour, ttl + window, verifier.ErrUnavailable, false},
		{"api 503 counts as unavailable", time.Hour, ttl + time.Second, &appservices.APIError{StatusCode: 503}, true},
		{"token expiry closes the window early", ttl + 10*time.Second, ttl + 10*time.Second - skew, verifier.ErrUnavailable, false},
		{"before token expiry", ttl + 10*time.Second, ttl + 10*time.Second - skew - time.Nanosecond, verifier.ErrUnavailable, true},
		{"unknown error is not papered over", time.Hour, ttl + time.Second, errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, up, clk := newTestCache(t, Options{TTL: ttl, StaleIfError: window})
			tok := newToken(t, clk.Now(), tokenSpec{exp: clk.Now().Add(tt.tokenLife)})
			ctx := context.Background()
			want, err := c.Verify(ctx, tok)
			require.NoError(t, err)

			clk.Advance(tt.after)
			up.setErr(tt.upErr)
			u, err := c.Verify(ctx, tok)
			if tt.stale {
				require.NoError(t, err)
				assert.Same(t, want, u)
			} else {
				assert.Error(t, err)
				assert.Nil(t, u)
			}
			assert.EqualValues(t, 2, up.calls.Load(), "a stale answer still tries the upstream first")
		})
	}
}

func TestStaleOffByDefault(t *testing.T) {
	c, up, clk := newTestCache(t, Options{TTL: time.Minute})
	tok := newToken(t, clk.Now(), tokenSpec{})
	_, err := c.Verify(context.Background(), tok)
	require.NoError(t, err)
	clk.Advance(time.Minute)
	up.setErr(verifier.ErrUnavailable)
	_, err = c.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
}

// Once the upstream refuses a token, its lapsed entry is gone: it cannot
// be served stale in a later outage.
func TestStaleNeverAfterRefusal(t *testing.T) {
	c, up, clk := newTestCache(t, Options{TTL: time.Minute, StaleIfError: time.Hour, NegativeTTL: time.Second})
	tok := newToken(t, clk.Now(), tokenSpec{})
	ctx := context.Background()
	_, err := c.Verify(ctx, tok)
	require.NoError(t, err)

	clk.Advance(time.Minute)
	up.setErr(verifier.ErrInvalidToken)
	_, err = c.Verify(ctx, tok)
	require.ErrorIs(t, err, verifier.ErrInvalidToken)

	clk.Advance(time.Second)
	up.setErr(verifier.ErrUnavailable)
	_, err = c.Verify(ctx, tok)
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
}

// Revoke drops lapsed entries kept for the stale window too.
func TestStaleNeverAfterRevoke(t *testing.T) {
	c, up, clk := newTestCache(t, Options{TTL: time.Minute, StaleIfError: time.Hour})
	tok := newToken(t, clk.Now(), tokenSpec{sub: "alice"})
	_, err := c.Verify(context.Background(), tok)
	require.NoError(t, err)
	clk.Advance(time.Minute)
	c.Revoke(context.Background(), "alice", clk.Now())
	up.setErr(verifier.ErrUnavailable)
	_, err = c.Verify(context.Background(), tok)
	assert.ErrorIs(t, err, verifier.ErrRevoked)
}
