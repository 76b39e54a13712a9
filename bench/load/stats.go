package main

import (
	"math"
	"slices"
	"strings"
)

// Aggregates of no samples are 0 rather than NaN, so that results.json
// (encoding/json has no NaN) can hold them; the report shows them as "-".

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method; 0 for no samples.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// median of xs (the mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread is the smallest and largest of xs; 0, 0 for none.
func spread(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	return slices.Min(xs), slices.Max(xs)
}

// ratio is x/base, or NaN where that has no meaning (either is 0 or NaN).
func ratio(x, base float64) float64 {
	if base == 0 || x == 0 || math.IsNaN(base) || math.IsNaN(x) {
		return math.NaN()
	}
	return x / base
}

// summary aggregates one system's rounds in one scenario: medians across
// rounds, with the spread of the noisy figures.
type summary struct {
	Scenario      string             `json:"scenario"`
	System        string             `json:"system"`
	Rounds        int                `json:"rounds"`
	RPS           float64            `json:"rps"`
	RPSMin        float64            `json:"rps_min"`
	RPSMax        float64            `json:"rps_max"`
	P50US         float64            `json:"p50_us"`
	P90US         float64            `json:"p90_us"`
	P99US         float64            `json:"p99_us"`
	MaxUS         float64            `json:"max_us"`
	CPUPerReqUS   float64            `json:"cpu_per_req_us"`
	CPUMin        float64            `json:"cpu_per_req_us_min"`
	CPUMax        float64            `json:"cpu_per_req_us_max"`
	Requests      int64              `json:"requests"`
	Non2xx        int64              `json:"non2xx"`
	Errors        int64              `json:"errors"`
	UpstreamCalls []int64            `json:"upstream_calls"`       // per round
	WideCalls     []int64            `json:"wide_calls,omitempty"` // per round, stampedes only
	RSSPeakKB     int64              `json:"rss_peak_kb"`
	Extra         map[string]float64 `json:"extra,omitempty"`
	Failures      []string           `json:"failures,omitempty"`
}

// maxKeys are Extra figures aggregated by their maximum; figures ending in
// _rps or _us by their median; every other one is a count and summed.
var maxKeys = map[string]bool{"heap_inuse_bytes": true, "heap_growth_bytes": true, "negative_entries": true,
	"positive_entries": true, "admitted_max_lag_ms": true, "revoke_status": true}

func summarize(scenario, system string, runs []runResult) summary {
	s := summary{Scenario: scenario, System: system, Extra: map[string]float64{}}
	var rps, p50, p90, p99, mx, cpu []float64
	extras := map[string][]float64{}
	for _, r := range runs {
		if r.Err != "" {
			s.Failures = append(s.Failures, r.Err)
			continue
		}
		s.Rounds++
		rps = append(rps, r.RPS)
		p50, p90, p99, mx = append(p50, r.P50US), append(p90, r.P90US), append(p99, r.P99US), append(mx, r.MaxUS)
		if !math.IsNaN(r.CPUPerReqUS) && r.CPUPerReqUS > 0 {
			cpu = append(cpu, r.CPUPerReqUS)
		}
		s.Requests += r.Requests
		s.Non2xx += r.Non2xx
		s.Errors += r.Errors
		s.UpstreamCalls = append(s.UpstreamCalls, r.UpstreamCalls)
		if w, ok := r.Extra["wide_calls"]; ok {
			s.WideCalls = append(s.WideCalls, int64(w))
		}
		s.RSSPeakKB = max(s.RSSPeakKB, r.RSSPeakKB)
		for k, v := range r.Extra {
			extras[k] = append(extras[k], v)
		}
	}
	s.RPS = median(rps)
	s.RPSMin, s.RPSMax = spread(rps)
	s.P50US, s.P90US, s.P99US, s.MaxUS = median(p50), median(p90), median(p99), median(mx)
	s.CPUPerReqUS = median(cpu)
	s.CPUMin, s.CPUMax = spread(cpu)
	for k, vs := range extras {
		switch {
		case maxKeys[k]:
			s.Extra[k] = slices.Max(vs)
		case strings.HasSuffix(k, "_rps"), strings.HasSuffix(k, "_us"):
			s.Extra[k] = median(vs)
		default:
			var sum float64
			for _, v := range vs {
				sum += v
			}
			s.Extra[k] = sum
		}
	}
	return s
}
