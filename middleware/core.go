package middleware

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// A TokenSource gives Authenticate read access to a request without tying it
// to an HTTP engine. The net/http Handler and ForwardAuth wrap an
// *http.Request; an adapter for another engine (fasthttp, say) implements
// these four methods over its own request type. Cookie and query parsing
// stay in this package, so every engine applies the same rules.
//
// Authenticate calls the methods from the goroutine that called it, only
// while it runs.
type TokenSource interface {
	// Header returns every value of the named request header, in the order
	// received, or nil when there is none. name is in canonical form
	// ("Authorization", "Cookie"); an engine whose header lookup ignores case
	// may pass it on as it is. The hit path (a Bearer token) calls only
	// Header("Authorization"); keep it free of allocation.
	Header(name string) []string

	// RawQuery returns the query of the request target, still encoded and
	// without the "?"; "" when there is none.
	RawQuery() string

	// Method and Path describe the request in log lines and are read only
	// when a line is written. Path must not include the query, which may
	// carry a token.
	Method() string
	Path() string

	// Peer returns the address of the connection's other end (the client,
	// or the proxy in front), or the zero Addr when there is none. It is
	// read only with WithClientAddress, which resolves the client address
	// from it and X-Forwarded-For (ClientAddr).
	Peer() netip.Addr
}

// Kind is the outcome of authenticating one request. The zero Kind is
// KindUnavailable, so that a zero Decision refuses.
type Kind uint8

// The outcomes, each with the status of its answer (Kind.Status) and its
// label in the tokenguard_requests_total metric (Kind.String).
const (
	// KindUnavailable: the token could not be verified (the verifier
	// returned verifier.ErrUnavailable, or any error it does not classify as
	// an invalid token). 503 with Retry-After, never 401: an outage must not
	// log users out.
	KindUnavailable Kind = iota
	// KindMissing: no token, and credentials are required. 401.
	KindMissing
	// KindMalformed: the request's credentials cannot be read. 400.
	KindMalformed
	// KindInvalid: the verifier refused the token (verifier.ErrInvalidToken:
	// bad, expired or revoked). 401.
	KindInvalid
	// KindAnonymous: no token, and credentials are optional. The request
	// goes on without a user.
	KindAnonymous
	// KindAuthenticated: the token was verified. The request goes on with
	// its user.
	KindAuthenticated
	// KindTooManyRequests: the client already has as many verifications
	// in progress as it may (verifier.ErrTooManyRequests, from a
	// per-client limit such as limit.PerClient). 429 with Retry-After and
	// no WWW-Authenticate: the token was neither accepted nor refused.
	KindTooManyRequests

	numKinds = iota
)

// kindNames are the metric labels and log values of the kinds.
var kindNames = [numKinds]string{
	KindUnavailable:     "unavailable",
	KindMissing:         "missing",
	KindMalformed:       "malformed",
	KindInvalid:         "invalid",
	KindAnonymous:       "anonymous",
	KindAuthenticated:   "authenticated",
	KindTooManyRequests: "too_many_requests",
}

// String returns the kind's label, such as "invalid".
func (k Kind) String() string {
	if k >= numKinds {
		return "unknown"
	}
	return kindNames[k]
}

// Decision is what Authenticate concluded about one request.
type Decision struct {
	// Kind is the outcome.
	Kind Kind
	// User is the verified user when Kind is KindAuthenticated, nil
	// otherwise. It is shared and must not be modified.
	User *verifier.User
	// Err says why a request is refused: it wraps ErrMissingToken,
	// ErrMalformed, or the verifier's error. It is meant for logs, not for
	// clients; its message never contains the token (a verifier's error
	// that quotes it is rewritten). Nil when allowed.
	Err error
	// RetryAfter is how long a client should wait before retrying when Kind
	// is KindUnavailable or KindTooManyRequests: the delay the error
	// carries (an upstream's Retry-After) when there is one, otherwise the
	// configured default (WithRetryAfter).
	RetryAfter time.Duration
	// Identity holds the identity headers to set on the request before it
	// goes on, when identity headers are on (WithIdentityHeaders) and the
	// request is authenticated; nil otherwise. It is served from a memo
	// shared by every request of the same *verifier.User and must not be
	// modified (append to it copies: its capacity is its length). Set the
	// values on the request as copies, never by handing out a slice of it.
	Identity []Header
	// Hide says how to remove the token's credential from the request when
	// identity headers are on without KeepCredential and the request is
	// authenticated; the zero Hide otherwise.
	Hide Hide
}

