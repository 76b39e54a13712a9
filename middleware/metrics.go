package middleware

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the tokenguard_requests_total children, one per outcome,
// resolved once so that counting allocates nothing.
type metrics struct {
	requests [numKinds]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenguard_requests_total",
		Help: "Requests authenticated by the tokenguard middleware, by outcome.",
	}, []string{"outcome"})
	if err := reg.Register(vec); err != nil {
		var are prometheus.AlreadyRegisteredError
		existing, ok := vec, false
		if errors.As(err, &are) {
			existing, ok = are.ExistingCollector.(*prometheus.CounterVec)
		}
		if !ok {
			panic(fmt.Sprintf("middleware: register tokenguard_requests_total: %v", err))
		}
		vec = existing
	}
	m := &metrics{}
	for k := range Kind(numKinds) {
		m.requests[k] = vec.WithLabelValues(k.String())
	}
	return m
}

// observe counts one decision of kind k. A nil *metrics counts nothing.
func (m *metrics) observe(k Kind) {
	if m == nil || k >= numKinds {
		return
	}
	m.requests[k].Inc()
}
