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

// FastHTTP is the fasthttp engine (github.com/valyala/fasthttp), for both
// modes.
//
// In proxy mode, fastProxy follows the five steps of
// middleware.Middleware.Authenticate over fasthttp's request and forwards
// with a fasthttp.HostClient, under the net/http proxy's header rules.
//
// In forward-auth mode, each request is copied out of fasthttp's pooled
// memory into a fresh *http.Request with its own context.Context and
// answered by the same Middleware.ForwardAuth handler as the net/http
// engine, so both engines apply one set of rules (RFC 6750 answers, 503
// with Retry-After, skip paths, metrics and logs).
//
// Either way nothing that outlives the handler (the user, the token as
// singleflight key, the detached upstream call) aliases a fasthttp buffer.
func FastHTTP(dp DataPath) (Engine, error) {
	e := &fastEngine{conns: map[net.Conn]struct{}{}, trace: newTracing(dp.TracerProvider)}
	switch dp.Mode {
	case ModeProxy:
		e.proxy = newFastProxy(dp, e.trace)
		e.handler = e.proxy.serve
	case ModeForwardAuth:
		e.h = dp.Auth.ForwardAuth()
		if dp.AccessLog != nil {
			e.h = dp.AccessLog.wrap(e.h)
		}
		e.handler = e.serveForwardAuth
	default:
		return nil, fieldErr("Mode", "%v is not supported by the fasthttp engine", dp.Mode)
	}
	lim := dp.Limits
	e.srv = &fasthttp.Server{
		Handler: e.handler,
		// ReadTimeout bounds reading the request line and header; a body
		// the handler reads gets BodyIdleTimeout per read instead
		// (fastBody).
		ReadTimeout: lim.ReadHeaderTimeout,
		IdleTimeout: 120 * time.Second,
		// ReadBufferSize caps the request line and header: over it,
		// fasthttp answers 431.
		ReadBufferSize: lim.MaxHeaderBytes,
		// The handler runs once the header is in; the body streams (no
		// cap: the upstream sets its own) and a refusal never reads it.
		StreamRequestBody:  true,
		MaxRequestBodySize: math.MaxInt,
		// With a Content-Length, fasthttp reads up to MaxRequestBodySize
		// (at most 8 KiB) of the body before the handler runs; a per
		// request limit of 1 makes that one byte, and the body still
		// streams whole (fasthttp applies the limit to the pre-read only).
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{MaxRequestBodySize: 1}
		},
		// Never parse a multipart body before the handler (fasthttp
		// would read it whole, to temporary files).
		DisablePreParseMultipartForm: true,
		SecureErrorLogMessage:        true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		// A tunnel's end closes the client's connection itself (and a
		// revocation must be able to, from another goroutine): fasthttp's
		// hijacked conn ignores Close otherwise.
		KeepHijackedConns: true,
		Logger:            fastLogger{dp.Logger},
		ConnState:         e.connState,
	}
	return e, nil
}

type fastEngine struct {
	srv     *fasthttp.Server
	handler fasthttp.RequestHandler
	h       http.Handler // forward-auth mode
	proxy   *fastProxy   // proxy mode
	trace   *tracing     // nil: off

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
// are closed here, and so are the upstream connections their handlers may
// be waiting on.
func (e *fastEngine) Shutdown(ctx context.Context) error {
	err := e.srv.ShutdownWithContext(ctx)
	if err != nil {
		e.mu.Lock()
		for c := range e.conns {
			_ = c.Close()
		}
		e.mu.Unlock()
		if e.proxy != nil {
			e.proxy.conns.closeAll()
		}
	}
	if e.proxy != nil {
		e.proxy.hc.CloseIdleConnections()
	}
	return err
}

// serveForwardAuth copies the request into an *http.Request (every string a
// copy, not an alias of fasthttp's buffers) and runs the forward-auth
// handler on it.
func (e *fastEngine) serveForwardAuth(fc *fasthttp.RequestCtx) {
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
