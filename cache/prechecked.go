package cache

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokenguard/tokenguard/verifier"
)

// Precheck returns a Verifier that refuses, without calling next, every
// token the cache's local pre-check refuses: not a JWT, not an access token,
// or expired for more than opts.ClockSkew. Everything else goes to next.
//
// It is for deployments that run without a cache (a gateway behind a shared
// HTTP cache, say), so that junk and expired tokens still cost no upstream
// call. Of opts, only ClockSkew, Now and TracerProvider (each call of next a
// VerifySpanName span, as a Cache's misses are) are used. A Cache
// pre-checks on its own; there is no point in stacking the two.
func Precheck(next verifier.Verifier, opts Options) verifier.Verifier {
	if next == nil {
		panic("cache: nil verifier")
	}
	opts = opts.withDefaults()
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	skew := opts.ClockSkew
	var tracer trace.Tracer
	if opts.TracerProvider != nil {
		tracer = opts.TracerProvider.Tracer(tracerName)
	}
	return verifier.VerifierFunc(func(ctx context.Context, token string) (*verifier.User, error) {
		switch {
		case token == "":
			return nil, errEmpty
		case len(token) > maxTokenLen:
			return nil, errTooLong
		}
		if _, _, err := precheck(token, now(), skew); err != nil {
			return nil, err
		}
		if tracer == nil {
			return next.Verify(ctx, token)
		}
		ctx, span := tracer.Start(ctx, VerifySpanName, trace.WithSpanKind(trace.SpanKindClient))
		u, err := next.Verify(ctx, token)
		verifySpan{span}.done(nil, classifyAnswer(u, err), 0)
		return u, err
	})
}

// classifyAnswer classifies an upstream verifier's answer as fetch does, but for
// abandoned calls, which only a Cache's shared flights have.
func classifyAnswer(u *verifier.User, err error) outcome {
	switch {
	case err == nil && u != nil:
		return outcomeValid
	case errors.Is(err, verifier.ErrInvalidToken) && !errors.Is(err, verifier.ErrUnavailable):
		return outcomeInvalid
	}
	return outcomeUnavailable
}
