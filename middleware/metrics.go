package middleware

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/stripe"
)

var requestsDesc = prometheus.NewDesc("tokenguard_requests_total",
	"Requests authenticated by the tokenguard middleware, by outcome.",
	[]string{"outcome"}, nil)

// metrics counts tokenguard_requests_total, one striped counter per outcome
// (internal/stripe): every request adds to a stripe of its own goroutine,
// on its own cache lines, and a scrape sums the stripes, so parallel
// requests write no shared cache line and counting allocates nothing.
// metrics is itself the prometheus.Collector; middlewares registered on the
// same registry share one.
type metrics struct {
	requests *stripe.Counters // indexed by Kind
}

var _ [stripe.Width - numKinds]struct{} // every Kind has a counter

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{requests: stripe.New()}
	if err := reg.Register(m); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*metrics); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("middleware: register tokenguard_requests_total: %v", err))
	}
	return m
}

// observe counts one decision of kind k. A nil *metrics counts nothing.
func (m *metrics) observe(k Kind) {
	if m == nil || k >= numKinds {
		return
	}
	m.requests.Add(int(k), 1)
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) { ch <- requestsDesc }

// Collect implements prometheus.Collector: one series per outcome, each the
// sum of its stripes.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for k := range Kind(numKinds) {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue,
			float64(m.requests.Load(int(k))), k.String())
	}
}