// Allowed reports whether the request may go on: authenticated with a user,
// or anonymous where credentials are optional.
func (d Decision) Allowed() bool {
	return d.Kind == KindAuthenticated && d.User != nil || d.Kind == KindAnonymous
}

var errNoUser = errors.New("middleware: verifier returned neither a user nor an error")
var errBadUserID = errors.New("middleware: verifier returned a user with an empty or unprintable id")

// Authenticate decides one request: it finds the token through the
// configured Lookups, verifies it, counts the outcome in the metrics and logs
// it. It is the whole of the authentication logic; the net/http Handler and
// ForwardAuth are thin adapters over it, and another HTTP engine can reuse it
// the same way:
//
//  1. if StripsIdentityHeaders (identity headers on), delete every request
//     header for which IsIdentityHeader holds;
//  2. if the request is to be skipped (health checks, CORS preflights), pass
//     it on;
//  3. d := m.Authenticate(ctx, src) with a TokenSource over the request;
//  4. if !d.Allowed(), answer with m.Refusal(d) (status, WWW-Authenticate,
//     Retry-After, JSON body) at once, without reading the request body,
//     closing the connection after the answer when body bytes are still
//     owed (BodyOwed), and stop;
//  5. otherwise apply d.Hide, set the headers in d.Identity, attach d.User
//     (nil for an anonymous request) to the request, and pass it on.
//
// Authenticate fails closed: an error the verifier does not classify, or a
// nil user without an error, is KindUnavailable, never a pass. In the common
// case (a Bearer token, identity headers off) it allocates nothing beyond
// what the verifier does.
//
// Each request makes one call of the verifier's Verify with the credential
// as found; the verifier checks the token's characters (a cache after its
// lookup, so a hit does not pay for it), and its verifier.ErrMalformedToken
// is a KindMalformed (400) like any other unreadable credential.
func (m *Middleware) Authenticate(ctx context.Context, src TokenSource) Decision {
	var d Decision
	m.authenticate(ctx, src, &d, false)
	return d
}

// authenticate is Authenticate writing into d, a zero Decision: the Handler
// keeps d on its stack, and the hit path copies no Decision around. With
// tracing off (no WithTracerProvider) it costs one predictable branch more
// than decide.
//
// With carry set, the context handed to the verifier is a *requestCtx over
// ctx (carrying the client address with WithClientAddress), returned so that
// the Handler can set the user on it and pass it on: one context value per
// request for both. It is nil when no token was verified. Without carry, the
// client address travels in a verifier.WithClient context.
func (m *Middleware) authenticate(ctx context.Context, src TokenSource, d *Decision, carry bool) *requestCtx {
	if m.tracer != nil {
		return m.authenticateTraced(ctx, src, d, carry)
	}
	return m.decide(ctx, src, d, carry)
}

// decide is authenticate without tracing.
func (m *Middleware) decide(ctx context.Context, src TokenSource, d *Decision, carry bool) (rc *requestCtx) {
	tok, lookup, err := m.extract(src)
	switch {
	case err != nil:
		d.Kind, d.Err = KindMalformed, err
	case tok == "" && m.optional:
		d.Kind = KindAnonymous
	case tok == "":
		d.Kind, d.Err = KindMissing, ErrMissingToken
	default:
		switch {
		case carry:
			var addr netip.Addr
			if m.clientAddrs {
				addr = m.ClientAddr(src.Peer(), src.Header("X-Forwarded-For"))
			}
			rc = newRequestCtx(ctx, m.clientAddrs, addr)
			ctx = rc
		case m.clientAddrs:
			ctx = verifier.WithClient(ctx, m.ClientAddr(src.Peer(), src.Header("X-Forwarded-For")))
		}
		u, err := m.v.Verify(ctx, tok)
		m.classify(d, u, err, tok)
		if d.Kind == KindAuthenticated && m.identity {
			m.decorate(d, lookup, src)
		}
	}
	m.metrics.observe(d.Kind)
	m.logDecision(ctx, src, d, tok)
	if m.observe != nil {
		m.observe(ctx, *d)
	}
	return rc
}

