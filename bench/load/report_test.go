package main

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFmtUS(t *testing.T) {
	tests := []struct {
		us   float64
		want string
	}{
		{0, "-"}, {math.NaN(), "-"}, {850, "850µs"}, {1234, "1.23ms"}, {45_600, "46ms"}, {2_500_000, "2.50s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) { assert.Equal(t, tt.want, fmtUS(tt.us)) })
	}
}

func TestFmtRatio(t *testing.T) {
	assert.Equal(t, "1.02×", fmtRatio(1.0234))
	assert.Equal(t, "-", fmtRatio(math.NaN()))
	assert.Equal(t, "-", fmtRatio(math.Inf(1)))
}

func TestMdTable(t *testing.T) {
	got := mdTable([]string{"a", "b"}, [][]string{{"1", mdEscape("x|y\nz")}})
	assert.Equal(t, "| a | b |\n|---|---|\n| 1 | x\\|y z |\n", got)
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.2582912e+07
tokenguard_cache_entries{kind="negative"} 42
tokenguard_cache_entries{kind="positive"} 1000
tokenguard_cache_lookups_total{result="hit"} 9e+06
`
	got := parseMetrics(strings.NewReader(text), "go_memstats_heap_inuse_bytes",
		`tokenguard_cache_entries{kind="negative"}`, "tokenguard_absent")
	assert.Equal(t, map[string]float64{
		"go_memstats_heap_inuse_bytes":              12_582_912,
		`tokenguard_cache_entries{kind="negative"}`: 42,
	}, got)
}

func TestScenarioTableJunkAndBars(t *testing.T) {
	h := &harness{cfg: config{only: []string{"a", "b", "c"}, latency: 2e6, stampedeN: 1000, stampedeConns: 100}}
	s := sums{
		"hot": {"a": {Rounds: 1, RPS: 30000, P99US: 4000}, "b": {Rounds: 1, RPS: 10000, CPUPerReqUS: 100, P99US: 8000},
			"c": {Rounds: 1, RPS: 11000, CPUPerReqUS: 90, P99US: 6000}},
		"junk": {"c": {Rounds: 1, RPS: 9000, P99US: 9000, CPUPerReqUS: 80, UpstreamCalls: []int64{0},
			Extra: map[string]float64{"heap_inuse_bytes": 8 << 20, "heap_growth_bytes": -(1 << 19), "positive_entries": 1000,
				"negative_entries": 0, "flood_rps": 20000}}},
		"stampede": {"a": {Rounds: 1, P99US: 3000}, "c": {Rounds: 1, P99US: 5500, UpstreamCalls: []int64{1, 1}, WideCalls: []int64{1, 2},
			Extra: map[string]float64{"wave_p50_us": 4100, "cached_wave_p50_us": 2000, "cached_p99_us": 4000, "added_p99_us": 1500, "added_p50_us": 2100}}},
	}
	table := h.scenarioTable("junk", s)
	assert.Contains(t, table, "| (c) tokenguard | 9000 |")
	assert.Contains(t, table, "| 1.50× | 20000 | 8.0 | -0.5 | 1000 | 0 |",
		"hot p99 under flood over hot p99 alone; flood rate; heap; its growth; positive and negative entries")

	bars := h.barsSection(s)
	assert.Contains(t, bars, "(c) vs plain proxy without auth (b), hot tokens: 1.10× req/s (11000 vs 10000), 0.90× CPU/request (90.0 vs 100.0 µs): **met**")
	assert.Contains(t, bars, "Stampede of a fresh token, (c): upstream calls per burst 1, 2, 1, 1 (bar: 1): **missed**; "+
		"waiters' added latency +2.10ms (bar: <= 2ms + 1ms): **met**; p99 5.50ms (+1.50ms over the same burst once cached)")
	assert.Contains(t, h.scenarioTable("stampede", s),
		"| (c) tokenguard | 1, 2 | 1, 1 | - | 5.50ms | - | 4.10ms | 2.00ms | +2.10ms | 4.00ms | +1.50ms |")
	assert.Contains(t, bars, "Junk flood, (c): 0 upstream calls (bar: 0) **met**; hot p99 9.00ms = 1.50× of its value without the flood (bar: < 2×) **met**")
	assert.Contains(t, bars, "heap in use 8.0 MiB (-0.5 MiB during the flood), 1000 positive and 0 negative cache entries")
}

func TestCategorize(t *testing.T) {
	report := `# Samples: 1K of event 'cpu-clock'
#
# Overhead  Command     Symbol
# ........  ..........  ......
#
    10.00%  tokenguard  [k] _raw_spin_unlock_irqrestore
     5.00%  tokenguard  [.] runtime.tryDeferToSpanScan
     4.00%  tokenguard  [.] runtime.mallocgcSmallScanNoHeader
     3.00%  tokenguard  [.] runtime.selectgo
     2.00%  tokenguard  [.] runtime.mapaccess2_fast64
     6.00%  tokenguard  [.] net/http.(*conn).serve
     1.50%  tokenguard  [.] github.com/tokenguard/tokenguard/cache.(*shard).lookup
     1.00%  tokenguard  [.] github.com/tokenguard/tokenguard/internal/gateway.(*proxy).ServeHTTP
     0.50%  tokenguard  [.] github.com/tokenguard/tokenguard/middleware.(*Middleware).Handler.func1
     0.75%  tokenguard  [.] sync.(*Pool).Get
     0.60%  tokenguard  [.] github.com/valyala/fasthttp.(*Server).serveConnCounted
     2.00%  nginx       [.] ngx_http_parse_header_line
     1.00%  nginx       [.] ngx_http_file_cache_create_key
     0.80%  nginx       [.] __memset_avx2_unaligned_erms
     0.20%  nginx       [.] 0x000000000008c20b
`
	got := categorize(report)
	want := map[string]float64{
		"kernel: TCP, syscalls, scheduling":         10,
		"Go GC":                                     5,
		"Go allocation":                             4,
		"Go scheduler, channels, locks":             3,
		"Go runtime: maps, hashing, memmove, other": 2,
		"net/http, net, bufio, io":                  6,
		"tokenguard: cache":                         1.5,
		"tokenguard: internal/gateway":              1,
		"tokenguard: middleware":                    0.5,
		"other Go std library":                      0.75,
		"fasthttp":                                  0.6,
		"nginx":                                     2.2,
		"nginx: proxy_cache":                        1,
		"libc":                                      0.8,
	}
	require.Len(t, got, len(want))
	for k, v := range want {
		assert.InDelta(t, v, got[k], 1e-9, k)
	}
	for k := range got {
		assert.Contains(t, categoryOrder, k, "every category has a row in the report")
	}

	section := profileSection([]profileResult{{System: "c", Tool: "perf", File: "profile-c.txt", Categories: got,
		Top: []string{"10.00%  tokenguard  [k] _raw_spin_unlock_irqrestore"}}}, map[string]summary{"c": {CPUPerReqUS: 100}})
	assert.Contains(t, section, "| kernel: TCP, syscalls, scheduling | 10.0 (10%) |")
	assert.Contains(t, section, "| **total** | **100.0** |")
	assert.Contains(t, section, "full list: profile-c.txt")
}
