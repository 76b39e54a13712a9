package gateway

import (
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// fastSource is the middleware.TokenSource of a fasthttp request. It is
// reused from request to request (fastCall), and owns every string it hands
// out: fasthttp reuses its request buffers once the handler returns, and
// what Authenticate is given outlives it (the token is the cache's
// singleflight key and the detached upstream call's argument; the user
// stays in the cache). The Authorization values, the one header the hit
// path reads, are copied once into authz before Authenticate is called, so
// that Header("Authorization") itself allocates nothing.
type fastSource struct {
	req        *fasthttp.Request
	isIdentity func(string) bool // the client's identity headers are never read; nil: every header is
	peer       netip.Addr
	authz      []string
	one        [1]string // authz's backing array for the usual single value
}

// reset points s at req, from peer, and copies its Authorization values.
// Headers for which isIdentity holds read as absent (step 1 of
// Authenticate); a nil isIdentity hides none.
func (s *fastSource) reset(req *fasthttp.Request, peer netip.Addr, isIdentity func(string) bool) {
	s.req, s.peer, s.isIdentity = req, peer, isIdentity
	s.authz = nil
	switch vs := req.Header.PeekAll("Authorization"); len(vs) {
	case 0:
	case 1:
		s.one[0] = string(vs[0])
		s.authz = s.one[:]
	default:
		s.authz = make([]string, len(vs))
		for i, v := range vs {
			s.authz[i] = string(v)
		}
	}
}

// clear drops every reference to the request, before s is reused.
func (s *fastSource) clear() {
	*s = fastSource{}
}

func (s *fastSource) Header(name string) []string {
	if name == "Authorization" {
		return s.authz
	}
	if s.isIdentity != nil && s.isIdentity(name) {
		return nil
	}
	vs := s.req.Header.PeekAll(name)
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func (s *fastSource) RawQuery() string {
	_, q := splitTarget(s.req.Header.RequestURI())
	return string(q)
}

func (s *fastSource) Method() string { return ownedValue(s.req.Header.Method()) }

func (s *fastSource) Path() string {
	p, _ := splitTarget(s.req.Header.RequestURI())
	return string(p)
}

func (s *fastSource) Peer() netip.Addr { return s.peer }

// ownedValue returns a copy of b, or, for a method name (the value of
// X-Original-Method, say), the constant that reads the same: a string that
// never aliases b either way.
func ownedValue(b []byte) string {
	switch string(b) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	}
	return string(b)
}

// peerAddr returns the address of a connection's other end, or the zero
// Addr; it allocates nothing for a TCP peer.
func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// splitTarget returns the raw path and the raw query (without "?") of a
// request target as it arrived: origin form (/p?q) or absolute form
// (http://host/p?q, whose path is "/" when it has none). Anything else
// (the asterisk form, an authority) has no path: path is nil. The slices
// alias target.
func splitTarget(target []byte) (path, query []byte) {
	if len(target) == 0 {
		return nil, nil
	}
	if target[0] != '/' {
		i := bytes.Index(target, []byte("://"))
		if i <= 0 {
			return nil, nil
		}
		rest := target[i+3:]
		j := bytes.IndexAny(rest, "/?")
		if j < 0 {
			return []byte("/"), nil
		}
		target = rest[j:]
		if target[0] == '?' {
			return []byte("/"), target[1:]
		}
	}
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		return target[:i], target[i+1:]
	}
	return target, nil
}

// fastSkipped reports whether skip holds for the raw request path p with
// the net/http engine's reading of it (skipFunc, given url.URL's Path and
// whether RawPath is set): a path of plain bytes only is its own decoded
// form, with no RawPath; any other path is one skipFunc never skips (a "%"
// makes RawPath set or decodes to the same bytes, and anything else is not
// plain once decoded), so it is authenticated without decoding it.
func fastSkipped(skip func(string, bool) bool, p []byte) bool {
	if skip == nil || !plainPath(b2s(p)) {
		return false
	}
	return skip(b2s(p), false)
}

// b2s returns b as a string without copying, for a call that does not keep
// it (a comparison, a predicate): b is fasthttp's memory, reused once the
// handler returns.
func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
