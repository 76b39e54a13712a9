package middleware

import (
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
func (m *Middleware) ForwardAuth() http.Handler {
	return http.HandlerFunc(m.serveForwardAuth)
}

func (m *Middleware) serveForwardAuth(w http.ResponseWriter, r *http.Request) {
	src := newForwardSource(r)
	if m.trustForwarded && !src.ambiguous && m.passUnauthenticatedForwarded(r, &src) {
		writeForwardOK(w, m.blankIdentity())
		return
	}
	d := m.Authenticate(r.Context(), &src)
	if !d.Allowed() {
		m.refuse(w, r, d)
		return
	}
	if d.User == nil {
		writeForwardOK(w, m.blankIdentity())
		return
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
	writeForwardOK(w, id)
}

func writeForwardOK(w http.ResponseWriter, identity []Header) {
	h := w.Header()
	setHeaders(h, identity)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// passUnauthenticatedForwarded applies the skip and preflight rules to the
// original request that src describes.
func (m *Middleware) passUnauthenticatedForwarded(r *http.Request, src *forwardSource) bool {
	u, err := url.ParseRequestURI(src.uri)
	if err != nil {
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
	r      *http.Request
	method string
	uri    string
	// ambiguous: the forwarded method or URI headers repeat or disagree,
	// so that the original request cannot be told for sure; skip rules
	// must not apply.
	ambiguous bool
}

func newForwardSource(r *http.Request) forwardSource {
	method, mok := forwardedValue(r.Header, "X-Forwarded-Method", "X-Original-Method")
	if method == "" {
		method = r.Method
	}
	uri, uok := forwardedValue(r.Header, "X-Forwarded-Uri", "X-Original-Uri")
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	return forwardSource{r: r, method: method, uri: uri, ambiguous: !mok || !uok}
}

// forwardedValue returns the value of the first of the two canonical header
// names a and b that has a non-empty one, and whether the pair is
// unambiguous: neither header appears more than once, and if both are
// present they agree. A proxy that overwrites one of them leaves the other
// as the client sent it, so a disagreement may be a client's forgery.
func forwardedValue(h http.Header, a, b string) (string, bool) {
	va, vb := h[a], h[b]
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

func (s *forwardSource) Header(name string) []string { return s.r.Header[name] }
func (s *forwardSource) Method() string              { return s.method }

func (s *forwardSource) Peer() netip.Addr { return peerOf(s.r) }

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
