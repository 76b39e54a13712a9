package replicas

import "github.com/prometheus/client_golang/prometheus"

// metrics are the feed's Prometheus metrics; unregistered ones still count,
// so the code never checks for nil.
type metrics struct {
	up            prometheus.Gauge
	published     prometheus.Counter
	publishFailed prometheus.Counter
	received      prometheus.Counter
	resyncs       prometheus.Counter
	resynced      prometheus.Counter
	reconnects    prometheus.Counter
	propagation   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenguard_revocation_feed_up",
			Help: "1 while this replica is subscribed to the shared revocation feed, 0 otherwise.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenguard_revocations_published_total",
			Help: "Revocations written to Redis and published by this replica.",
		}),
		publishFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenguard_revocations_publish_failures_total",
			Help: "Revocations Redis did not accept; applied on this replica only.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenguard_revocations_received_total",
			Help: "Revocation messages received from the feed and applied.",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenguard_revocation_resyncs_total",
			Help: "Full reads of the durable revocation set.",
		}),
		resynced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenguard_revocations_resynced_total",
			Help: "Revocations applied from full reads of the durable set.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenguard_revocation_feed_reconnects_total",
			Help: "Times the feed subscribed again after losing its connection.",
		}),
		propagation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tokenguard_revocation_propagation_seconds",
			Help:    "Time from a revocation's publication to its arrival here.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.up, m.published, m.publishFailed, m.received, m.resyncs, m.resynced, m.reconnects, m.propagation)
	}
	return m
}
