package middleware

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenguard/tokenguard/internal/spantest"
	"github.com/tokenguard/tokenguard/verifier"
)

// TestTracingOwnSpan: a request whose context carries no span gets the
// middleware's own, with the outcome and, with identity headers on, the user
// id of an authenticated request only; no token anywhere.
func TestTracingOwnSpan(t *testing.T) {
	tp, rec := spantest.Recorder(t)
	m := newTest(WithTracerProvider(tp), WithIdentityHeaders(IdentityHeaders{}))
	serve(m, bearerRequest("/a", goodToken))
	serve(m, bearerRequest("/b", invalidToken))
	m.ForwardAuth().ServeHTTP(httptest.NewRecorder(), bearerRequest("/c", ""))

	spans := rec.Ended()
	require.Len(t, spans, 3)
	for _, s := range spans {
		assert.Equal(t, AuthenticateSpanName, s.Name())
	}
	assert.Equal(t, map[attribute.Key]string{OutcomeKey: "authenticated", "enduser.id": "user-1"}, spantest.Attrs(spans[0]))
	assert.Equal(t, map[attribute.Key]string{OutcomeKey: "invalid"}, spantest.Attrs(spans[1]), "no user id on a refused request")
	assert.Equal(t, map[attribute.Key]string{OutcomeKey: "missing"}, spantest.Attrs(spans[2]))
	spantest.AssertNoToken(t, spans, goodToken)
	spantest.AssertNoToken(t, spans, invalidToken)
}

// TestTracingRequestSpan: a request that arrives with a span (a server's)
// gets the outcome on that span and no span of the middleware's; without
// identity headers no user id, which no header would carry either. The
// verifier sees the request's span.
func TestTracingRequestSpan(t *testing.T) {
	tp, rec := spantest.Recorder(t)
	ctx, server := tp.Tracer("test").Start(context.Background(), "GET")
	var verifierSpan trace.SpanContext
	m := New(verifier.VerifierFunc(func(ctx context.Context, tok string) (*verifier.User, error) {
		verifierSpan = trace.SpanContextFromContext(ctx)
		return fakeVerifier()(ctx, tok)
	}), WithLogger(quiet), WithTracerProvider(tp))

	req := bearerRequest("/", goodToken)
	_, s := serve(m, req.WithContext(ctx))
	require.True(t, s.called)
	server.End()

	spans := rec.Ended()
	require.Len(t, spans, 1, "the server's span only")
	assert.Equal(t, map[attribute.Key]string{OutcomeKey: "authenticated"}, spantest.Attrs(spans[0]))
	assert.Equal(t, server.SpanContext(), verifierSpan)
}

// TestTracingOff: without WithTracerProvider a span in the context is left
// alone.
func TestTracingOff(t *testing.T) {
	tp, rec := spantest.Recorder(t)
	m := newTest(WithIdentityHeaders(IdentityHeaders{}))
	ctx, server := tp.Tracer("test").Start(context.Background(), "GET")
	serve(m, bearerRequest("/", goodToken).WithContext(ctx))
	server.End()
	require.Len(t, rec.Ended(), 1)
	assert.Empty(t, rec.Ended()[0].Attributes())
}
