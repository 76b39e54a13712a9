package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// NetHTTP is the net/http engine: an http.Server whose handler is the
// Middleware around the hand-trimmed proxy (proxy mode) or the Middleware's
// ForwardAuth handler (forward-auth mode).
func NetHTTP(dp DataPath) (Engine, error) {
	var h http.Handler
	var p *proxy
	tr := newTracing(dp.TracerProvider)
	switch dp.Mode {
	case ModeProxy:
		p = newProxy(dp.Upstream, dp.Auth.IsIdentityHeader, dp.Logger)
		p.trace = tr
		p.clientAddr = dp.Auth.HTTPClientAddr
		p.keep = dp.KeepClientHeaders
		p.tunnels = dp.Tunnels
		p.metrics = dp.ProxyMetrics
		if dp.UpstreamTLS != nil {
			p.transport.TLSClientConfig = dp.UpstreamTLS
		}
		h = dp.Auth.Handler(p)
	case ModeForwardAuth:
		h = dp.Auth.ForwardAuth()
	default:
		return nil, fieldErr("Mode", "%v is not supported by the net/http engine", dp.Mode)
	}
	if dp.AccessLog != nil {
		h = dp.AccessLog.wrap(h)
	}
	return &netHTTPEngine{srv: newServer(tr.handler(h), dp.Logger, dp.Limits, true), proxy: p}, nil
}

type netHTTPEngine struct {
	srv   *http.Server
	proxy *proxy // nil in forward-auth mode
}

// servesHTTP2: net/http serves h2 on the *tls.Conn connections of a TLS
// listener, with the same handler (identity headers stripped alike) and
// MaxHeaderBytes as the header list limit.
func (e *netHTTPEngine) servesHTTP2() bool { return true }

func (e *netHTTPEngine) Serve(ln net.Listener) error {
	if err := e.srv.Serve(framingListener{ln}); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func (e *netHTTPEngine) Shutdown(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	if err != nil {
		_ = e.srv.Close() // the drain ran out of time: cut what is left
	}
	if e.proxy != nil {
		e.proxy.transport.CloseIdleConnections()
	}
	return err
}

// newServer returns the http.Server of a data or admin listener, bounded by
// lim. It sets no read or write timeout, which would cut long uploads,
// downloads and event streams (and, through net/http's background read,
// cancel a request still being answered), but a bound on reading the request
// header (slowloris), a cap on its size (431 over it), a bound on each wait
// for more of a request's body (bodyDeadline: idle on the data listener,
// whole on the admin one), and one on idle keep-alive connections. Its own
// error lines (TLS handshakes, accept retries) go to log at warn. Served
// through a framingListener, it closes the connection after answering a
// request with both Content-Length and Transfer-Encoding (framing.go).
func newServer(h http.Handler, log *slog.Logger, lim Limits, data bool) *http.Server {
	return &http.Server{
		Handler:           closeAmbiguous(bodyDeadline(h, lim.BodyIdleTimeout, data)),
		ConnContext:       framingConnContext,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// bodyDeadline wraps h so that a request with a body gets a read deadline
// of timeout from when its handler starts; when extend is set, each read of
// the body that brings bytes pushes it back by timeout. The deadline is
// lifted when the body ends, since net/http's read of the idle connection
// behind a finished body would otherwise cancel a long answer (a download,
// an event stream). It also bounds net/http's discard of a body its handler
// left unread. A bodyless request is left as it is.
func bodyDeadline(h http.Handler, timeout time.Duration, extend bool) http.Handler {
	if timeout <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(timeout)); err == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: timeout, extend: extend}
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody is a request body under bodyDeadline.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	extend  bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case n > 0 && b.extend:
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	return n, err
}
