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
)

// FastHTTP is the fasthttp engine (github.com/valyala/fasthttp), for both
// modes.
//
// In proxy mode, fastProxy follows the five steps of
// middleware.Middleware.Authenticate over fasthttp's request and forwards
// with a fasthttp.HostClient, under the net/http proxy's header rules.
//
// In forward-auth mode, Middleware.DecideForwardAuth decides each request
// over fastForward, a pooled adapter of fasthttp's request, and its answer
// is written straight into the response: both engines apply the one set of
// forward-auth rules of the middleware package (forwarded method and URI,
// ambiguity fail-closed, skip and preflight only when trusted, identity
// headers always present, RFC 6750 answers, 503 with Retry-After, metrics
// and logs). Only a trusted forwarded request (TrustForwardedURI) is
// copied into an *http.Request, for the skip predicate.
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
		e.watch = fastWatch{auth: dp.Auth, trace: e.trace, access: dp.AccessLog}
		e.fwds.New = func() any { return new(fastForward) }
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
	watch   fastWatch  // forward-auth mode
	fwds    sync.Pool  // *fastForward, forward-auth mode
	proxy   *fastProxy // proxy mode
	trace   *tracing   // nil: off

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
		Body:       http.NoBody, // an auth subrequest's body is never read
		RemoteAddr: fc.RemoteAddr().String(),
	}
	if !fc.Request.Header.IsHTTP11() {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
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

// fastLogger sends fasthttp's own error lines to the gateway's log at warn.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "engine", "fasthttp")
}
