package cache

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Lookup answers only from fresh verified entries and never asks upstream.
func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		// prepare runs against a fresh cache and returns the token to look up.
		prepare func(t *testing.T, c *Cache, clk *fakeClock) string
		want    bool
	}{
		{name: "never verified", want: false, prepare: func(t *testing.T, c *Cache, clk *fakeClock) string {
			return newToken(t, clk.Now(), tokenSpec{})
		}},
		{name: "verified", want: true, prepare: func(t *testing.T, c *Cache, clk *fakeClock) string {
			tok := newToken(t, clk.Now(), tokenSpec{})
			_, err := c.Verify(context.Background(), tok)
			require.NoError(t, err)
			return tok
		}},
		{name: "lapsed", want: false, prepare: func(t *testing.T, c *Cache, clk *fakeClock) string {
			tok := newToken(t, clk.Now(), tokenSpec{})
			_, err := c.Verify(context.Background(), tok)
			require.NoError(t, err)
			clk.Advance(time.Minute)
			return tok
		}},
		{name: "revoked", want: false, prepare: func(t *testing.T, c *Cache, clk *fakeClock) string {
			tok := newToken(t, clk.Now(), tokenSpec{})
			_, err := c.Verify(context.Background(), tok)
			require.NoError(t, err)
			c.Revoke("63ed812a43be72c176aa5d21", clk.Now())
			return tok
		}},
		{name: "refused and negatively cached", want: false, prepare: func(t *testing.T, c *Cache, clk *fakeClock) string {
			tok := newToken(t, clk.Now(), tokenSpec{})
			forged := tok[:len(tok)-4] + "AAAA"
			_, err := c.Verify(context.Background(), forged)
			require.Error(t, err)
			return forged
		}},
		{name: "empty", want: false, prepare: func(*testing.T, *Cache, *fakeClock) string { return "" }},
		{name: "over the length limit", want: false, prepare: func(*testing.T, *Cache, *fakeClock) string {
			return strings.Repeat("a", maxTokenLen+1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, up, clk := newTestCache(t, Options{TTL: time.Minute, NegativeTTL: time.Minute})
			tok := tt.prepare(t, c, clk)
			calls := up.calls.Load()
			u, ok := c.Lookup(tok)
			assert.Equal(t, tt.want, ok)
			assert.Equal(t, calls, up.calls.Load(), "Lookup never calls upstream")
			if !tt.want {
				assert.Nil(t, u)
				return
			}
			v, err := c.Verify(context.Background(), tok)
			require.NoError(t, err)
			assert.Same(t, v, u, "Lookup returns the user Verify serves")
		})
	}
}

// A Lookup hit counts as a cache hit; a Lookup miss counts nothing, since
// the caller goes on to Verify, which counts it.
func TestLookupMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, _, clk := newTestCache(t, Options{Registerer: reg})
	tok := newToken(t, clk.Now(), tokenSpec{})
	_, ok := c.Lookup(tok)
	require.False(t, ok)
	_, err := c.Verify(context.Background(), tok) // miss
	require.NoError(t, err)
	_, ok = c.Lookup(tok) // hit
	require.True(t, ok)

	got := metricValues(t, reg)
	assert.Equal(t, 1.0, got[`tokenguard_cache_lookups_total{result=hit}`])
	assert.Equal(t, 1.0, got[`tokenguard_cache_lookups_total{result=miss}`])
}
