package gateway

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/url"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokenguard/tokenguard/middleware"
)

// An Engine is the HTTP server of the data path. The gateway calls Serve
// once, from its own goroutine, and Shutdown once when its context ends.
//
// Serve accepts connections on ln until Shutdown and then returns nil; any
// other return is a failure that ends the gateway. Shutdown stops accepting
// (closing ln), waits for in-flight requests to finish or ctx to end, then
// closes what is left and returns ctx.Err() if it had to.
type Engine interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// An EngineFunc builds the Engine of a DataPath. It returns an error for a
// mode it does not support.
type EngineFunc func(dp DataPath) (Engine, error)

// DataPath is everything an engine needs, none of it tied to net/http but
// Skip, whose net/http form the Middleware already applies.
type DataPath struct {
	Mode Mode

	// Auth decides each request. An engine other than net/http adapts its
	// own request type to middleware.TokenSource and follows the five steps
	// documented on Middleware.Authenticate: strip identity headers
	// (IsIdentityHeader; the gateway's middleware always has identity
	// headers on), pass skipped requests (Skip), Authenticate,
	// answer a refusal with Refusal(d), else apply d.Hide and d.Identity and
	// forward. In forward-auth mode it calls DecideForwardAuth over a
	// middleware.ForwardRequest and writes the ForwardAnswer.
	Auth *middleware.Middleware

	// Skip reports whether a request path goes on without authentication,
	// given the path and whether its raw form differs from the decoded one
	// (url.URL.RawPath != ""); nil when nothing is skipped.
	Skip func(path string, escaped bool) bool

	// Upstream is where proxy mode forwards; nil in forward-auth mode.
	Upstream *url.URL

	// UpstreamTLS, if not nil, is the TLS configuration of the connections
	// to an https Upstream (Config.UpstreamCAFile and the client
	// certificate); nil: the system roots, no client certificate.
	UpstreamTLS *tls.Config

	// KeepClientHeaders are the canonical names of the URL-override and
	// client-identity headers proxy mode lets through (Config.KeepClientHeaders);
	// every other one of them is dropped.
	KeepClientHeaders []string

	// Limits bound how a request may arrive; the engine applies them to
	// the data listener.
	Limits Limits
	// Tunnels, in proxy mode, is where an engine registers each upgraded
	// connection (WebSocket) of an authenticated user, so that it is closed
	// when the user is revoked or the token expires (see Tunnels.Open).
	Tunnels *Tunnels
	// ProxyMetrics, in proxy mode, is where an engine observes each
	// forwarded request (ProxyMetrics.Observe); nil in forward-auth mode.
	ProxyMetrics *ProxyMetrics
	// AccessLog, if not nil, is where an engine logs each request it
	// answers (AccessLog.Begin, then AccessLog.End once answered); the
	// Middleware already reports its decisions to it.
	AccessLog *AccessLog

	// TracerProvider, if not nil, turns tracing on: an engine starts each
	// request's server span with the engine-neutral start of tracing.go,
	// and proxy mode sends that span's traceparent upstream. Nil: off.
	TracerProvider trace.TracerProvider

	Logger *slog.Logger
}
