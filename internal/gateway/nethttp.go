package gateway

import (
	"context"
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
	switch dp.Mode {
	case ModeProxy:
		p = newProxy(dp.Upstream, dp.Auth.IsIdentityHeader, dp.Logger)
		p.tunnels = dp.Tunnels
		h = dp.Auth.Handler(p)
	case ModeForwardAuth:
		h = dp.Auth.ForwardAuth()
	default:
		return nil, fieldErr("Mode", "%v is not supported by the net/http engine", dp.Mode)
	}
	return &netHTTPEngine{srv: newServer(h, dp.Logger), proxy: p}, nil
}

type netHTTPEngine struct {
	srv   *http.Server
	proxy *proxy // nil in forward-auth mode
}

func (e *netHTTPEngine) Serve(ln net.Listener) error {
	if err := e.srv.Serve(ln); err != http.ErrServerClosed {
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

// newServer returns the http.Server of a data or admin listener. It sets no
// read or write timeout, which would cut long uploads, downloads and event
// streams, only a bound on reading the request header (slowloris) and on
// idle keep-alive connections. Its own error lines (TLS handshakes, accept
// retries) go to log at warn.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
