// Package gateway assembles the tokenguard process: `tokenguard proxy` and
// `tokenguard forward-auth` are a Config, New and Run.
//
// # Assembly
//
// New builds, top-down, the request path of package middleware's doc:
//
//	appservices.Client (Admin API)
//	  -> cache.Cache (unless Config.CacheSize is 0; registered with the
//	     client's OnRevoke once both exist)
//	    -> middleware.Middleware with identity headers (credentials hidden
//	       unless Config.PassToken, skip paths)
//	      -> the Engine of the data listener
//
// and one prometheus.Registry of its own (never the global one) with the
// process and Go collectors, the middleware's and the cache's metrics.
//
// Run serves the data listener and the admin listener:
//
//	GET  /metrics  that registry
//	GET  /healthz  200 while the process runs
//	GET  /readyz   200 once the start-up Admin API login succeeded, until shutdown begins; 503 otherwise
//	POST /revoke   the revoke webhook (middleware.NewRevokeWebhook) over the cache when
//	               Config.RevokeSecrets is set; 404 otherwise
//
// The start-up login retries with capped exponential backoff and jitter
// (Backoff) until it succeeds or Run's context ends; requests are served
// meanwhile (the client logs in on demand as well). When the context ends,
// Run drains: /readyz turns 503, the data listener closes, in-flight
// requests get Config.ShutdownTimeout to finish, and Run returns nil.
//
// # Engines
//
// The data path sits behind Engine, a server with Serve(ln) and
// Shutdown(ctx), built by an EngineFunc from a DataPath (EngineNamed maps
// the --engine flag to one). NetHTTP, the default, is an http.Server running
// the Middleware's Handler around a hand-trimmed reverse proxy (proxy.go;
// cheaper per request than a tuned httputil.ReverseProxy, see
// bench/README.md), or the Middleware's ForwardAuth handler. Below that,
// net/http's server and Transport goroutine hand-offs set the floor.
//
// FastHTTP (fasthttp.go) serves both modes on github.com/valyala/fasthttp.
// In forward-auth mode middleware.Middleware.DecideForwardAuth, which holds
// the forward-auth rules of both engines, decides over a pooled adapter of
// the request (fastforward.go) and the answer goes straight into the
// response. In proxy mode (fastproxy.go) a TokenSource over the request
// (fastsource.go) follows the five steps of
// middleware.Middleware.Authenticate, and a fasthttp.HostClient forwards
// under the same header rules as proxy.go (dropsRequestHeader is the one
// list); bodies stream both ways and WebSocket upgrades are tunnelled
// (fastupgrade.go). Nothing that outlives a request aliases pooled memory.
//
// Everything above the Engine (verifier, cache, metrics, admin listener,
// readiness, shutdown) is shared.
//
// # Tracing
//
// With Config.TracerProvider set, tracing.go's engine-neutral start (a
// request's method, path and a header carrier in; the span's context and an
// end(status) out) gives each data-path request a server span continuing
// the client's W3C traceparent: NetHTTP wraps its handler in it once, FastHTTP
// calls it around its handler, and proxy mode sends the span's traceparent
// upstream in place of the client's. The same provider goes to the
// Middleware (the outcome and enduser.id on that span) and the cache (the
// verification span and the hit, stale and shared events). Without one every
// engine runs as it did: NetHTTP's handler is not wrapped.
package gateway
