package cache

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// metricValues gathers reg into "name{label=value}" -> value (histograms:
// their sample count under "name_count").
func metricValues(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[name] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[name+"_count"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, up, clk := newTestCache(t, Options{Registerer: reg, TTL: time.Minute, StaleIfError: time.Hour, Size: 2})
	ctx := context.Background()
	now := clk.Now()
	good := newToken(t, now, tokenSpec{sub: "alice"})
	forged := good[:len(good)-4] + "AAAA"

	_, _ = c.Verify(ctx, good)                                                                            // miss, upstream valid
	_, _ = c.Verify(ctx, good)                                                                            // hit
	_, _ = c.Verify(ctx, good)                                                                            // hit
	_, _ = c.Verify(ctx, forged)                                                                          // miss, upstream invalid
	_, _ = c.Verify(ctx, forged)                                                                          // negative hit
	_, _ = c.Verify(ctx, "junk")                                                                          // miss, malformed
	_, _ = c.Verify(ctx, newToken(t, now, tokenSpec{typ: "refresh"}))                                     // miss, wrong_type
	_, _ = c.Verify(ctx, newToken(t, now, tokenSpec{iat: now.Add(-time.Hour), exp: now.Add(-time.Hour)})) // miss, expired
	clk.Advance(time.Minute)
	up.setErr(verifier.ErrUnavailable)
	_, _ = c.Verify(ctx, good) // stale, upstream unavailable
	up.setErr(nil)
	_, _ = c.Verify(ctx, newToken(t, now, tokenSpec{sub: "bob"})) // miss, valid; good is lapsed (no eviction)
	c.Revoke(context.Background(), "mallory", now)
	_, _ = c.Verify(ctx, newToken(t, now, tokenSpec{sub: "mallory"})) // miss, revoked
	clk.Advance(time.Second)
	// Size is 2: carol's entry evicts bob (good, referenced, gets a second
	// chance), dave's then evicts good.
	for _, id := range []string{"carol", "dave"} {
		_, _ = c.Verify(ctx, newToken(t, clk.Now(), tokenSpec{sub: id}))
	}

	got := metricValues(t, reg)
	want := map[string]float64{
		`tokenguard_cache_lookups_total{result=hit}`:                   2,
		`tokenguard_cache_lookups_total{result=miss}`:                  9,
		`tokenguard_cache_lookups_total{result=negative_hit}`:          1,
		`tokenguard_cache_lookups_total{result=stale}`:                 1,
		`tokenguard_cache_entries{kind=positive}`:                      2,
		`tokenguard_cache_entries{kind=negative}`:                      1,
		`tokenguard_cache_evictions_total{kind=positive}`:              2,
		`tokenguard_cache_evictions_total{kind=negative}`:              0,
		`tokenguard_upstream_verifications_total{outcome=valid}`:       4,
		`tokenguard_upstream_verifications_total{outcome=invalid}`:     1,
		`tokenguard_upstream_verifications_total{outcome=unavailable}`: 1,
		`tokenguard_upstream_verifications_total{outcome=abandoned}`:   0,
		`tokenguard_upstream_verification_seconds_count`:               6,
		`tokenguard_singleflight_shared_total`:                         0,
		`tokenguard_precheck_rejections_total{reason=malformed}`:       1,
		`tokenguard_precheck_rejections_total{reason=expired}`:         1,
		`tokenguard_precheck_rejections_total{reason=wrong_type}`:      1,
		`tokenguard_precheck_rejections_total{reason=revoked}`:         1,
		`tokenguard_revocations_total`:                                 1,
	}
	assert.Equal(t, want, got)
}

func TestMetricsSharedFlight(t *testing.T) {
	const n = 10
	reg := prometheus.NewRegistry()
	c, up, clk := newTestCache(t, Options{Registerer: reg})
	tok := newToken(t, clk.Now(), tokenSpec{})
	joined := joinCounter(c, n)
	entered, release := up.block()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { _, _ = c.Verify(context.Background(), tok) })
	}
	recv(t, entered)
	for range n {
		recv(t, joined)
	}
	release()
	wg.Wait()
	got := metricValues(t, reg)
	assert.EqualValues(t, n-1, got["tokenguard_singleflight_shared_total"])
	assert.EqualValues(t, n, got["tokenguard_cache_lookups_total{result=miss}"])
	assert.EqualValues(t, 1, got["tokenguard_upstream_verifications_total{outcome=valid}"])
}

func TestMetricsRegistrationConflictPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	up := newUpstream(time.Now)
	New(up, Options{Registerer: reg})
	assert.PanicsWithValue(t,
		"cache: registering metrics: duplicate metrics collector registration attempted",
		func() { New(up, Options{Registerer: reg}) })

	// Each wrapped with a distinguishing label, two caches share a registry.
	reg = prometheus.NewRegistry()
	for _, name := range []string{"a", "b"} {
		New(up, Options{Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"cache": name}, reg)})
	}
	_, err := reg.Gather()
	assert.NoError(t, err)
}

func TestHitDoesNotAllocate(t *testing.T) {
	for _, withMetrics := range []bool{false, true} {
		t.Run(map[bool]string{false: "no metrics", true: "metrics"}[withMetrics], func(t *testing.T) {
			opts := Options{}
			if withMetrics {
				opts.Registerer = prometheus.NewRegistry()
			}
			c, _, clk := newTestCache(t, opts)
			tok := newToken(t, clk.Now(), tokenSpec{})
			ctx := context.Background()
			_, err := c.Verify(ctx, tok)
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := c.Verify(ctx, tok); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs)
		})
	}
}

func TestNegativeHitDoesNotAllocate(t *testing.T) {
	c, _, clk := newTestCache(t, Options{Registerer: prometheus.NewRegistry()})
	tok := newToken(t, clk.Now(), tokenSpec{})
	forged := tok[:len(tok)-4] + "AAAA"
	_, err := c.Verify(context.Background(), forged)
	require.Error(t, err)
	allocs := testing.AllocsPerRun(100, func() { _, _ = c.Verify(context.Background(), forged) })
	assert.Zero(t, allocs)
}
