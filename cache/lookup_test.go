package cache

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// Verify answers a fresh verified entry from the table with no upstream call,
// and sends everything else down the miss path.
func TestVerifyHitFirst(t *testing.T) {
	tests := []struct {
		name string
		// prepare runs against a fresh cache and returns the token to verify.
		prepare func(t *testing.T, c *Cache, clk *fakeClock) string
		hit     bool
	}{
		{name: "never verified", hit: false, prepare: func(t *testing.T, c *Cache, clk *fakeClock) string {
			return newToken(t, clk.Now(), tokenSpec{})
		}},
		{name: "verified", hit: true, prepare: func(t *testing.T, c *Cache, clk *fakeClock) string {
			tok := newToken(t, clk.Now(), tokenSpec{})
			_, err := c.Verify(context.Background(), tok)
			require.NoError(t, err)
			return tok
		}},
		{name: "lapsed", hit: false, prepare: func(t *testing.T, c *Cache, clk *fakeClock) string {
			tok := newToken(t, clk.Now(), tokenSpec{})
			_, err := c.Verify(context.Background(), tok)
			require.NoError(t, err)
			clk.Advance(time.Minute)
			return tok
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, up, clk := newTestCache(t, Options{TTL: time.Minute, NegativeTTL: time.Minute})
			tok := tt.prepare(t, c, clk)
			calls := up.calls.Load()
			u, err := c.Verify(context.Background(), tok)
			require.NoError(t, err)
			require.NotNil(t, u)
			if tt.hit {
				assert.Equal(t, calls, up.calls.Load(), "a hit never calls upstream")
			} else {
				assert.Equal(t, calls+1, up.calls.Load(), "a miss calls upstream once")
			}
		})
	}
}

// A credential that cannot be a token is refused with ErrMalformedToken on
// the miss path, before any upstream call, and nothing of it is stored.
func TestVerifyRefusesJunkLocally(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, up, clk := newTestCache(t, Options{Registerer: reg})
	good := newToken(t, clk.Now(), tokenSpec{})
	for _, junk := range []string{
		"",
		"tok en",
		"tok\x00en",
		"=abc",
		"abc=def",
		good[:10] + "\u00e9" + good[10:], // a JWT with one byte outside token68
		strings.Repeat("é", 100),
	} {
		for range 2 { // twice: a second try is not answered from any table
			u, err := c.Verify(context.Background(), junk)
			assert.Nil(t, u)
			assert.ErrorIs(t, err, verifier.ErrMalformedToken, "%q", junk)
			assert.ErrorIs(t, err, verifier.ErrInvalidToken, "%q", junk)
		}
	}
	assert.Zero(t, up.calls.Load(), "junk never reaches upstream")
	assert.Equal(t, 14.0, metricValues(t, reg)[`tokenguard_precheck_rejections_total{reason=malformed}`])
}

// A hit counts as a cache hit, a miss as a miss.
func TestVerifyHitMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, _, clk := newTestCache(t, Options{Registerer: reg})
	tok := newToken(t, clk.Now(), tokenSpec{})
	_, err := c.Verify(context.Background(), tok) // miss
	require.NoError(t, err)
	_, err = c.Verify(context.Background(), tok) // hit
	require.NoError(t, err)

	got := metricValues(t, reg)
	assert.Equal(t, 1.0, got[`tokenguard_cache_lookups_total{result=hit}`])
	assert.Equal(t, 1.0, got[`tokenguard_cache_lookups_total{result=miss}`])
}
