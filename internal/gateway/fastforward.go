package gateway

import (
	"net/http"
	"net/netip"
	"net/url"

	"github.com/valyala/fasthttp"

	"github.com/tokenguard/tokenguard/middleware"
)

// fastForward is the middleware.ForwardRequest of a fasthttp auth
// subrequest, for Middleware.DecideForwardAuth, which holds the
// forward-auth rules for both engines. It is the proxy's fastSource (the
// Authorization values copied once, method, target and peer) with the
// subrequest's own URI and *http.Request besides, and a Header that reads
// the client's identity headers as they are (the answer sets them; they are
// never forwarded from here). It is reused from request to request
// (fastEngine.fwds) and owns every string it hands out: the token, found in
// Authorization or in the query of X-Forwarded-Uri, outlives the request as
// the cache's singleflight key and the detached upstream call's argument,
// while fasthttp reuses its buffers once the handler returns. The other
// headers it reads (X-Forwarded-*, X-Original-*, X-Forwarded-For) are
// copied on each read into vals, so that the slices cost no allocation.
type fastForward struct {
	fastSource
	fc    *fasthttp.RequestCtx
	vals  [8]string // backing arrays of Header's answers, while they fit
	nvals int
}

var _ middleware.ForwardRequest = (*fastForward)(nil)

// reset points f at the request of fc, from peer, and copies its
// Authorization values.
func (f *fastForward) reset(fc *fasthttp.RequestCtx, peer netip.Addr) {
	f.fastSource.reset(&fc.Request, peer, nil)
	f.fc = fc
}

// clear drops every reference to the request, before f is reused.
func (f *fastForward) clear() {
	*f = fastForward{}
}

// Header returns copies of the named header's values; the client's
// identity headers read as they are, as on the net/http ForwardAuth
// handler.
func (f *fastForward) Header(name string) []string {
	if name == "Authorization" {
		return f.authz
	}
	vs := f.fc.Request.Header.PeekAll(name)
	if len(vs) == 0 {
		return nil
	}
	var out []string
	if n := f.nvals + len(vs); n <= len(f.vals) {
		out = f.vals[f.nvals:n:n]
		f.nvals = n
	} else {
		out = make([]string, len(vs))
	}
	for i, v := range vs {
		out[i] = ownedValue(v)
	}
	return out
}

// RequestURI returns the subrequest's target: a copy of it as sent when it
// is in origin form, else (absolute form) its path and query as net/http's
// url.URL.RequestURI gives them.
func (f *fastForward) RequestURI() string {
	target := f.fc.Request.Header.RequestURI()
	if len(target) > 0 && target[0] == '/' {
		return string(target)
	}
	u, err := url.ParseRequestURI(string(target))
	if err != nil {
		return ""
	}
	return u.RequestURI()
}

// HTTPRequest returns a copy of the subrequest as an *http.Request, for the
// skip and preflight rules, which run only with TrustForwardedURI.
func (f *fastForward) HTTPRequest() *http.Request {
	r, err := fastRequest(f.fc)
	if err != nil {
		return nil
	}
	return r
}

// validTarget reports whether net/http's server would accept target as a
// request's (url.ParseRequestURI): no control byte, and, in origin form, a
// path whose every "%" starts an escape; fasthttp's parser is laxer. Other
// forms are left to url.ParseRequestURI.
func validTarget(target []byte) bool {
	if len(target) == 0 || target[0] != '/' {
		_, err := url.ParseRequestURI(string(target))
		return err == nil
	}
	inPath := true
	for i := 0; i < len(target); i++ {
		switch c := target[i]; {
		case c < 0x20 || c == 0x7f:
			return false
		case c == '?':
			inPath = false
		case c == '%' && inPath:
			if i+2 >= len(target) || !isHex(target[i+1]) || !isHex(target[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// serveForwardAuth is the forward-auth handler: the decision is
// DecideForwardAuth's over a pooled fastForward, and its answer is written
// straight into fc's response, as the net/http handler writes it.
func (e *fastEngine) serveForwardAuth(fc *fasthttp.RequestCtx) {
	target := fc.Request.Header.RequestURI()
	if !validTarget(target) {
		fc.SetConnectionClose()
		fc.Error("Bad Request", fasthttp.StatusBadRequest)
		return
	}
	peer := peerAddr(fc.RemoteAddr())
	path, _ := splitTarget(target)
	o := e.watch.begin(fc, path, peer)
	f := e.fwds.Get().(*fastForward)
	f.reset(fc, peer)
	a := e.watch.auth.DecideForwardAuth(o.ctx, f)
	f.clear()
	e.fwds.Put(f)
	if a.Allowed() {
		h := &fc.Response.Header
		for _, x := range a.Identity {
			h.Set(x.Name, x.Value)
		}
		h.Set("Cache-Control", "no-store")
		fc.SetStatusCode(fasthttp.StatusOK)
	} else {
		writeFastRefusal(fc, a.Refusal)
	}
	e.watch.finish(&o, fc.Response.StatusCode(), int64(len(fc.Response.Body())), false)
}
