package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/tokenguard/tokenguard/internal/buildinfo"
	"github.com/tokenguard/tokenguard/middleware"
)

// A Gateway is one tokenguard process's worth of serving: the data path of
// its Mode and the admin listener. Build it with New, then call Run once.
type Gateway struct {
	cfg    Config
	chain  *chain
	engine Engine
	admin  http.Handler
	certs  *certReloader // the listeners' TLS pair; nil: plain HTTP

	state   atomic.Int32  // stateStarting, stateReady, stateStopping
	ready   chan struct{} // closed on stateStarting -> stateReady
	started atomic.Bool   // Run was called
}

// New validates cfg and builds the gateway: the verifier client, the cache,
// the middleware, the engine and the admin handler. It contacts nothing;
// Run does. A bad field is reported as a *ConfigError.
func New(cfg Config) (*Gateway, error) {
	c, upstream, skips, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	upTLS, err := clientTLSConfig("Upstream", c.UpstreamCAFile, c.UpstreamClientCertFile, c.UpstreamClientKeyFile, c.Now, c.Logger)
	if err != nil {
		return nil, err
	}
	if upTLS != nil && (upstream == nil || upstream.Scheme != "https") {
		return nil, fieldErr("UpstreamCAFile", "the upstream TLS files need an https Upstream")
	}
	ch, err := newChain(c, skips)
	if err != nil {
		if _, ok := errors.AsType[*ConfigError](err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("gateway: %w", err)
	}
	var revoke http.Handler
	switch {
	case len(c.RevokeSecrets) == 0:
	case ch.cache == nil:
		c.Logger.Warn("tokenguard: revoke webhook off: revocations live in the cache, and the cache is off (cache size 0)")
	default:
		opts := []middleware.WebhookOption{middleware.WithWebhookLogger(c.Logger)}
		if c.Now != nil {
			opts = append(opts, middleware.WithWebhookClock(c.Now))
		}
		if c.RevokeTolerance > 0 {
			opts = append(opts, middleware.WithWebhookTolerance(c.RevokeTolerance))
		}
		secrets := make([][]byte, len(c.RevokeSecrets))
		for i, s := range c.RevokeSecrets {
			secrets[i] = []byte(s)
		}
		revoke = middleware.NewRevokeWebhook(ch.revoker(), secrets, opts...)
	}
	if c.Mode == ModeForwardAuth && len(c.TrustedProxies) == 0 {
		c.Logger.Warn("tokenguard: no trusted proxies: every auth subrequest is counted against the proxy's address " +
			"(--max-inflight-per-client); set --trusted-proxies to the proxy's address")
	}
	certs, err := serverCerts(c)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: c, chain: ch, certs: certs, ready: make(chan struct{})}
	g.admin = adminHandler(ch.reg, &g.state, revoke, ch.feed != nil)
	g.engine, err = c.Engine(DataPath{
		Mode:              c.Mode,
		Auth:              ch.auth,
		Skip:              ch.skip,
		Upstream:          upstream,
		UpstreamTLS:       upTLS,
		Limits:            c.limits(),
		KeepClientHeaders: c.KeepClientHeaders,
		Tunnels:           ch.tunnels,
		ProxyMetrics:      ch.proxyM,
		TracerProvider:    c.TracerProvider,
		AccessLog:         ch.access,
		Logger:            c.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: engine: %w", err)
	}
	return g, nil
}

// Ready returns a channel closed once the start-up admin login has
// succeeded, when /readyz starts answering 200.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// AdminHandler returns the admin listener's handler (see adminHandler),
// for serving it elsewhere or testing it without a listener.
func (g *Gateway) AdminHandler() http.Handler { return g.admin }

// Run serves the data path on data and, unless admin is nil, the admin
// handler on admin, and logs in to the Admin API in the background,
// retrying with backoff until it succeeds (then /readyz turns 200).
//
// When ctx ends, Run shuts down gracefully: /readyz turns 503, the data
// listener stops accepting, in-flight requests get up to
// Config.ShutdownTimeout to finish (then their connections are closed),
// and the admin listener closes last. It returns nil after a shutdown
// brought about by ctx, whether or not the drain finished in time, and an
// error if a listener failed first. Run closes both listeners. It must be
// called at most once.
func (g *Gateway) Run(ctx context.Context, data, admin net.Listener) error {
	if !g.started.CompareAndSwap(false, true) {
		panic("gateway: Run called twice")
	}
	log := g.cfg.Logger
	if g.chain.ownHC {
		defer g.chain.client.CloseIdleConnections()
	}
	feedDone := make(chan struct{})
	if g.chain.feed != nil {
		feedCtx, stopFeed := context.WithCancel(context.WithoutCancel(ctx))
		go func() {
			defer close(feedDone)
			_ = g.chain.feed.Run(feedCtx)
		}()
		defer func() { // after the drain: revocations keep arriving until the end
			stopFeed()
			<-feedDone
			_ = g.chain.rdb.Close()
		}()
	} else {
		close(feedDone)
	}

	errc := make(chan error, 2)
	pending := 1
	if g.certs != nil {
		// TLS under the engine's own wrappers: the net/http engine's
		// framingListener then sees each *tls.Conn and leaves it to
		// net/http, which serves HTTP/2 on it when ALPN chose h2.
		data = tls.NewListener(data, serverTLSConfig(g.certs, servesHTTP2(g.engine)))
		if admin != nil {
			admin = tls.NewListener(admin, serverTLSConfig(g.certs, true))
		}
	}
	dataLn := &notifyListener{Listener: data, closed: func() {
		log.Info("tokenguard: stopped accepting connections; draining in-flight requests",
			slog.Duration("timeout", g.cfg.ShutdownTimeout))
	}}
	go func() { errc <- g.engine.Serve(dataLn) }()
	var adminSrv *http.Server
	attrs := []any{slog.String("mode", g.cfg.Mode.String()), slog.String("addr", data.Addr().String())}
	if admin != nil {
		adminSrv = newServer(g.admin, log, g.cfg.limits(), false)
		pending++
		go func() { errc <- serveAdmin(adminSrv, admin) }()
		attrs = append(attrs, slog.String("admin", admin.Addr().String()))
	}
	log.Info("tokenguard: listening", append(attrs, buildinfo.Read().LogArgs()...)...)

	loginCtx, stopLogin := context.WithCancel(ctx)
	defer stopLogin()
	loginDone := make(chan struct{})
	go func() {
		defer close(loginDone)
		err := loginWithRetry(loginCtx, g.chain.client.Login, g.cfg.Backoff, log)
		if err != nil {
			return
		}
		if f := g.chain.feed; f != nil {
			// A replica that never loaded the shared revocations knows none
			// of them: it must not serve.
			select {
			case <-f.Loaded():
			case <-loginCtx.Done():
				return
			}
		}
		if g.state.CompareAndSwap(stateStarting, stateReady) {
			close(g.ready)
			if g.chain.feed != nil {
				log.Info("tokenguard: ready: logged in to the Admin API; shared revocations loaded")
			} else {
				log.Info("tokenguard: ready: logged in to the Admin API")
			}
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		pending--
		if err == nil {
			err = errors.New("listener closed")
		}
		runErr = fmt.Errorf("gateway: serve: %w", err)
	}
	g.state.Store(stateStopping)
	stopLogin()
	<-loginDone

	log.Info("tokenguard: shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShutdownTimeout)
	defer cancel()
	if err := g.engine.Shutdown(sctx); err != nil {
		log.Warn("tokenguard: drain timed out; closed the connections left",
			slog.Duration("timeout", g.cfg.ShutdownTimeout))
	}
	if adminSrv != nil {
		if err := adminSrv.Shutdown(sctx); err != nil {
			_ = adminSrv.Close()
		}
	}
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && runErr == nil {
			runErr = fmt.Errorf("gateway: serve: %w", err)
		}
	}
	log.Info("tokenguard: stopped")
	return runErr
}

// servesHTTP2 reports whether e serves HTTP/2 on a TLS connection whose
// ALPN chose h2; only then is h2 offered.
func servesHTTP2(e Engine) bool {
	h, ok := e.(interface{ servesHTTP2() bool })
	return ok && h.servesHTTP2()
}

func serveAdmin(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(framingListener{ln}); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// notifyListener calls closed the first time it is closed: that is when
// the engine stops accepting.
type notifyListener struct {
	net.Listener
	once   sync.Once
	closed func()
}

func (l *notifyListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(l.closed)
	return err
}
