package middleware

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the middleware's tracer (its instrumentation scope).
const tracerName = "github.com/tokenguard/tokenguard/middleware"

// Span attributes the middleware sets.
const (
	// OutcomeKey is the attribute holding a decision's Kind.String(), such
	// as "authenticated" or "invalid".
	OutcomeKey = attribute.Key("tokenguard.outcome")
	// enduserIDKey is the OpenTelemetry semantic convention's enduser.id.
	enduserIDKey = attribute.Key("enduser.id")
)

// AuthenticateSpanName is the name of the span Authenticate starts when the
// request's context carries none (see WithTracerProvider).
const AuthenticateSpanName = "tokenguard.authenticate"

// WithTracerProvider turns tracing on, with tracers from tp (an
// OpenTelemetry SDK's, say). Authenticate then records its outcome on the
// request's span, the one in the context it is given
// (trace.SpanContextFromContext): the attribute tokenguard.outcome
// (OutcomeKey, Kind.String()) and, for an authenticated request when
// identity headers are on (WithIdentityHeaders), enduser.id, the user id the
// identity headers carry anyway. A request whose context carries no span (no
// server instrumentation such as otelhttp in front) gets one of its own,
// AuthenticateSpanName, around the decision. The verifier is called with
// that span's context, so a cache (cache.Options.TracerProvider) adds its
// events and its verification span there.
//
// No token, credential, header value or user data other than the id is
// ever put on a span.
//
// Default: nil; tracing off, and Authenticate takes no span from the
// context and starts none.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(m *Middleware) { m.tp = tp }
}

// authenticateTraced is authenticate with tracing on.
func (m *Middleware) authenticateTraced(ctx context.Context, src TokenSource, d *Decision, carry bool) *requestCtx {
	var span trace.Span
	own := !trace.SpanContextFromContext(ctx).IsValid()
	if own {
		ctx, span = m.tracer.Start(ctx, AuthenticateSpanName)
	} else {
		span = trace.SpanFromContext(ctx)
	}
	rc := m.decide(ctx, src, d, carry)
	if span.IsRecording() {
		span.SetAttributes(OutcomeKey.String(d.Kind.String()))
		if d.Kind == KindAuthenticated && d.User != nil && m.identity {
			span.SetAttributes(enduserIDKey.String(d.User.ID))
		}
	}
	if own {
		span.End()
	}
	return rc
}
