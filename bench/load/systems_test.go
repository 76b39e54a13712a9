package main

import (
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/internal/gateway"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// flagValue returns the value after flag in args, and whether flag is there.
func flagValue(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

// Each tokenguard system runs the subcommand, cache and engine it names:
// (c) and (d) the binary's default engine, (g) and (h) --engine fasthttp.
// (g) is wired even while the binary refuses proxy mode on fasthttp: it is
// then reported unavailable, with the binary's own message.
func TestTokenguardCommandLines(t *testing.T) {
	api := appservices.Config{BaseURL: "http://127.0.0.1:1", GroupID: "g", AppID: "a", PublicKey: "pub", PrivateKey: "priv"}
	for _, tc := range []struct {
		id, mode, engine, cacheSize string
		nginx                       bool
	}{
		{"c", "proxy", "", "100000", false},
		{"d", "forward-auth", "", "100000", true},
		{"e", "forward-auth", "", "0", true},
		{"g", "proxy", "fasthttp", "100000", false},
		{"h", "forward-auth", "fasthttp", "100000", true},
	} {
		t.Run(tc.id, func(t *testing.T) {
			spec := specOf(tc.id)
			mode, size, extra := tokenguardOf(spec)
			args := tokenguardArgs(tokenguardRun{mode: mode, listen: "127.0.0.1:2", admin: "127.0.0.1:3", api: api,
				secret: "s", upstream: "http://127.0.0.1:4", cacheSize: size, ttl: 30 * time.Minute}, extra...)
			assert.Equal(t, tc.mode, args[0])
			engine, ok := flagValue(args, "--engine")
			assert.Equal(t, tc.engine != "", ok, "--engine given: %v", args)
			assert.Equal(t, tc.engine, engine)
			cs, _ := flagValue(args, "--cache-size")
			assert.Equal(t, tc.cacheSize, cs)
			_, ttl := flagValue(args, "--cache-ttl")
			assert.Equal(t, tc.cacheSize != "0", ttl, "a TTL only with a cache")
			up, ok := flagValue(args, "--upstream")
			assert.Equal(t, tc.mode == "proxy", ok)
			if ok {
				assert.Equal(t, "http://127.0.0.1:4", up)
			}
			perClient, _ := flagValue(args, "--max-inflight-per-client")
			assert.Equal(t, strconv.Itoa(gateway.DefaultMaxInflight), perClient,
				"every load client is 127.0.0.1: the per-client limit must not refuse the warm-up")
			listen, _ := flagValue(args, "--listen")
			assert.Equal(t, "127.0.0.1:2", listen)
			assert.Equal(t, tc.nginx, spec.nginx())
			assert.True(t, spec.Auth)
			assert.Contains(t, cachingSystems, tc.id, "taken through stampede, expiry, junk and revoke")
		})
	}
	assert.Empty(t, specOf("c").engineArgs(), "(c) runs the default engine")
	assert.Equal(t, "c", specOf("g").kind())
	assert.Equal(t, "d", specOf("h").kind())
	assert.True(t, specOf("f").nginx())
	assert.False(t, specOf("b").nginx())
}

func TestParseFlagsEngineSystems(t *testing.T) {
	c, err := parseFlags([]string{"-only", "d,e,h,g", "-scenarios", "hot", "-rounds", "3", "-duration", "3s"})
	require.NoError(t, err)
	assert.Equal(t, []string{"d", "e", "h", "g"}, c.only)
	assert.True(t, needsTokenguard(c.only))

	def, err := parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, def.only, "the fasthttp systems are opt-in")

	_, err = parseFlags([]string{"-only", "c,i"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"i"`)
	assert.Contains(t, err.Error(), "g, h", "the message lists the systems")
}

// The report labels the fasthttp systems and splits (d)'s and (h)'s CPU
// between tokenguard and nginx.
func TestReportEngineRows(t *testing.T) {
	h := &harness{cfg: config{only: []string{"b", "d", "e", "g", "h"}}}
	split := func(tg, ng float64) map[string]float64 {
		return map[string]float64{cpuSplitKey("tokenguard"): tg, cpuSplitKey("nginx"): ng}
	}
	s := sums{"hot": {
		"b": {Rounds: 3, RPS: 10000, CPUPerReqUS: 100},
		"d": {Rounds: 3, RPS: 12000, CPUPerReqUS: 80, Extra: split(30, 50)},
		"e": {Rounds: 3, RPS: 20000, CPUPerReqUS: 40, Extra: map[string]float64{cpuSplitKey("tokenguard"): 1, cpuSplitKey("nginx"): 39}},
		"g": {Rounds: 3, RPS: 21000, CPUPerReqUS: 38, Extra: map[string]float64{}},
		"h": {Rounds: 3, RPS: 15000, CPUPerReqUS: 60, Extra: split(15, 45)},
	}}
	table := h.scenarioTable("hot", s)
	assert.Contains(t, table, "| (g) tokenguard fasthttp | 21000 |")
	assert.Contains(t, table, "| (h) nginx+fa fasthttp | 15000 |")

	st := h.cpuSplitTable("hot", s)
	assert.Contains(t, st, "| (d) nginx+fa | 80.0 | tokenguard 30.0 µs (38%), nginx 50.0 µs (62%) |")
	assert.Contains(t, st, "| (h) nginx+fa fasthttp | 60.0 | tokenguard 15.0 µs (25%), nginx 45.0 µs (75%) |")
	assert.NotContains(t, st, "(g)", "one program: no split")
	assert.Empty(t, h.cpuSplitTable("cold", s))

	assert.Empty(t, h.harnessCPUTable("hot", s), "no run recorded the harness's CPU")
	s["hot"]["g"].Extra[harnessCPUKey] = 12.5
	ht := h.harnessCPUTable("hot", s)
	assert.Contains(t, ht, "| (g) tokenguard fasthttp | 38.0 | 12.5 | 50.5 |")
	assert.NotContains(t, ht, "(b)", "b recorded none")

	bars := h.barsSection(s)
	assert.Contains(t, bars, "(g) vs nginx auth_request + proxy_cache (e), hot tokens: 1.05× req/s (21000 vs 20000; bar >= 1.0×), "+
		"0.95× CPU/request (38.0 vs 40.0 µs; bar <= 1.0×): **met**")
	assert.Contains(t, bars, "Against the plain proxy (b): 2.10× req/s (bar >= 2×): **met**")
	assert.Contains(t, bars, "(h) vs (e), hot tokens: 0.75× req/s (15000 vs 20000), 1.50× CPU/request (60.0 vs 40.0 µs; "+
		"tokenguard 15.0 µs (25%), nginx 45.0 µs (75%)) (bar: CPU <= 1.8×): **met**")
	assert.Contains(t, bars, "(d) vs (e), hot tokens: 0.60× req/s (12000 vs 20000), 2.00× CPU/request")
}

// The split figures are per-request CPU: summarize takes their median
// across rounds, as it does CPU per request, not their sum.
func TestCPUSplitAggregation(t *testing.T) {
	key := cpuSplitKey("redis-server")
	assert.Equal(t, "cpu_redis_server_per_req_us", key)
	runs := []runResult{{Extra: map[string]float64{key: 10}}, {Extra: map[string]float64{key: 30}}, {Extra: map[string]float64{key: 12}}}
	assert.Equal(t, 12.0, summarize("hot", "h", runs).Extra[key])
}

func TestSystemPrograms(t *testing.T) {
	s := &system{procs: []*proc{
		{name: "tokenguard forward-auth", cmd: exec.Command("true")},
		{name: "nginx", cmd: exec.Command("true"), children: true},
		{name: "tokenguard forward-auth", cmd: exec.Command("true")},
	}}
	assert.Equal(t, []string{"tokenguard", "nginx"}, s.programs())
	assert.Equal(t, "redis-server", programOf("redis-server"))
	assert.True(t, strings.HasPrefix(specOf("h").Name, "nginx auth_request"))
}
