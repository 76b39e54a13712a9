package middleware

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// ForwardAuth returns a handler for the auth subrequests of a reverse proxy
// (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth, Envoy
// ext_authz): the proxy sends each client request's headers to it, and
// forwards the client request only on a 2xx.
//
// An allowed request gets 200 with the identity headers on the response,
// whether or not WithIdentityHeaders is on; configure the proxy to copy them
// onto the request it forwards (Traefik authResponseHeaders, nginx
// auth_request_set plus proxy_set_header). Every identity header is always
// present: empty for an anonymous request, and X-Auth-User-Data empty for a
// user without custom data, so a proxy that copies them overwrites what the
// client sent. A refused request gets the ErrorHandler's answer: 401, 400 or 503,
// which the proxy passes on or turns into its own error page.
//
// The original method and URI are read from X-Forwarded-Method and
// X-Forwarded-Uri, or else X-Original-Method and X-Original-URI, or else taken
// from the subrequest itself (Envoy). They name the request in log lines, and
// the URI's query is where LookupQuery looks. The skip predicate and
// preflight pass-through apply to them only with WithTrustForwardedRequest,
// since a client may send those headers itself, and even then only when they
// are unambiguous: if a header appears more than once, or both URI headers
// (or both method headers) are present and disagree, the subrequest is
// authenticated like any other (fail closed). Credentials cannot be hidden
// here: the proxy forwards the client's request as it is.
//
// The decision itself is DecideForwardAuth, which another HTTP engine calls
// over its own request type.
func (m *Middleware) ForwardAuth() http.Handler {
	return http.HandlerFunc(m.serveForwardAuth)
}