// decorate adds to d, an authenticated decision, the identity headers and,
// unless the credential is kept, the credential to hide.
func (m *Middleware) decorate(d *Decision, lookup Lookup, src TokenSource) {
	d.Identity = m.identityOf(d.User)
	if m.hide {
		d.Hide = hideFor(lookup, src)
	}
}

// extract runs the Lookups in order and returns the first token found and
// the Lookup that found it. An error stops the search.
func (m *Middleware) extract(src TokenSource) (string, Lookup, error) {
	for _, l := range m.lookups {
		tok, err := l.extract(src, m.maxLen)
		if err != nil || tok != "" {
			return tok, l, err
		}
	}
	return "", Lookup{}, nil
}

// classify writes into d, a zero Decision, what the verifier's answer for
// tok means.
func (m *Middleware) classify(d *Decision, u *verifier.User, err error, tok string) {
	if err != nil {
		err = scrub(err, tok)
	}
	switch {
	case err == nil && u == nil:
		d.Kind, d.Err, d.RetryAfter = KindUnavailable, errNoUser, m.retryAfter
	case err == nil && !validUserID(u.ID):
		d.Kind, d.Err, d.RetryAfter = KindUnavailable, errBadUserID, m.retryAfter
	case err == nil:
		d.Kind, d.User = KindAuthenticated, u
	case errors.Is(err, verifier.ErrUnavailable):
		// Checked first: an error that claims both must not log users out.
		d.Kind, d.Err, d.RetryAfter = KindUnavailable, err, m.retryAfterOf(err)
	case errors.Is(err, verifier.ErrTooManyRequests):
		d.Kind, d.Err, d.RetryAfter = KindTooManyRequests, err, m.retryAfterOf(err)
	case errors.Is(err, verifier.ErrMalformedToken):
		// The credential cannot be a token: the request is malformed.
		d.Kind, d.Err = KindMalformed, &malformedError{err}
	case errors.Is(err, verifier.ErrInvalidToken):
		d.Kind, d.Err = KindInvalid, err
	default:
		// Anything else (a context error, a bug in a custom verifier) fails
		// closed as unavailable: neither a pass nor a logout.
		d.Kind, d.Err, d.RetryAfter = KindUnavailable, err, m.retryAfterOf(err)
	}
}

// retryAfterOf returns the delay err carries (verifier.RetryAfterError), such
// as an upstream's Retry-After, and the default otherwise.
func (m *Middleware) retryAfterOf(err error) time.Duration {
	var ra verifier.RetryAfterError
	if errors.As(err, &ra) {
		if d := ra.RetryAfter(); d > 0 {
			return d
		}
	}
	return m.retryAfter
}

// scrub returns err, or, if its message quotes tok (a careless custom
// verifier), an error that reads the same with the token replaced by its
// fingerprint and still matches err under errors.Is and errors.As.
func scrub(err error, tok string) error {
	msg := err.Error()
	if !strings.Contains(msg, tok) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(msg, tok, "[token "+fingerprint(tok)+"]"), err: err}
}

// malformedError is the verifier's verifier.ErrMalformedToken as a
// Decision.Err: it reads the same and also matches ErrMalformed, as every
// malformed credential's error does.
type malformedError struct{ err error }

func (e *malformedError) Error() string   { return e.err.Error() }
func (e *malformedError) Unwrap() []error { return []error{ErrMalformed, e.err} }

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// validUserID reports whether id is a non-empty string that can travel in a
// header and a log line.
func validUserID(id string) bool {
	return id != "" && printable(id)
}
