// Package middleware authenticates HTTP requests with App Services access
// tokens: a net/http middleware, a forward-auth handler for reverse proxies,
// and a webhook that revokes a user's cached tokens.
//
// # Library mode
//
// Wrap a handler and read the user from the request context:
//
//	m := middleware.New(v) // v is a verifier.Verifier, such as a cache over an appservices.Client
//	mux.Handle("/api/", m.Handler(api))
//
//	func api(w http.ResponseWriter, r *http.Request) {
//		u, _ := middleware.UserFromContext(r.Context())
//		...
//	}
//
// A request without a token gets 401, one with unreadable credentials 400, one
// whose token the verifier refuses (invalid, expired, revoked) 401, and one
// whose token cannot be verified right now 503 with Retry-After: an outage of
// App Services never logs users out, and no error lets a request through.
// Answers carry a WWW-Authenticate Bearer challenge (RFC 6750) where one
// applies and a small JSON body; upstream detail goes to the log only, and no
// log line or answer ever contains a token.
//
// Library mode sets no header and leaves the request's headers as the client
// sent them: handlers read the user from the context, never from headers.
//
// # Identity headers
//
// WithIdentityHeaders suits a proxy in front of an upstream that trusts it,
// and its rule is all or nothing: every request, authenticated or not, first
// loses the X-Auth-* headers its client sent, however spelled
// (IsIdentityHeader); each authenticated request then goes on with
// X-Auth-User-Id, X-Auth-Session-Id, X-Auth-Domain-Id, X-Auth-Device-Id,
// X-Auth-Expires and X-Auth-User-Data set by the middleware, and without the
// credential its token came in (unless KeepCredential). Only the middleware
// can set those headers.
//
// ForwardAuth answers the auth subrequests of nginx, Traefik, Caddy or Envoy
// with 200 and those headers, or with the refusal. NewRevokeWebhook lets a
// trusted party revoke a user's tokens in a cache at once.
//
// # Tracing
//
// WithTracerProvider records each decision on the request's OpenTelemetry
// span (tokenguard.outcome, and enduser.id where identity headers carry the
// user id), starting a span of its own when the request has none, and passes
// that span's context to the verifier, where a cache adds its verification
// span and events. Only the OpenTelemetry trace API is used; no token goes on
// a span.
//
// # Where tokens come from
//
// By default the Authorization header's Bearer credentials (LookupBearer);
// WithLookup adds or replaces headers, cookies and query parameters, tried in
// order. The verifier checks the token's characters (verifier.CheckSyntax);
// a credential it calls malformed gets 400.
//
// # Other HTTP engines
//
// The decision itself knows nothing of net/http. Middleware.Authenticate
// takes a TokenSource, four accessors over any engine's request, and returns
// a Decision: the user or the kind of refusal, the identity headers to set,
// and how to hide the credential. Middleware.Refusal turns a refusal into
// status, headers and body, and IsIdentityHeader says which headers to strip.
// An adapter for another engine (fasthttp, say) follows the five steps in the
// documentation of Authenticate and copies no authentication logic; Handler
// and ForwardAuth are such adapters for net/http. For auth subrequests,
// Middleware.DecideForwardAuth takes a ForwardRequest (a TokenSource plus the
// subrequest's own target and, for the skip rules, an *http.Request) and
// returns a ForwardAnswer: the identity headers of a 200, or the Refusal.
//
// # Performance
//
// On the hit path (Bearer token, a verifier that answers from memory, identity
// headers off) the Handler allocates once: one context value, which also
// holds the copy of the request that Request.WithContext makes (inlined, its
// own allocation does not happen). The context value also carries the
// client address for the verifier (WithClientAddress), so that costs
// nothing more. Reading the token,
// counting the metric and skipping a disabled log line allocate nothing.
package middleware
