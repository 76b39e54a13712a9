package middleware

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requestCounts gathers tokenguard_requests_total from reg by outcome.
func requestCounts(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "tokenguard_requests_total" {
			continue
		}
		out := map[string]float64{}
		for _, m := range mf.GetMetric() {
			require.Len(t, m.GetLabel(), 1)
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
		return out
	}
	t.Fatal("tokenguard_requests_total not registered")
	return nil
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := newTest(WithRegisterer(reg), WithCredentialsOptional(true),
		WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }))

	assert.Equal(t, map[string]float64{
		"authenticated": 0, "anonymous": 0, "missing": 0, "malformed": 0, "invalid": 0, "unavailable": 0, "too_many_requests": 0,
	}, requestCounts(t, reg), "every series exists from the start")

	for _, tok := range []string{goodToken, goodToken, "", invalidToken, expiredToken, downToken, weirdToken} {
		serve(m, bearerRequest("/", tok))
	}
	serve(m, bearerRequest("/", " "))              // "Bearer  ": malformed
	serve(m, bearerRequest("/healthz", goodToken)) // skipped: not counted

	required := newTest(WithRegisterer(reg)) // shares the counter
	serve(required, bearerRequest("/", ""))

	assert.Equal(t, map[string]float64{
		"authenticated": 2, "anonymous": 1, "missing": 1, "malformed": 1, "invalid": 2, "unavailable": 2, "too_many_requests": 0,
	}, requestCounts(t, reg))
}

func TestMetricsRegistrationConflictPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "tokenguard_requests_total", Help: "not ours"}))
	v := panicValue(func() { newTest(WithRegisterer(reg)) })
	assert.Contains(t, v, "middleware: register tokenguard_requests_total")
}
