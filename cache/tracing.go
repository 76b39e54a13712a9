package cache

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the cache's tracer (its instrumentation scope).
const tracerName = "github.com/tokenguard/tokenguard/cache"

// VerifySpanName is the name of the span of one upstream verification: the
// call a cache miss makes (one per token, however many callers share it).
// Its parent is the span of the request that started the call.
const VerifySpanName = "tokenguard.verify"

// VerifyOutcomeKey is the attribute of a verification span holding its
// outcome: "valid", "invalid", "unavailable" or "abandoned" (every caller
// left), as in tokenguard_cache_upstream_requests_total.
const VerifyOutcomeKey = attribute.Key("tokenguard.verify.outcome")

// The events a Cache adds to the caller's span when tracing is on.
const (
	// EventHit: the token's verified answer came from the cache.
	EventHit = "tokenguard.cache.hit"
	// EventNegativeHit: the token's refusal came from the cache.
	EventNegativeHit = "tokenguard.cache.negative_hit"
	// EventStale: a lapsed answer was served because the upstream was
	// unavailable (Options.StaleIfError).
	EventStale = "tokenguard.cache.stale"
	// EventShared: the caller waited for a verification another request
	// started, and shares its answer.
	EventShared = "tokenguard.cache.shared"
)

// event adds the named event to ctx's span.
func event(ctx context.Context, name string) {
	trace.SpanFromContext(ctx).AddEvent(name)
}

// verifySpan is the span of one upstream verification; the zero value,
// with tracing off, records nothing.
type verifySpan struct{ s trace.Span }

// startVerify starts the span of an upstream verification under ctx's.
func (c *Cache) startVerify(ctx context.Context) (context.Context, verifySpan) {
	if c.tracer == nil {
		return ctx, verifySpan{}
	}
	ctx, s := c.tracer.Start(ctx, VerifySpanName, trace.WithSpanKind(trace.SpanKindClient))
	return ctx, verifySpan{s}
}

// done counts the verification's outcome in m and ends the span with it.
func (v verifySpan) done(m *metrics, o outcome, elapsed time.Duration) {
	m.upstreamDone(o, elapsed)
	if v.s == nil {
		return
	}
	v.s.SetAttributes(VerifyOutcomeKey.String(outcomeNames[o]))
	if o == outcomeUnavailable {
		v.s.SetStatus(codes.Error, "upstream unavailable")
	}
	v.s.End()
}
