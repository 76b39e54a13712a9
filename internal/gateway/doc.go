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
// Shutdown(ctx), built by an EngineFunc from a DataPath. NetHTTP is the one
// engine today: an http.Server running the Middleware's Handler around a
// hand-trimmed reverse proxy (proxy.go; cheaper per request than a tuned
// httputil.ReverseProxy, see bench/README.md), or the Middleware's
// ForwardAuth handler. Below that, net/http's server and Transport goroutine
// hand-offs set the floor.
//
// A fasthttp engine is added without copying authentication logic:
//
//  1. write func FastHTTP(dp DataPath) (Engine, error) in its own file
//     (fasthttp.go), with Serve calling fasthttp.Server.Serve(ln) and
//     Shutdown calling ShutdownWithContext;
//  2. adapt *fasthttp.RequestCtx to middleware.TokenSource (four methods:
//     Header, RawQuery, Method, Path; Header must not allocate on the hit
//     path, e.g. by keeping a one-element slice per request);
//  3. in its handler follow the five steps documented on
//     middleware.Middleware.Authenticate with dp.Auth: delete the headers
//     dp.Auth.IsIdentityHeader names, pass requests dp.Skip holds, call
//     Authenticate, answer a refusal with dp.Auth.Refusal(d) (status,
//     WWW-Authenticate, Retry-After, body), else apply d.Hide, set
//     d.Identity and forward with a fasthttp.HostClient, applying the header
//     rules of proxy.go (hop-by-hop, X-Forwarded-*, Connection never
//     dropping identity headers) and its 502 body;
//  4. for forward-auth mode, either return an error (and keep NetHTTP for
//     it; the proxy in front is the bottleneck there) or mount
//     dp.Auth.ForwardAuth() through fasthttpadaptor;
//  5. select it with Config.Engine (a --engine flag in cmd/tokenguard).
//
// Everything above the Engine (verifier, cache, metrics, admin listener,
// readiness, shutdown) is shared. fasthttp stays out of the module's
// dependencies until then.
package gateway
