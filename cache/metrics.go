package cache

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/stripe"
)

// outcome classifies an upstream verification.
type outcome uint8

const (
	outcomeValid outcome = iota
	outcomeInvalid
	outcomeUnavailable
	outcomeAbandoned // every caller left, and the call was cancelled
	numOutcomes
)

// Counters of metrics.lookups.
const (
	lookupHit = iota
	lookupNegativeHit
)

var outcomeNames = [numOutcomes]string{"valid", "invalid", "unavailable", "abandoned"}

// metrics holds what a Cache reports. A nil *metrics (no Registerer) makes
// every method a no-op.
//
// Hits are the hot path: they are counted in striped counters
// (internal/stripe), one stripe per running goroutine on its own cache lines,
// summed when scraped, so counting neither allocates nor makes parallel hits
// write a shared cache line. The rest
// are ordinary prometheus metrics whose label children are resolved here,
// once.
type metrics struct {
	lookups        *stripe.Counters // lookupHit, lookupNegativeHit
	misses, stales atomic.Uint64
	upstream       [numOutcomes]prometheus.Counter
	latency        prometheus.Histogram
	shared         prometheus.Counter
	rejections     [numReasons]prometheus.Counter
	revocations    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, c *Cache) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		lookups: stripe.New(),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tokenguard_upstream_verification_seconds",
			Help:    "Duration of upstream token verifications, waiting for a MaxInflight slot excluded.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		shared: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenguard_singleflight_shared_total",
			Help: "Verifications answered by an upstream call another caller started for the same token.",
		}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenguard_revocations_total",
			Help: "Calls to Revoke.",
		}),
	}
	upstream := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenguard_upstream_verifications_total",
		Help: "Upstream token verifications by outcome.",
	}, []string{"outcome"})
	for i, name := range outcomeNames {
		m.upstream[i] = upstream.WithLabelValues(name)
	}
	rejections := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenguard_precheck_rejections_total",
		Help: "Tokens refused by the cache itself, without or against the upstream's answer, by reason.",
	}, []string{"reason"})
	for i, name := range reasonNames {
		m.rejections[i] = rejections.WithLabelValues(name)
	}
	for _, col := range []prometheus.Collector{
		m.latency, m.shared, m.revocations, upstream, rejections, &tableCollector{c: c, m: m},
	} {
		if err := reg.Register(col); err != nil {
			panic("cache: registering metrics: " + err.Error())
		}
	}
	return m
}

func (m *metrics) miss() {
	if m != nil {
		m.misses.Add(1)
	}
}

func (m *metrics) stale() {
	if m != nil {
		m.stales.Add(1)
	}
}

func (m *metrics) upstreamDone(o outcome, d time.Duration) {
	if m != nil {
		m.upstream[o].Inc()
		if d >= 0 {
			m.latency.Observe(d.Seconds())
		}
	}
}

func (m *metrics) sharedFlight() {
	if m != nil {
		m.shared.Inc()
	}
}

func (m *metrics) rejected(r reason) {
	if m != nil {
		m.rejections[r].Inc()
	}
}

func (m *metrics) revoked() {
	if m != nil {
		m.revocations.Inc()
	}
}

// tableCollector exports the metrics kept in the tables themselves.
type tableCollector struct {
	c *Cache
	m *metrics
}

var (
	lookupsDesc = prometheus.NewDesc("tokenguard_cache_lookups_total",
		"Cache lookups by result: hit, miss (pre-check refusals included), negative_hit, stale.",
		[]string{"result"}, nil)
	entriesDesc = prometheus.NewDesc("tokenguard_cache_entries",
		"Entries held, by kind; lapsed entries not yet evicted included.",
		[]string{"kind"}, nil)
	evictionsDesc = prometheus.NewDesc("tokenguard_cache_evictions_total",
		"Live entries evicted to make room, by kind.",
		[]string{"kind"}, nil)
)

func (t *tableCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lookupsDesc
	ch <- entriesDesc
	ch <- evictionsDesc
}

func (t *tableCollector) Collect(ch chan<- prometheus.Metric) {
	c := t.c
	var negEvictions uint64
	negEntries := 0
	if c.neg != nil {
		negEvictions, negEntries = c.neg.evictions(), c.neg.len()
	}
	counter := func(d *prometheus.Desc, v uint64, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label)
	}
	counter(lookupsDesc, t.m.lookups.Load(lookupHit), "hit")
	counter(lookupsDesc, t.m.misses.Load(), "miss")
	counter(lookupsDesc, t.m.lookups.Load(lookupNegativeHit), "negative_hit")
	counter(lookupsDesc, t.m.stales.Load(), "stale")
	ch <- prometheus.MustNewConstMetric(entriesDesc, prometheus.GaugeValue, float64(c.pos.len()), "positive")
	ch <- prometheus.MustNewConstMetric(entriesDesc, prometheus.GaugeValue, float64(negEntries), "negative")
	counter(evictionsDesc, c.pos.evictions(), "positive")
	counter(evictionsDesc, negEvictions, "negative")
}
