package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// defaultRealm is the realm of the WWW-Authenticate challenges unless
// WithRealm says otherwise.
const defaultRealm = "tokenguard"

// defaultRetryAfter is the Retry-After of a 503 when the upstream named no
// delay, unless WithRetryAfter says otherwise.
const defaultRetryAfter = 2 * time.Second

// An Option configures a Middleware: it sets the Middleware's fields
// directly, before New derives what it needs from them.
type Option func(*Middleware)

// WithLookup sets where tokens are looked for, in order; the first Lookup
// that finds a token wins, and one that finds a malformed credential stops
// the search.
//
// Default: LookupBearer() alone.
func WithLookup(lookups ...Lookup) Option {
	if len(lookups) == 0 {
		panic("middleware: WithLookup needs at least one Lookup")
	}
	for _, l := range lookups {
		if l.kind == 0 {
			panic("middleware: zero Lookup; use LookupBearer, LookupHeader, LookupCookie or LookupQuery")
		}
	}
	lookups = append([]Lookup(nil), lookups...)
	return func(m *Middleware) { m.lookups = lookups }
}

// WithMaxTokenLength sets the longest token accepted, in bytes. A longer one
// makes the request malformed (400) and is never sent to the verifier.
//
// Default: 8 KiB.
func WithMaxTokenLength(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("middleware: max token length %d < 1", n))
	}
	return func(m *Middleware) { m.maxLen = n }
}

// WithCredentialsOptional lets requests without a token through, without a
// user (UserFromContext reports false). A request with a token that is
// malformed, invalid or cannot be verified is still refused.
//
// Default: false; a request without a token gets 401.
func WithCredentialsOptional(optional bool) Option {
	return func(m *Middleware) { m.optional = optional }
}

// WithSkip passes the requests for which skip returns true (health checks,
// say) on to the next handler without authentication and without a user.
// Identity headers are still stripped from them when identity headers are on.
// ForwardAuth applies skip only with
// WithTrustForwardedRequest.
//
// Default: nil; no request is skipped.
func WithSkip(skip func(*http.Request) bool) Option {
	return func(m *Middleware) { m.skip = skip }
}

// WithPreflight passes CORS preflight requests (OPTIONS with an
// Access-Control-Request-Method header) on without authentication: browsers
// never send credentials with a preflight. Turn it on when the CORS handler
// sits behind this middleware; when it sits in front, it answers preflights
// itself and this is not needed. ForwardAuth applies it only with
// WithTrustForwardedRequest.
//
// A preflight passed this way reaches the next handler without a user:
// UserFromContext reports false for it, so a handler behind the middleware
// must not take the absence of a user to mean anything but "not
// authenticated".
//
// Default: false; a preflight needs a token like any other request.
func WithPreflight(pass bool) Option {
	return func(m *Middleware) { m.preflight = pass }
}

// WithRealm sets the realm of the WWW-Authenticate challenges. It panics if
// realm contains a double quote, a backslash or a control character.
//
// Default: "tokenguard".
func WithRealm(realm string) Option {
	for i := 0; i < len(realm); i++ {
		if c := realm[i]; c == '"' || c == '\\' || c < 0x20 || c == 0x7f {
			panic(fmt.Sprintf("middleware: realm %q needs escaping; choose a plainer one", realm))
		}
	}
	return func(m *Middleware) { m.realm = realm }
}

// WithLogger sets the logger of refusals and, at debug level, of every
// decision. Lines carry the outcome, method, path, the verifier's error and
// a token fingerprint (the first 8 hex digits of its SHA-256), never a token.
// Levels: debug for authenticated, anonymous and missing; info for malformed
// and invalid; warn for unavailable.
//
// Default: nil, meaning slog.Default() at the time of each line. Use
// slog.New(slog.DiscardHandler) to silence it.
func WithLogger(l *slog.Logger) Option {
	return func(m *Middleware) { m.log = l }
}

