package middleware_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tokenguard/tokenguard/middleware"
)

// ExampleWithTracerProvider records each decision on an OpenTelemetry span.
// Behind server instrumentation (otelhttp, say) the outcome goes on the
// request's span; here the request has none, so the middleware starts its
// own. A real program passes the TracerProvider of its SDK and exporter.
func ExampleWithTracerProvider() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()

	m := middleware.New(fakeVerifier(),
		middleware.WithLogger(slog.New(slog.DiscardHandler)),
		middleware.WithTracerProvider(tp),
	)
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tok := range []string{"good-token", "bad-token"} {
		req := httptest.NewRequest(http.MethodGet, "/hello", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	for _, s := range rec.Ended() {
		for _, kv := range s.Attributes() {
			fmt.Printf("%s: %s=%s\n", s.Name(), kv.Key, kv.Value.AsString())
		}
	}
	// Output:
	// tokenguard.authenticate: tokenguard.outcome=authenticated
	// tokenguard.authenticate: tokenguard.outcome=invalid
}
