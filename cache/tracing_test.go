package cache

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenguard/tokenguard/internal/spantest"
	"github.com/tokenguard/tokenguard/verifier"
)

// tracedCache is a cache over a fake upstream with tracing on, and a
// recorder of the spans that ended.
type tracedCache struct {
	*Cache
	up  *upstream
	clk *fakeClock
	rec *tracetest.SpanRecorder
	tr  trace.Tracer // for the tests' request spans
}

func newTracedCache(t *testing.T, opts Options) *tracedCache {
	tp, rec := spantest.Recorder(t)
	opts.TracerProvider = tp
	c, up, clk := newTestCache(t, opts)
	return &tracedCache{Cache: c, up: up, clk: clk, rec: rec, tr: tp.Tracer("test")}
}

// verify calls Verify under a request span of its own and returns that span
// once ended.
func (c *tracedCache) verify(t *testing.T, tok string) (sdktrace.ReadOnlySpan, error) {
	ctx, span := c.tr.Start(context.Background(), "request")
	_, err := c.Verify(ctx, tok)
	span.End()
	return span.(sdktrace.ReadOnlySpan), err
}

// spansNamed returns the ended spans called name.
func (c *tracedCache) spansNamed(name string) []sdktrace.ReadOnlySpan {
	return spantest.Named(c.rec.Ended(), name)
}

func outcomeOf(s sdktrace.ReadOnlySpan) string {
	for _, kv := range s.Attributes() {
		if kv.Key == VerifyOutcomeKey {
			return kv.Value.AsString()
		}
	}
	return ""
}

// TestTracingMissThenHit: a miss is one verification span under the
// request's, with its outcome; a hit is an event on the request's span and
// no verification.
func TestTracingMissThenHit(t *testing.T) {
	c := newTracedCache(t, Options{})
	tok := newToken(t, c.clk.Now(), tokenSpec{})
	miss, err := c.verify(t, tok)
	require.NoError(t, err)
	hit, err := c.verify(t, tok)
	require.NoError(t, err)

	vs := c.spansNamed(VerifySpanName)
	require.Len(t, vs, 1)
	assert.Equal(t, miss.SpanContext().SpanID(), vs[0].Parent().SpanID(), "the verification is a child of the request that missed")
	assert.Equal(t, miss.SpanContext().TraceID(), vs[0].SpanContext().TraceID())
	assert.Equal(t, "valid", outcomeOf(vs[0]))
	assert.Equal(t, trace.SpanKindClient, vs[0].SpanKind())
	assert.Empty(t, spantest.EventNames(miss))
	assert.Equal(t, []string{EventHit}, spantest.EventNames(hit))
	spantest.AssertNoToken(t, c.rec.Ended(), tok)
}

// TestTracingRefusal: a refused token's verification says invalid, and its
// next request is a negative hit.
func TestTracingRefusal(t *testing.T) {
	c := newTracedCache(t, Options{})
	tok := newToken(t, c.clk.Now(), tokenSpec{}) + "x" // bad signature
	_, err := c.verify(t, tok)
	require.ErrorIs(t, err, verifier.ErrInvalidToken)
	neg, err := c.verify(t, tok)
	require.ErrorIs(t, err, verifier.ErrInvalidToken)

	vs := c.spansNamed(VerifySpanName)
	require.Len(t, vs, 1)
	assert.Equal(t, "invalid", outcomeOf(vs[0]))
	assert.Equal(t, []string{EventNegativeHit}, spantest.EventNames(neg))
	spantest.AssertNoToken(t, c.rec.Ended(), tok)
}

// TestTracingStale: an answer served stale is an event on the request's
// span; the failed verification says unavailable and is an error.
func TestTracingStale(t *testing.T) {
	c := newTracedCache(t, Options{TTL: time.Minute, StaleIfError: time.Minute})
	tok := newToken(t, c.clk.Now(), tokenSpec{})
	_, err := c.verify(t, tok)
	require.NoError(t, err)
	c.clk.Advance(time.Minute + time.Second)
	c.up.setErr(verifier.ErrUnavailable)
	stale, err := c.verify(t, tok)
	require.NoError(t, err)

	vs := c.spansNamed(VerifySpanName)
	require.Len(t, vs, 2)
	assert.Equal(t, "unavailable", outcomeOf(vs[1]))
	assert.Equal(t, codes.Error, vs[1].Status().Code)
	assert.Equal(t, []string{EventStale}, spantest.EventNames(stale))
}

// TestTracingShared: callers that share a verification get an event each;
// the one verification span is the starter's child.
func TestTracingShared(t *testing.T) {
	c := newTracedCache(t, Options{})
	tok := newToken(t, c.clk.Now(), tokenSpec{})
	joined := joinCounter(c.Cache, 2)
	entered, release := c.up.block()
	defer release()

	var leader, follower sdktrace.ReadOnlySpan
	var wg sync.WaitGroup
	wg.Go(func() { leader, _ = c.verify(t, tok) })
	recv(t, entered)
	recv(t, joined)
	wg.Go(func() { follower, _ = c.verify(t, tok) })
	recv(t, joined)
	release()
	wg.Wait()

	vs := c.spansNamed(VerifySpanName)
	require.Len(t, vs, 1)
	assert.Equal(t, leader.SpanContext().SpanID(), vs[0].Parent().SpanID())
	assert.Empty(t, spantest.EventNames(leader))
	assert.Equal(t, []string{EventShared}, spantest.EventNames(follower))
}

// TestTracingOffByDefault: without a TracerProvider the cache starts no
// span and adds no event to the caller's.
func TestTracingOffByDefault(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	c, _, clk := newTestCache(t, Options{})
	tok := newToken(t, clk.Now(), tokenSpec{})
	for range 2 {
		ctx, span := tp.Tracer("test").Start(context.Background(), "request")
		_, err := c.Verify(ctx, tok)
		require.NoError(t, err)
		span.End()
	}
	spans := rec.Ended()
	require.Len(t, spans, 2, "the test's own spans only")
	for _, s := range spans {
		assert.Empty(t, s.Events())
	}
}

// TestTracingPrecheck: without a cache, each call of the upstream is a
// verification span with its outcome; a token the pre-check refuses makes
// none.
func TestTracingPrecheck(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	clk := newFakeClock()
	up := newUpstream(clk.Now)
	v := Precheck(up, Options{Now: clk.Now, TracerProvider: tp})
	tok := newToken(t, clk.Now(), tokenSpec{})
	ctx, req := tp.Tracer("test").Start(context.Background(), "request")
	_, err := v.Verify(ctx, tok)
	require.NoError(t, err)
	_, err = v.Verify(ctx, badSignature(tok))
	require.ErrorIs(t, err, verifier.ErrInvalidToken)
	_, err = v.Verify(ctx, "not-a-jwt")
	require.ErrorIs(t, err, verifier.ErrInvalidToken)
	up.setErr(verifier.ErrUnavailable)
	_, err = v.Verify(ctx, tok)
	require.ErrorIs(t, err, verifier.ErrUnavailable)
	req.End()

	var outcomes []string
	for _, s := range rec.Ended() {
		if s.Name() == VerifySpanName {
			assert.Equal(t, req.SpanContext().SpanID(), s.Parent().SpanID())
			outcomes = append(outcomes, outcomeOf(s))
		}
	}
	assert.Equal(t, []string{"valid", "invalid", "unavailable"}, outcomes)
	spantest.AssertNoToken(t, rec.Ended(), tok)
}