// WithRegisterer registers the counter
// tokenguard_requests_total{outcome="authenticated|anonymous|missing|malformed|invalid|unavailable"}
// with reg. Skipped requests and preflights are not counted. Several
// Middlewares may share one Registerer: they share the counter. New panics
// if reg refuses the counter for another reason.
//
// Default: nil; no metrics.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(m *Middleware) { m.reg = reg }
}

// WithErrorHandler sets the handler that answers refused requests, in the
// Handler and in ForwardAuth.
//
// Default: DefaultErrorHandler.
func WithErrorHandler(h ErrorHandler) Option {
	return func(m *Middleware) { m.onError = h }
}

// WithObserver calls observe with every decision Authenticate makes (the
// Handler's and ForwardAuth's included), after it is counted and logged,
// from the request's goroutine and with the context Authenticate was given.
// Skipped requests and preflights make no decision and are not observed.
// It is for access logs, audit trails and traces that want the outcome and
// the user: d.User is shared and must not be modified, and d.Err is for
// logs, never for clients. observe must be quick; it runs before the
// request goes on.
//
// Default: nil; nothing is called.
func WithObserver(observe func(ctx context.Context, d Decision)) Option {
	return func(m *Middleware) { m.observe = observe }
}

// IdentityHeaders configures the identity headers of WithIdentityHeaders.
type IdentityHeaders struct {
	// Prefix starts the header names, such as "X-Auth-" for X-Auth-User-Id.
	// It must be a valid header name (ValidHeaderName).
	// Default: DefaultIdentityPrefix.
	Prefix string
	// KeepCredential leaves the credential the token came from (the
	// Authorization header, the cookie or the query parameter) on the
	// request, for an upstream that verifies the token again.
	// Default: false; the credential is removed, so the upstream sees the
	// identity headers and never the token.
	KeepCredential bool
}

// WithIdentityHeaders puts the middleware in front of an upstream that reads
// identity from request headers, and the rule is all or nothing: with this
// option, every request first loses the headers the client sent under the
// prefix, however spelled (see IsIdentityHeader), and every authenticated
// request then gets X-Auth-User-Id, X-Auth-Session-Id, X-Auth-Domain-Id,
// X-Auth-Device-Id, X-Auth-Expires and, for a user with custom data,
// X-Auth-User-Data (under the configured prefix), and loses the token's
// credential unless KeepCredential. Without it the middleware changes no
// request header: the user travels in the request context only
// (UserFromContext). It panics if h.Prefix is not a valid header name.
//
// Default: off.
func WithIdentityHeaders(h IdentityHeaders) Option {
	if h.Prefix == "" {
		h.Prefix = DefaultIdentityPrefix
	}
	if !ValidHeaderName(h.Prefix) {
		panic(fmt.Sprintf("middleware: identity header prefix %q is not a header name", h.Prefix))
	}
	return func(m *Middleware) { m.identity, m.prefix, m.hide = true, h.Prefix, !h.KeepCredential }
}

// ValidHeaderName reports whether s is a non-empty RFC 9110 token, the
// syntax of a header name: what WithIdentityHeaders requires of its prefix.
func ValidHeaderName(s string) bool { return validToken(s) }

// WithTrustForwardedRequest makes ForwardAuth apply the skip predicate and
// preflight pass-through to the original request it is asked about, as
// described by X-Forwarded-Method and X-Forwarded-Uri (or X-Original-Method
// and X-Original-URI).
//
// Turn it on only when the proxy in front always overwrites those headers:
// a client that can send its own X-Forwarded-Uri matching a skip rule
// otherwise walks past authentication (CVE-2026-40575 was exactly that).
//
// Default: false; ForwardAuth authenticates every subrequest.
func WithTrustForwardedRequest(trust bool) Option {
	return func(m *Middleware) { m.trustForwarded = trust }
}

// WithRetryAfter sets the Retry-After of a 503 when the upstream named no
// delay. It panics if d is not positive.
//
// Default: 2s.
func WithRetryAfter(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("middleware: retry after %v is not positive", d))
	}
	return func(m *Middleware) { m.retryAfter = d }
}
