package main

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPercentile(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		name string
		xs   []float64
		p    float64
		want float64
	}{
		{"p50 nearest rank", sorted, 50, 5},
		{"p90", sorted, 90, 9},
		{"p99 rounds up to the last", sorted, 99, 10},
		{"p100 is the max", sorted, 100, 10},
		{"tiny p is the min", sorted, 0.1, 1},
		{"one sample", []float64{42}, 99, 42},
		{"no samples", nil, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, percentile(tt.xs, tt.p))
		})
	}
}

func TestMedianSpreadRatio(t *testing.T) {
	assert.Equal(t, 3.0, median([]float64{5, 1, 3}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	assert.Equal(t, 0.0, median(nil))
	in := []float64{5, 1, 3}
	median(in)
	assert.Equal(t, []float64{5, 1, 3}, in, "median must not reorder its input")

	lo, hi := spread([]float64{7, 2, 9})
	assert.Equal(t, [2]float64{2, 9}, [2]float64{lo, hi})

	assert.InDelta(t, 0.5, ratio(50, 100), 1e-12)
	assert.True(t, math.IsNaN(ratio(5, 0)), "no base")
	assert.True(t, math.IsNaN(ratio(0, 5)), "no figure")
	assert.True(t, math.IsNaN(ratio(math.NaN(), 5)))
}

func TestSummarize(t *testing.T) {
	runs := []runResult{
		{RPS: 100, P50US: 10, P90US: 20, P99US: 30, MaxUS: 90, CPUPerReqUS: 50, Requests: 500, Non2xx: 1, UpstreamCalls: 1, RSSPeakKB: 900,
			Extra: map[string]float64{"admitted_revoked": 2, "heap_inuse_bytes": 10, "flood_rps": 7, "wide_calls": 1}},
		{RPS: 300, P50US: 12, P90US: 22, P99US: 60, MaxUS: 70, CPUPerReqUS: 40, Requests: 700, Errors: 3, UpstreamCalls: 1, RSSPeakKB: 1200,
			Extra: map[string]float64{"admitted_revoked": 1, "heap_inuse_bytes": 30, "flood_rps": 9, "wide_calls": 3}},
		{RPS: 200, P50US: 11, P90US: 21, P99US: 40, MaxUS: 80, CPUPerReqUS: 45, Requests: 600, UpstreamCalls: 2, RSSPeakKB: 1000,
			Extra: map[string]float64{"admitted_revoked": 0, "heap_inuse_bytes": 20, "flood_rps": 8}},
		{Err: "wrk: connection refused", RPS: 99999},
	}
	s := summarize("hot", "c", runs)
	assert.Equal(t, 3, s.Rounds, "the failed run is not a round")
	assert.Equal(t, []string{"wrk: connection refused"}, s.Failures)
	assert.Equal(t, 200.0, s.RPS)
	assert.Equal(t, [2]float64{100, 300}, [2]float64{s.RPSMin, s.RPSMax})
	assert.Equal(t, [4]float64{11, 21, 40, 80}, [4]float64{s.P50US, s.P90US, s.P99US, s.MaxUS}, "medians across rounds")
	assert.Equal(t, 45.0, s.CPUPerReqUS)
	assert.Equal(t, [2]float64{40, 50}, [2]float64{s.CPUMin, s.CPUMax})
	assert.Equal(t, int64(1800), s.Requests)
	assert.Equal(t, [2]int64{1, 3}, [2]int64{s.Non2xx, s.Errors})
	assert.Equal(t, []int64{1, 1, 2}, s.UpstreamCalls)
	assert.Equal(t, []int64{1, 3}, s.WideCalls, "rounds that had a wide burst")
	assert.Equal(t, int64(1200), s.RSSPeakKB)
	assert.Equal(t, 3.0, s.Extra["admitted_revoked"], "counts are summed")
	assert.Equal(t, 30.0, s.Extra["heap_inuse_bytes"], "heap is the max")
	assert.Equal(t, 8.0, s.Extra["flood_rps"], "rates are the median")
}

func TestSummarizeWithoutGatewayCPU(t *testing.T) {
	s := summarize("hot", "a", []runResult{{RPS: 10}, {RPS: 20}})
	assert.Zero(t, s.CPUPerReqUS, "upstream direct has no gateway process")
	assert.Equal(t, "-", fmtSpread(s.CPUMin, s.CPUMax, 1))
}
