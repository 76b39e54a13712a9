package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenguard/tokenguard/verifier"
)

// Middleware authenticates requests with a Verifier. Build it with New; it
// is safe for concurrent use and holds no per-request state.
type Middleware struct {
	// Set by New's defaults and the options.
	v              verifier.Verifier
	lookups        []Lookup
	maxLen         int
	optional       bool
	skip           func(*http.Request) bool
	preflight      bool
	trustForwarded bool
	realm          string
	log            *slog.Logger // nil: slog.Default()
	reg            prometheus.Registerer
	onError        ErrorHandler
	observe        func(context.Context, Decision) // nil: none
	identity       bool                            // identity headers on: strip them from every request, set them on authenticated ones
	prefix         string                          // of the identity headers
	hide           bool                            // remove the token's credential from authenticated requests; only with identity
	retryAfter     time.Duration
	clientAddrs    bool                 // resolve client addresses and pass them to the verifier
	trusted        []netip.Prefix       // the proxies in front, for client addresses
	tp             trace.TracerProvider // nil: no tracing

	// Derived by New from the above.
	metrics  *metrics // nil: no metrics
	names    identityNames
	refusals refusals
	memo     *identityMemo // identity headers per user; nil when identity headers are off
	tracer   trace.Tracer  // from tp; nil when tracing is off
}

// New returns a Middleware that verifies tokens with v. It panics if v is
// nil, and if an option is invalid.
func New(v verifier.Verifier, opts ...Option) *Middleware {
	if v == nil {
		panic("middleware: nil verifier")
	}
	m := &Middleware{
		v:          v,
		lookups:    []Lookup{LookupBearer()},
		maxLen:     defaultMaxTokenLength,
		realm:      defaultRealm,
		prefix:     DefaultIdentityPrefix,
		retryAfter: defaultRetryAfter,
	}
	for _, opt := range opts {
		opt(m)
	}
	m.names = newIdentityNames(m.prefix)
	m.refusals = newRefusals(m.realm)
	if m.identity {
		m.memo = new(identityMemo)
	}
	if m.onError == nil {
		m.onError = DefaultErrorHandler
	}
	if m.reg != nil {
		m.metrics = newMetrics(m.reg)
	}
	if m.tp != nil {
		m.tracer = m.tp.Tracer(tracerName)
	}
	return m
}

// Handler returns next wrapped in authentication. For every request it first
// deletes the identity headers the client sent (IsIdentityHeader), when
// identity headers are on (WithIdentityHeaders); then it
// passes skipped requests and, if enabled, CORS preflights on as they are;
// then it authenticates (Authenticate). A refused request is answered by the
// ErrorHandler and never reaches next. An allowed one reaches next with its
// user in the context (UserFromContext), and, with identity headers on,
// with them set and (unless kept) its credential removed. An anonymous request reaches
// next unchanged and without a user. It panics if next is nil.
//
//go:noinline
func (m *Middleware) Handler(next http.Handler) http.Handler {
	// Handler is kept out of its callers (go:noinline) so that the closure
	// it returns is compiled in this package, where Request.WithContext is
	// inlined and its copy of the request lands in the request's one
	// context value instead of an allocation of its own; inlined into a
	// large caller, the closure no longer inlines WithContext
	// (TestHitPathAllocations guards it).
	if next == nil {
		panic("middleware: nil next handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.identity {
			m.stripIdentity(r.Header)
		}
		if m.passUnauthenticated(r) {
			next.ServeHTTP(w, r)
			return
		}
		var d Decision
		rc := m.authenticate(r.Context(), httpSource{r}, &d, true)
		if !d.Allowed() {
			m.refuse(w, r, d)
			return
		}
		if d.User == nil {
			next.ServeHTTP(w, r)
			return
		}
		if m.hide {
			applyHide(r, d.Hide)
		}
		if d.Identity != nil {
			if r.Header == nil {
				r.Header = http.Header{} // a hand-built request
			}
			setHeaders(r.Header, d.Identity)
		}
		// rc is the context the verifier saw; with the user set it is the
		// request's one added context value (requestCtx).
		rc.user.Store(d.User)
		rc.req = *r.WithContext(rc)
		next.ServeHTTP(w, &rc.req)
	})
}