func (m *Middleware) serveForwardAuth(w http.ResponseWriter, r *http.Request) {
	a := m.DecideForwardAuth(r.Context(), httpSource{r})
	if !a.Allowed() {
		answerUnread(w, r, func() { m.onError(w, r, a.Refusal) })
		return
	}
	h := w.Header()
	setHeaders(h, a.Identity)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// A ForwardRequest is an auth subrequest as DecideForwardAuth reads it: the
// TokenSource of the subrequest itself (its headers, which the proxy copies
// from the client's request, and its own method, target and peer), with two
// more accessors. The net/http adapter wraps an *http.Request; another
// engine's adapter implements them over its own request type, under
// TokenSource's contract: the strings it returns must not alias memory the
// engine reuses after the request, since the token (found in a header or in
// the query of RequestURI) outlives it as a cache key.
type ForwardRequest interface {
	TokenSource

	// RequestURI returns the subrequest's own target in origin form, the
	// path and query as sent ("/auth?x=1"): the original request's URI
	// when the proxy names none (Envoy).
	RequestURI() string

	// HTTPRequest returns the subrequest as an *http.Request, for the skip
	// predicate (WithSkip) and the preflight rule (WithPreflight), which
	// read the original request's method, URL, host and headers. It is
	// called only with WithTrustForwardedRequest, at most once, and the
	// request is not modified; nil (a target that cannot be parsed) skips
	// nothing.
	HTTPRequest() *http.Request
}

// A ForwardAnswer is DecideForwardAuth's answer to an auth subrequest.
type ForwardAnswer struct {
	// Decision is Authenticate's decision; the zero Decision with Kind
	// KindAnonymous when the request was skipped without authenticating.
	Decision Decision
	// Identity, when allowed, holds every identity header to answer with
	// 200, each one present (empty for an anonymous request; the user
	// data header empty for a user without custom data), plus
	// Cache-Control: no-store. It may be shared and must not be modified.
	Identity []Header
	// Refusal, when refused, is the answer (Middleware.Refusal): write it
	// at once, without reading the request body, closing the connection
	// after it when body bytes are still owed (BodyOwed).
	Refusal Refusal
}

// Allowed reports whether the subrequest is allowed: 200 with Identity. The
// zero ForwardAnswer refuses.
func (a *ForwardAnswer) Allowed() bool { return a.Decision.Allowed() }

// DecideForwardAuth decides one auth subrequest with the rules of
// ForwardAuth: it reads the original method and URI from the forwarded
// headers, applies the skip and preflight rules to them only with
// WithTrustForwardedRequest and only when they are unambiguous, and
// otherwise authenticates (Authenticate) with the URI's query as the
// request's. The net/http ForwardAuth handler writes its answer; another
// HTTP engine calls it over its own ForwardRequest and writes the answer
// the same way.
func (m *Middleware) DecideForwardAuth(ctx context.Context, req ForwardRequest) ForwardAnswer {
	src := newForwardSource(req)
	if m.trustForwarded && !src.ambiguous && m.passUnauthenticatedForwarded(req, src) {
		return ForwardAnswer{Decision: Decision{Kind: KindAnonymous}, Identity: m.blankIdentity()}
	}
	d := m.Authenticate(ctx, src)
	if !d.Allowed() {
		return ForwardAnswer{Decision: d, Refusal: m.Refusal(d)}
	}
	if d.User == nil {
		return ForwardAnswer{Decision: d, Identity: m.blankIdentity()}
	}
	id := d.Identity
	if id == nil {
		id = m.identityOf(d.User)
	}
	if len(id) > 0 && id[len(id)-1].Name != m.names.userData {
		// No custom user data: still answer the header, empty, so a proxy
		// that copies only the headers present cannot let the client's
		// own X-Auth-User-Data through. The full slice expression keeps
		// append from writing into a backing array someone else holds.
		id = append(id[:len(id):len(id)], Header{m.names.userData, ""})
	}
	return ForwardAnswer{Decision: d, Identity: id}
}

// passUnauthenticatedForwarded applies the skip and preflight rules to the
// original request that src describes.
func (m *Middleware) passUnauthenticatedForwarded(req ForwardRequest, src *forwardSource) bool {
	if m.skip == nil && !m.preflight {
		return false
	}
	u, err := url.ParseRequestURI(src.uri)
	if err != nil {
		return false
	}
	r := req.HTTPRequest()
	if r == nil {
		return false
	}
	orig := r.Clone(r.Context())
	orig.Method = src.method
	orig.URL = u
	orig.RequestURI = src.uri
	if host := r.Header.Get("X-Forwarded-Host"); host != "" {
		orig.Host = host
	}
	return m.passUnauthenticated(orig)
}

// forwardSource is the TokenSource of an auth subrequest: the headers are the
// subrequest's, which the proxy copies from the client's request; the method
// and URI are the original request's.
type forwardSource struct {
	req    ForwardRequest
	method string
	uri    string
	// ambiguous: the forwarded method or URI headers repeat or disagree,
	// so that the original request cannot be told for sure; skip rules
	// must not apply.
	ambiguous bool
}

func newForwardSource(req ForwardRequest) *forwardSource {
	method, mok := forwardedValue(req, "X-Forwarded-Method", "X-Original-Method")
	if method == "" {
		method = req.Method()
	}
	uri, uok := forwardedValue(req, "X-Forwarded-Uri", "X-Original-Uri")
	if uri == "" {
		uri = req.RequestURI()
	}
	return &forwardSource{req: req, method: method, uri: uri, ambiguous: !mok || !uok}
}

// forwardedValue returns the value of the first of the two canonical header
// names a and b that has a non-empty one, and whether the pair is
// unambiguous: neither header appears more than once, and if both are
// present they agree. A proxy that overwrites one of them leaves the other
// as the client sent it, so a disagreement may be a client's forgery.
func forwardedValue(src TokenSource, a, b string) (string, bool) {
	va, vb := src.Header(a), src.Header(b)
	if len(va) > 1 || len(vb) > 1 {
		return firstNonEmpty(va, vb), false
	}
	if len(va) == 1 && len(vb) == 1 && va[0] != vb[0] {
		return firstNonEmpty(va, vb), false
	}
	return firstNonEmpty(va, vb), true
}

func firstNonEmpty(va, vb []string) string {
	if len(va) > 0 && va[0] != "" {
		return va[0]
	}
	if len(vb) > 0 {
		return vb[0]
	}
	return ""
}

func (s *forwardSource) Header(name string) []string { return s.req.Header(name) }
func (s *forwardSource) Method() string              { return s.method }
func (s *forwardSource) Peer() netip.Addr            { return s.req.Peer() }

func (s *forwardSource) RawQuery() string {
	_, q, _ := strings.Cut(s.uri, "?")
	q, _, _ = strings.Cut(q, "#")
	return q
}

func (s *forwardSource) Path() string {
	p, _, _ := strings.Cut(s.uri, "?")
	p, _, _ = strings.Cut(p, "#")
	return p
}
