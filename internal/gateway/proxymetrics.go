package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ProxyMetrics is the proxy's own request histogram,
// tokenguard_proxy_request_duration_seconds{outcome, upstream}: how long
// each forwarded request took, from the proxy's first look at it to the end
// of the answer's body, by
//
//	outcome   authenticated (a user was verified) or skipped (a skip path)
//	upstream  the upstream's status class, 1xx to 5xx, or unreachable when
//	          no answer came and the proxy answered 502 itself
//
// Refusals never reach the proxy: tokenguard_requests_total counts them.
// A request whose client went away first, or whose body the client could
// not deliver (the proxy's own 400), is not observed: it says nothing of
// the upstream. Engines call Observe; the series are made up front, so an
// observation allocates nothing.
type ProxyMetrics struct {
	obs [2][6]prometheus.Observer // [authenticated, skipped][1xx..5xx, unreachable]
}

var (
	proxyOutcomes = [2]string{"authenticated", "skipped"}
	proxyClasses  = [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "unreachable"}
)

// newProxyMetrics registers the histogram on reg.
func newProxyMetrics(reg prometheus.Registerer) *ProxyMetrics {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tokenguard_proxy_request_duration_seconds",
		Help:    "Time to forward a request and relay its answer, by outcome (authenticated, skipped) and the upstream's status class (1xx-5xx, unreachable: the proxy answered 502).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"outcome", "upstream"})
	reg.MustRegister(h)
	m := &ProxyMetrics{}
	for i, o := range proxyOutcomes {
		for j, c := range proxyClasses {
			m.obs[i][j] = h.WithLabelValues(o, c)
		}
	}
	return m
}

// Observe records one forwarded request. status is the upstream's answer;
// 0 means none came (unreachable). A nil ProxyMetrics records nothing.
func (m *ProxyMetrics) Observe(authenticated bool, status int, d time.Duration) {
	if m == nil {
		return
	}
	o := 1
	if authenticated {
		o = 0
	}
	c := 5
	if status >= 100 && status < 600 {
		c = status/100 - 1
	}
	m.obs[o][c].Observe(d.Seconds())
}
