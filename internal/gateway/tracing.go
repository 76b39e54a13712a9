package gateway

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the data path's tracer (its instrumentation scope).
const tracerName = "github.com/tokenguard/tokenguard/internal/gateway"

// The HTTP server span attributes of the OpenTelemetry semantic conventions
// (https://opentelemetry.io/docs/specs/semconv/http/http-spans/).
const (
	attrMethod         = attribute.Key("http.request.method")
	attrMethodOriginal = attribute.Key("http.request.method_original")
	attrPath           = attribute.Key("url.path")
	attrStatus         = attribute.Key("http.response.status_code")
	attrErrorType      = attribute.Key("error.type")
)

// tracing is the data path's tracing: a server span per request, continuing
// the client's W3C traceparent, and that span's traceparent on the request
// to the upstream. A nil *tracing is tracing off: its methods do nothing,
// and the engines decide it once, when they are built.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TraceContext
}

// newTracing returns the tracing of tp, nil (off) when tp is nil.
func newTracing(tp trace.TracerProvider) *tracing {
	if tp == nil {
		return nil
	}
	return &tracing{tracer: tp.Tracer(tracerName)}
}

// endNothing is the end of a request that is not traced.
func endNothing(int) {}

// start starts the server span of one request under ctx, continuing the
// trace of the traceparent and tracestate headers that headers holds, and
// returns the span's context and the function that ends it with the status
// of the answer. It is engine-neutral: an engine passes its request's method
// and path (without the query, which may carry a token; the span keeps both
// strings, so they must not alias memory reused later) and a carrier over
// its request headers, and calls end once it has answered.
//
// The span is named after the method alone, as the semantic conventions ask
// of a server without routes. It carries the method, the path and the
// status; the middleware adds the outcome and, where identity headers carry
// it, the user id. No header value goes on it.
func (t *tracing) start(ctx context.Context, method, path string, headers propagation.TextMapCarrier) (_ context.Context, end func(status int)) {
	if t == nil {
		return ctx, endNothing
	}
	ctx = t.prop.Extract(ctx, headers)
	name, attrs := methodAttrs(method)
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(append(attrs, attrPath.String(path))...))
	return ctx, func(status int) {
		if status != 0 { // 0: no answer written (the client left, or the connection was hijacked)
			span.SetAttributes(attrStatus.Int(status))
		}
		if status >= 500 {
			// A server's span is an error for a 5xx only.
			span.SetAttributes(attrErrorType.String(strconv.Itoa(status)))
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}
}

// methodAttrs returns the span name and method attributes of method: a
// method the HTTP RFCs define names the span, any other is "_OTHER" with the
// original beside it, and the span is named "HTTP".
func methodAttrs(method string) (string, []attribute.KeyValue) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method, []attribute.KeyValue{attrMethod.String(method)}
	}
	return "HTTP", []attribute.KeyValue{attrMethod.String("_OTHER"), attrMethodOriginal.String(method)}
}

// inject sets on h, the headers of a request to the upstream, the
// traceparent (and tracestate) of ctx's span, replacing the client's: the
// upstream's spans are children of the gateway's, not of the client's.
func (t *tracing) inject(ctx context.Context, h http.Header) {
	if t == nil {
		return
	}
	delete(h, "Traceparent")
	delete(h, "Tracestate")
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// handler wraps h, a net/http data-path handler, in start and end.
func (t *tracing) handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, end := t.start(r.Context(), r.Method, r.URL.Path, propagation.HeaderCarrier(r.Header))
		sw := &statusWriter{ResponseWriter: w}
		defer func() { end(sw.status) }() // a panic (http.ErrAbortHandler) ends it too
		h.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// statusWriter remembers the status of the answer it writes. Unwrap lets
// http.ResponseController (flushes, hijacks, deadlines) reach the
// connection's own writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
