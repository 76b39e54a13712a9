package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/propagation"
)

// FastHTTP is the fasthttp engine (github.com/valyala/fasthttp). It serves
// forward-auth mode only for now; proxy mode is refused, so that a
// configuration asking for it fails at start instead of running with fewer
// rules than the net/http engine.
//
// Each request is copied out of fasthttp's pooled memory into a fresh
// *http.Request with its own context.Context and answered by the same
// Middleware.ForwardAuth handler as the net/http engine, so both engines
// apply one set of rules (RFC 6750 answers, 503 with Retry-After, skip
// paths, metrics and logs). Nothing the handler keeps (the user in context,
// the token as singleflight key, the detached upstream call) aliases a
// fasthttp buffer.
func FastHTTP(dp DataPath) (Engine, error) {
	if dp.Mode != ModeForwardAuth {
		return nil, fieldErr("Mode", "%v is not supported by the fasthttp engine yet (use nethttp)", dp.Mode)
	}
	e := &fastEngine{h: dp.Auth.ForwardAuth(), conns: map[net.Conn]struct{}{}, trace: newTracing(dp.TracerProvider)}
	if dp.AccessLog != nil {
		e.h = dp.AccessLog.wrap(e.h)
	}
	lim := dp.Limits
	e.srv = &fasthttp.Server{
		Handler: e.serve,
		// ReadTimeout bounds the whole request read; forward-auth
		// subrequests carry no body, so it is the header bound.
		ReadTimeout: lim.ReadHeaderTimeout,
		IdleTimeout: 120 * time.Second,
		// ReadBufferSize caps the request line and header: over it,
		// fasthttp answers 431.
		ReadBufferSize: lim.MaxHeaderBytes,
		// The handler runs once the header is in, and the body is never
		// read. Known gap: with a Content-Length, fasthttp first blocks
		// to pre-read up to a few KiB of the body, bounded by ReadTimeout,
		// so a refusal may wait for that much body to arrive.
		StreamRequestBody:     true,
		MaxRequestBodySize:    math.MaxInt,
		SecureErrorLogMessage: true,
		NoDefaultServerHeader: true,
		NoDefaultDate:         false,
		CloseOnShutdown:       true,
		Logger:                fastLogger{dp.Logger},
		ConnState:             e.connState,
	}
	return e, nil
}

type fastEngine struct {
	srv   *fasthttp.Server
	h     http.Handler
	trace *tracing // nil: off

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

func (e *fastEngine) connState(c net.Conn, s fasthttp.ConnState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch s {
	case fasthttp.StateNew:
		e.conns[c] = struct{}{}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		delete(e.conns, c)
	}
}

func (e *fastEngine) Serve(ln net.Listener) error {
	return e.srv.Serve(ln)
}

// Shutdown drains: ShutdownWithContext stops accepting and waits for open
// connections, but does not close active ones when ctx ends, so those left
// are closed here.
func (e *fastEngine) Shutdown(ctx context.Context) error {
	err := e.srv.ShutdownWithContext(ctx)
	if err != nil {
		e.mu.Lock()
		for c := range e.conns {
			_ = c.Close()
		}
		e.mu.Unlock()
	}
	return err
}

// serve copies the request into an *http.Request (every string a copy, not
// an alias of fasthttp's buffers) and runs the forward-auth handler on it.
func (e *fastEngine) serve(fc *fasthttp.RequestCtx) {
	r, err := fastRequest(fc)
	if err != nil {
		fc.SetConnectionClose()
		fc.Error("Bad Request", fasthttp.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx, end := e.trace.start(ctx, r.Method, r.URL.Path, propagation.HeaderCarrier(r.Header))
	w := &fastWriter{fc: fc, h: http.Header{}}
	e.h.ServeHTTP(w, r.WithContext(ctx))
	w.WriteHeader(http.StatusOK) // no-op when the handler wrote one
	end(fc.Response.StatusCode())
}

// fastRequest returns a copy of fc's request as an *http.Request without a
// body (an auth subrequest's body is never read).
func fastRequest(fc *fasthttp.RequestCtx) (*http.Request, error) {
	uri := string(fc.Request.Header.RequestURI())
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, err
	}
	r := &http.Request{
		Method:     string(fc.Method()),
		URL:        u,
		RequestURI: uri,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, fc.Request.Header.Len()),
		Host:       string(fc.Host()),
		Body:       http.NoBody,
		RemoteAddr: fc.RemoteAddr().String(),
	}
	if !fc.Request.Header.IsHTTP11() {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
	}
	r.ContentLength = int64(fc.Request.Header.ContentLength())
	if r.ContentLength == -1 || r.ContentLength > 0 {
		// Body bytes may be owed: the refusal closes the connection.
		r.Body = ownedBody{}
	}
	if r.ContentLength < 0 {
		r.ContentLength = -1
	}
	for k, v := range fc.Request.Header.All() {
		name := http.CanonicalHeaderKey(string(k))
		if name == "Host" {
			continue
		}
		r.Header[name] = append(r.Header[name], string(v))
	}
	return r, nil
}

// ownedBody stands for a request body the handler does not read.
type ownedBody struct{}

func (ownedBody) Read([]byte) (int, error) { return 0, fmt.Errorf("gateway: body not available") }
func (ownedBody) Close() error             { return nil }

// fastWriter is the http.ResponseWriter over a fasthttp response.
type fastWriter struct {
	fc    *fasthttp.RequestCtx
	h     http.Header
	wrote bool
}

func (w *fastWriter) Header() http.Header { return w.h }

func (w *fastWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	rh := &w.fc.Response.Header
	for k, vs := range w.h {
		if k == "Connection" {
			for _, v := range vs {
				if v == "close" {
					w.fc.SetConnectionClose()
				}
			}
			continue
		}
		for _, v := range vs {
			rh.Add(k, v)
		}
	}
	if rh.ContentType() != nil && len(w.h["Content-Type"]) == 0 {
		rh.SetContentTypeBytes(nil)
	}
	w.fc.SetStatusCode(status)
}

func (w *fastWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.fc.Write(p)
}

// fastLogger sends fasthttp's own error lines to the gateway's log at warn.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "engine", "fasthttp")
}