// passUnauthenticated reports whether r goes on without authentication: the
// skip predicate holds, or it is a CORS preflight and those pass.
func (m *Middleware) passUnauthenticated(r *http.Request) bool {
	if m.preflight && r.Method == http.MethodOptions && len(r.Header["Access-Control-Request-Method"]) > 0 {
		return true
	}
	return m.skip != nil && m.skip(r)
}

// applyHide removes the token's credential from r as h says.
func applyHide(r *http.Request, h Hide) {
	if h.Header != "" {
		delete(r.Header, h.Header)
	}
	if h.RewriteCookie {
		delete(r.Header, "Cookie")
		if h.Cookie != "" {
			r.Header["Cookie"] = []string{h.Cookie}
		}
	}
	if h.RewriteQuery {
		u := *r.URL
		u.RawQuery = h.RawQuery
		u.ForceQuery = false
		r.URL = &u
		r.Form = nil // parsed again, from the new query, on demand
		// RequestURI is what access logs print; keep it in step.
		if path, _, ok := strings.Cut(r.RequestURI, "?"); ok {
			r.RequestURI = path
			if h.RawQuery != "" {
				r.RequestURI += "?" + h.RawQuery
			}
		}
	}
}

// httpSource is the TokenSource of a net/http request. A struct holding one
// pointer fits an interface without allocation.
type httpSource struct{ r *http.Request }

func (s httpSource) Header(name string) []string { return s.r.Header[name] }
func (s httpSource) RawQuery() string            { return s.r.URL.RawQuery }
func (s httpSource) Method() string              { return s.r.Method }
func (s httpSource) Path() string                { return s.r.URL.Path }
func (s httpSource) Peer() netip.Addr            { return peerOf(s.r) }

// refuse answers the refused request r with the ErrorHandler, at once and
// without reading its body. When body bytes are still owed, the answer
// carries Connection: close and the connection's read deadline is set to
// now, so that net/http closes the connection after the answer instead of
// reading (up to 256 KiB of) the body before and after it, which a client
// sending one byte at a time would stretch for ever. A bodyless request
// keeps its keep-alive connection (a proxy's pool of connections to
// forward-auth depends on it).
func (m *Middleware) refuse(w http.ResponseWriter, r *http.Request, d Decision) {
	answerUnread(w, r, func() { m.onError(w, r, m.Refusal(d)) })
}

// answerUnread runs answer, which writes the answer to r without reading
// its body. When body bytes are still owed, the answer carries
// Connection: close and the connection's read deadline is then set to now
// (see Middleware.refuse).
func answerUnread(w http.ResponseWriter, r *http.Request, answer func()) {
	owed := BodyOwed(r.ContentLength, r.Body != nil && r.Body != http.NoBody)
	if owed {
		w.Header().Set("Connection", "close")
	}
	answer()
	if owed {
		// A writer without a connection (a test recorder) has nothing to cut.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}

// BodyOwed reports whether a request whose Content-Length is contentLength
// (-1 when unknown, as for a chunked body) and that has a body reader still
// owes body bytes the server has not read. An engine answering a refusal
// (step 4 of Authenticate) closes the connection after the answer when it
// does, rather than reading the body first.
func BodyOwed(contentLength int64, hasBody bool) bool {
	return hasBody && contentLength != 0
}

// RequestURI and HTTPRequest make httpSource the ForwardRequest of a
// net/http auth subrequest.
func (s httpSource) RequestURI() string         { return s.r.URL.RequestURI() }
func (s httpSource) HTTPRequest() *http.Request { return s.r }
