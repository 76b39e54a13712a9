// Package spantest records OpenTelemetry spans for tests and reads them
// back: a TracerProvider over an in-memory recorder, a span's attributes
// and event names, and the check that no span carries a token.
package spantest

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Recorder returns a TracerProvider whose ended spans rec holds, shut down
// when the test ends.
func Recorder(tb testing.TB) (tp *sdktrace.TracerProvider, rec *tracetest.SpanRecorder) {
	rec = tracetest.NewSpanRecorder()
	tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tb.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// Attrs returns a span's attributes by key, as strings.
func Attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value.String()
	}
	return m
}

// EventNames returns the names of a span's events, in order.
func EventNames(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, e := range s.Events() {
		out = append(out, e.Name)
	}
	return out
}

// Named returns the spans of spans called name.
func Named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// AssertNoToken fails if an attribute of spans or of their events holds
// tok or any of its dot-separated parts (a JWT's header, claims and
// signature).
func AssertNoToken(tb testing.TB, spans []sdktrace.ReadOnlySpan, tok string) {
	tb.Helper()
	parts := append(strings.Split(tok, "."), tok)
	check := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			for _, p := range parts {
				assert.NotContains(tb, kv.Value.String(), p, "%s: attribute %s", where, kv.Key)
			}
		}
	}
	for _, s := range spans {
		check(s.Name(), s.Attributes())
		for _, e := range s.Events() {
			check(s.Name()+" event "+e.Name, e.Attributes)
		}
	}
}
