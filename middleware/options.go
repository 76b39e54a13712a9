package middleware

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRealm is the realm of the WWW-Authenticate challenges unless
// WithRealm says otherwise.
const DefaultRealm = "tokenguard"

// DefaultRetryAfter is the Retry-After of a 503 when the upstream named no
// delay, unless WithRetryAfter says otherwise.
const DefaultRetryAfter = 2 * time.Second

// An Option configures a Middleware.
type Option func(*options)

type options struct {
	lookups        []Lookup
	maxLen         int
	optional       bool
	skip           func(*http.Request) bool
	preflight      bool
	trustForwarded bool
	realm          string
	logger         *slog.Logger
	reg            prometheus.Registerer
	onError        ErrorHandler
	identity       bool
	prefix         string
	hide           *bool // nil: follow identity
	strip          bool  // strip identity headers even with identity off
	retryAfter     time.Duration
}

func defaultOptions() options {
	return options{
		lookups:    []Lookup{LookupBearer()},
		maxLen:     DefaultMaxTokenLength,
		realm:      DefaultRealm,
		prefix:     DefaultIdentityPrefix,
		retryAfter: DefaultRetryAfter,
	}
}

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
	return func(o *options) { o.lookups = lookups }
}

// WithMaxTokenLength sets the longest token accepted, in bytes. A longer one
// makes the request malformed (400) and is never sent to the verifier.
//
// Default: DefaultMaxTokenLength (8 KiB).
func WithMaxTokenLength(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("middleware: max token length %d < 1", n))
	}
	return func(o *options) { o.maxLen = n }
}

// WithCredentialsOptional lets requests without a token through, without a
// user (UserFromContext reports false). A request with a token that is
// malformed, invalid or cannot be verified is still refused.
//
// Default: false; a request without a token gets 401.
func WithCredentialsOptional(optional bool) Option {
	return func(o *options) { o.optional = optional }
}

// WithSkip passes the requests for which skip returns true (health checks,
// say) on to the next handler without authentication and without a user.
// Identity headers are still stripped from them, when stripping is on
// (StripsIdentityHeaders). ForwardAuth applies skip only with
// WithTrustForwardedRequest.
//
// Default: nil; no request is skipped.
func WithSkip(skip func(*http.Request) bool) Option {
	return func(o *options) { o.skip = skip }
}

// WithPreflight passes CORS preflight requests (OPTIONS with an
// Access-Control-Request-Method header) on without authentication: browsers
// never send credentials with a preflight. Turn it on when the CORS handler
// sits behind this middleware; when it sits in front, it answers preflights
// itself and this is not needed. ForwardAuth applies it only with
// WithTrustForwardedRequest.
//
// Default: false; a preflight needs a token like any other request.
func WithPreflight(pass bool) Option {
	return func(o *options) { o.preflight = pass }
}

// WithRealm sets the realm of the WWW-Authenticate challenges. It panics if
// realm contains a double quote, a backslash or a control character.
//
// Default: DefaultRealm ("tokenguard").
func WithRealm(realm string) Option {
	for i := 0; i < len(realm); i++ {
		if c := realm[i]; c == '"' || c == '\\' || c < 0x20 || c == 0x7f {
			panic(fmt.Sprintf("middleware: realm %q needs escaping; choose a plainer one", realm))
		}
	}
	return func(o *options) { o.realm = realm }
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
	return func(o *options) { o.logger = l }
}

// WithRegisterer registers the counter
// tokenguard_requests_total{outcome="authenticated|anonymous|missing|malformed|invalid|unavailable"}
// with reg. Skipped requests and preflights are not counted. Several
// Middlewares may share one Registerer: they share the counter. New panics
// if reg refuses the counter for another reason.
//
// Default: nil; no metrics.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.reg = reg }
}

// WithErrorHandler sets the handler that answers refused requests, in the
// Handler and in ForwardAuth.
//
// Default: DefaultErrorHandler.
func WithErrorHandler(h ErrorHandler) Option {
	return func(o *options) { o.onError = h }
}

// WithIdentityHeaders sets the identity headers (X-Auth-User-Id,
// X-Auth-Session-Id, X-Auth-Domain-Id, X-Auth-Device-Id, X-Auth-Expires and
// X-Auth-User-Data, with the given prefix) on each authenticated request
// before it goes on, for an upstream that reads identity from headers. An
// empty prefix means DefaultIdentityPrefix. It also turns hiding credentials
// on unless WithHideCredentials says otherwise. It panics if prefix is not a
// valid header name.
//
// The client's own headers under the prefix, however spelled, are stripped
// from every request first (see IsIdentityHeader), so that only this
// middleware can set them.
//
// Default: off; prefix DefaultIdentityPrefix ("X-Auth-").
func WithIdentityHeaders(prefix string) Option {
	if prefix == "" {
		prefix = DefaultIdentityPrefix
	}
	if !ValidHeaderName(prefix) {
		panic(fmt.Sprintf("middleware: identity header prefix %q is not a header name", prefix))
	}
	return func(o *options) { o.identity, o.prefix = true, prefix }
}

// ValidHeaderName reports whether s is a non-empty RFC 9110 token, the
// syntax of a header name: what WithIdentityHeaders requires of its prefix.
func ValidHeaderName(s string) bool { return validToken(s) }

// WithStripIdentityHeaders strips the identity headers clients send (every
// name IsIdentityHeader holds for) from every request even with identity
// headers off: for a library-mode app with code that reads such headers, or
// that passes requests on to a service that trusts them. With identity
// headers on (WithIdentityHeaders, WithGatewayMode) they are always stripped;
// nothing turns that off.
//
// Default: off in library mode, where tokenguard sets no header, the user
// travels in the request context (UserFromContext), and request headers are
// left as the client sent them.
func WithStripIdentityHeaders() Option {
	return func(o *options) { o.strip = true }
}

// WithHideCredentials removes the credential a token came from before an
// authenticated request goes on: the Authorization (or LookupHeader) header,
// the one cookie (the Cookie header is rewritten without it), or the one
// query parameter (the raw query is rewritten without it). Other credentials
// are left alone.
//
// Default: on when identity headers are on (WithIdentityHeaders,
// WithGatewayMode), off otherwise.
func WithHideCredentials(hide bool) Option {
	return func(o *options) { o.hide = &hide }
}

// WithGatewayMode configures the middleware for a gateway in front of an
// upstream that trusts it: identity headers on (with the prefix set by
// WithIdentityHeaders, if any) and credentials hidden. Later options may
// override either.
//
// Default: off (library mode: the user travels in the request context only).
func WithGatewayMode() Option {
	return func(o *options) {
		hide := true
		o.identity, o.hide = true, &hide
	}
}

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
	return func(o *options) { o.trustForwarded = trust }
}

// WithRetryAfter sets the Retry-After of a 503 when the upstream named no
// delay. It panics if d is not positive.
//
// Default: DefaultRetryAfter (2s).
func WithRetryAfter(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("middleware: retry after %v is not positive", d))
	}
	return func(o *options) { o.retryAfter = d }
}
