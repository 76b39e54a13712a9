package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tokenguard/tokenguard/middleware"
)

// fastProxy is the fasthttp data path of proxy mode. It follows the five
// steps of middleware.Middleware.Authenticate over a fastSource and
// forwards with a fasthttp.HostClient (a pool of keep-alive connections to
// the one upstream), applying the net/http proxy's rules (see proxy):
//
//   - the client's identity headers, in any spelling, never reach the
//     TokenSource nor the upstream, and the middleware's are set last, so
//     no Connection token can drop them;
//   - the credential is hidden as the Decision says (d.Hide);
//   - dropsRequestHeader's list (hop-by-hop, Forwarded, X-Real-Ip,
//     X-Forwarded-*, the override headers but those KeepClientHeaders
//     keeps) and the headers Connection names are dropped; X-Forwarded-For
//     (the resolved client address), -Proto and -Host are the proxy's;
//   - request trailers are never forwarded: the outbound request declares
//     none, and fasthttp keeps the ones it reads apart from the header;
//   - the Host header is the upstream's.
//
// Bodies stream both ways: the client's through fasthttp's
// StreamRequestBody, each read granting BodyIdleTimeout more; the
// upstream's through HostClient.StreamResponseBody into
// Response.SetBodyStream, which flushes each chunk of a body of unknown
// length (server-sent events) as it arrives.
type fastProxy struct {
	fastWatch                    // auth, trace, access
	isIdentity func(string) bool // auth.IsIdentityHeader, made once: a method value allocates
	skip       func(string, bool) bool
	keep       []string
	tunnels    *Tunnels
	metrics    *ProxyMetrics
	log        *slog.Logger
	idle       time.Duration // Limits.BodyIdleTimeout

	hc        *fasthttp.HostClient
	upTLS     *tls.Config // nil: plain HTTP upstream
	addr      string      // host:port to dial
	prefix    string      // scheme://host of the outbound URL
	basePath  string      // the target's escaped path; "" when it is the root
	baseQuery string
	conns     *connSet // the upstream connections, cut when a drain times out

	calls  sync.Pool // *fastCall
	relays sync.Pool // *fastRelay
}

// fastCall is the per-request scratch space of fastProxy, reused.
type fastCall struct {
	src  fastSource
	uri  []byte
	conn []byte   // the client's Connection values, joined by ","
	xff  []string // X-Forwarded-For values aliasing the request, for ClientAddr only
	addr []byte
	ctx  context.Context // the request's, for the traceparent sent upstream
}

func newFastProxy(dp DataPath, trace *tracing) *fastProxy {
	t := dp.Upstream
	p := &fastProxy{
		fastWatch: fastWatch{auth: dp.Auth, trace: trace, access: dp.AccessLog},
		skip:      dp.Skip,
		keep:      dp.KeepClientHeaders,
		tunnels:   dp.Tunnels,
		metrics:   dp.ProxyMetrics,
		log:       dp.Logger,
		idle:      dp.Limits.BodyIdleTimeout,
		conns:     &connSet{m: map[net.Conn]struct{}{}},
	}
	p.isIdentity = dp.Auth.IsIdentityHeader
	p.calls.New = func() any { return new(fastCall) }
	p.relays.New = func() any { return new(fastRelay) }
	p.addr = hostPort(t)
	p.prefix = t.Scheme + "://" + t.Host
	if t.Path != "" && t.Path != "/" {
		p.basePath = t.EscapedPath()
	}
	p.baseQuery = t.RawQuery
	isTLS := t.Scheme == "https"
	if isTLS {
		p.upTLS = dp.UpstreamTLS
		if p.upTLS == nil {
			p.upTLS = &tls.Config{}
		}
		if p.upTLS.ServerName == "" {
			p.upTLS = p.upTLS.Clone()
			p.upTLS.ServerName = t.Hostname()
		}
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	p.hc = &fasthttp.HostClient{
		Addr:      p.addr,
		IsTLS:     isTLS,
		TLSConfig: p.upTLS,
		Dial: func(addr string) (net.Conn, error) {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			return p.conns.add(c), nil
		},
		MaxConns:                 4096,
		MaxConnWaitTimeout:       30 * time.Second,
		MaxIdleConnDuration:      90 * time.Second,
		NoDefaultUserAgentHeader: true,
		// The path goes upstream as the client sent it, as on net/http.
		DisablePathNormalizing: true,
		// The upstream's answer header must fit: fasthttp refuses a
		// longer one (a 502 here). Every upstream connection holds a
		// buffer this size, idle ones included: 16 KiB is twice nginx's
		// default proxy_buffer_size on 64-bit, where 64 KiB made a
		// 1,000-connection stampede leave ~64 MiB of idle buffers.
		ReadBufferSize:        fastUpstreamHeaderBytes,
		StreamResponseBody:    true,
		SecureErrorLogMessage: true,
		// Idempotent requests are retried on a dead keep-alive
		// connection, as the Transport does; a streamed body never is.
		MaxIdemponentCallAttempts: 2,
	}
	return p
}

// fastUpstreamHeaderBytes caps an upstream answer's header on fasthttp.
const fastUpstreamHeaderBytes = 16 << 10

// hostPort is u's host with its scheme's default port when it has none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// serve is the proxy-mode handler.
func (p *fastProxy) serve(fc *fasthttp.RequestCtx) {
	c := p.calls.Get().(*fastCall)
	defer p.release(c)
	req := &fc.Request
	peer := peerAddr(fc.RemoteAddr())

	// Step 1, stripping the client's identity headers, is done by never
	// reading them: fastSource.Header and outRequest pass them over.
	path, _ := splitTarget(req.Header.RequestURI())
	if path == nil {
		fc.SetConnectionClose()
		fastJSONError(fc, fasthttp.StatusBadRequest, badTargetBody)
		return
	}
	o := p.begin(fc, path, peer)
	if !p.forward(fc, c, o, path, peer) {
		// Answered here, not streamed: the answer is whole in fc.
		p.finish(&o, fc.Response.StatusCode(), int64(len(fc.Response.Body())), false)
	}
}

// forward authenticates and forwards the request of fc, and reports whether
// it handed o on to a streamed answer, which finishes it once sent.
func (p *fastProxy) forward(fc *fasthttp.RequestCtx, c *fastCall, o fastObs, path []byte, peer netip.Addr) (streamed bool) {
	start := time.Now()
	req := &fc.Request
	c.ctx = o.ctx
	var d middleware.Decision
	if !fastSkipped(p.skip, path) { // step 2
		c.src.reset(req, peer, p.isIdentity)
		d = p.auth.Authenticate(o.ctx, &c.src) // step 3
		if !d.Allowed() {
			p.refuse(fc, d) // step 4
			return false
		}
	}
	// Step 5: outRequest applies d.Hide and d.Identity.
	authenticated := d.User != nil
	if isUpgradeFast(&req.Header) {
		return p.serveUpgrade(fc, c, &d, peer, o)
	}

	out := fasthttp.AcquireRequest()
	p.outRequest(out, req, c, &d, peer, fc.IsTLS())
	var body *fastBody
	// ContentLength: -1 chunked; -2 (none) on a GET or HEAD, which has
	// no body.
	if cl := req.Header.ContentLength(); (cl > 0 || cl == -1) && fc.RequestBodyStream() != nil {
		body = &fastBody{r: fc.RequestBodyStream(), fc: fc, idle: p.idle}
		body.extend()
		out.SetBodyStream(body, cl)
	}
	resp := fasthttp.AcquireResponse()
	err := p.hc.Do(out, resp)
	fasthttp.ReleaseRequest(out)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		if body != nil && body.err != nil {
			p.badClientBody(fc, body.err)
			return false
		}
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "tokenguard: upstream unreachable",
			slog.String("method", string(fc.Method())), slog.String("path", string(path)),
			slog.String("error", err.Error()))
		fastJSONError(fc, fasthttp.StatusBadGateway, badGatewayBody)
		p.metrics.Observe(authenticated, 0, time.Since(start))
		return false
	}
	return p.relay(fc, resp, authenticated, start, o)
}

func (p *fastProxy) release(c *fastCall) {
	c.src.clear()
	c.ctx = nil
	clear(c.xff)
	c.xff = c.xff[:0]
	p.calls.Put(c)
}

// outRequest builds in's upstream request into out: method, URL (the
// target's path and query joined with the client's, credential hidden from
// the query if it was there), the client's headers under the proxy's rules,
// then the proxy's forwarding headers and the identity headers.
func (p *fastProxy) outRequest(out, in *fasthttp.Request, c *fastCall, d *middleware.Decision, peer netip.Addr, isTLS bool) {
	out.Header.SetNoDefaultContentType(true)
	out.Header.SetMethodBytes(in.Header.Method())

	path, query := splitTarget(in.Header.RequestURI())
	u := append(c.uri[:0], p.prefix...)
	if p.basePath != "" {
		u = appendJoinSlash(u, p.basePath, path)
	} else {
		u = append(u, path...)
	}
	var q string
	if d.Hide.RewriteQuery {
		q = d.Hide.RawQuery
	} else {
		q = b2s(query)
	}
	switch {
	case p.baseQuery == "" && q != "":
		u = append(append(u, '?'), q...)
	case p.baseQuery != "":
		u = append(append(u, '?'), p.baseQuery...)
		if q != "" {
			u = append(append(u, '&'), q...)
		}
	}
	c.uri = u
	out.SetRequestURIBytes(u)

	c.conn = c.conn[:0]
	for _, v := range in.Header.PeekAll("Connection") {
		c.conn = append(append(c.conn, v...), ',')
	}
	c.xff = c.xff[:0]
	for k, v := range in.Header.All() {
		if !p.forwards(b2s(k), c.conn, d) {
			if b2s(k) == "X-Forwarded-For" {
				c.xff = append(c.xff, b2s(v))
			}
			continue
		}
		out.Header.AddBytesKV(k, v)
	}

	client := p.auth.ClientAddr(peer, c.xff)
	if client.IsValid() {
		c.addr = client.AppendTo(c.addr[:0])
		out.Header.SetBytesV("X-Forwarded-For", c.addr)
	}
	if isTLS {
		out.Header.Set("X-Forwarded-Proto", "https")
	} else {
		out.Header.Set("X-Forwarded-Proto", "http")
	}
	if host := in.Header.Host(); len(host) > 0 {
		out.Header.SetBytesV("X-Forwarded-Host", host)
	}
	if d.Hide.RewriteCookie && d.Hide.Cookie != "" {
		out.Header.Set("Cookie", d.Hide.Cookie)
	}
	if p.trace != nil && c.ctx != nil {
		p.trace.injectFast(c.ctx, &out.Header)
	}
	for _, h := range d.Identity {
		out.Header.Set(h.Name, h.Value)
	}
}

// forwards reports whether the client's header k (as fasthttp normalized
// it: canonical for a name of token characters) goes upstream: not the
// Host or the framing (the client sets its own), not an identity header,
// not the hidden credential, not one of dropsRequestHeader's unless kept,
// and not one the client's Connection values conn name.
func (p *fastProxy) forwards(k string, conn []byte, d *middleware.Decision) bool {
	switch {
	case k == "Host", k == "Content-Length", k == "Expect":
		// Expect: fasthttp's server has already answered 100 Continue
		// to the client, and its client sends the body at once.
		return false
	case p.isIdentity(k):
		return false
	case d.Hide.Header != "" && strings.EqualFold(k, d.Hide.Header):
		return false
	case d.Hide.RewriteCookie && k == "Cookie":
		return false
	case isOverride(k) && p.kept(k):
		return true
	case dropsRequestHeader(k):
		return false
	}
	return !connectionNames(conn, k)
}

// kept reports whether KeepClientHeaders names k.
func (p *fastProxy) kept(k string) bool {
	for _, n := range p.keep {
		if n == k {
			return true
		}
	}
	return false
}

// connectionNames reports whether the comma-separated Connection tokens
// conn name the header k (ASCII case folded), passing over the tokens that
// name no header (listedToken).
func connectionNames(conn []byte, k string) bool {
	for len(conn) > 0 {
		var tok []byte
		tok, conn, _ = bytes.Cut(conn, []byte(","))
		name := strings.Trim(b2s(tok), " \t")
		if listedToken(name) && strings.EqualFold(name, k) {
			return true
		}
	}
	return false
}

// appendJoinSlash appends joinSlash(a, b) to dst without allocating.
func appendJoinSlash(dst []byte, a string, b []byte) []byte {
	as, bs := strings.HasSuffix(a, "/"), len(b) > 0 && b[0] == '/'
	dst = append(dst, a...)
	switch {
	case as && bs:
		return append(dst, b[1:]...)
	case !as && !bs && len(b) > 0:
		dst = append(dst, '/')
	}
	return append(dst, b...)
}

// copyFastResponseHeader copies the upstream's answer header src onto the
// client's dst, less Content-Length (the server frames the body), the
// hop-by-hop headers and those src's Connection names.
func copyFastResponseHeader(dst, src *fasthttp.ResponseHeader) {
	dst.SetNoDefaultContentType(true)
	var conn []byte
	for _, v := range src.PeekAll("Connection") {
		conn = append(append(conn, v...), ',')
	}
	for k, v := range src.All() {
		ks := b2s(k)
		if ks == "Content-Length" || isHopByHop(ks) || connectionNames(conn, ks) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

// relay answers fc with the upstream's resp: status, end-to-end headers,
// and the body as it arrives. resp is released once the body is written.
// It reports whether the body streams, in which case o is finished once it
// has been sent.
func (p *fastProxy) relay(fc *fasthttp.RequestCtx, resp *fasthttp.Response, authenticated bool, start time.Time, o fastObs) bool {
	status := resp.StatusCode()
	rh := &fc.Response.Header
	copyFastResponseHeader(rh, &resp.Header)
	fc.SetStatusCode(status)
	cl := resp.Header.ContentLength()
	bs := resp.BodyStream()
	if bs == nil {
		if fc.IsHead() {
			rh.SetContentLength(max(cl, 0))
		} else {
			fc.Response.SetBody(resp.Body())
		}
		fasthttp.ReleaseResponse(resp)
		p.metrics.Observe(authenticated, status, time.Since(start))
		return false
	}
	trailers := false
	for _, k := range resp.Header.PeekTrailerKeys() {
		// Declared up front, sent after the body (fastRelay.Read): only
		// a chunked answer has them. A name fasthttp forbids in a
		// trailer is left out.
		if rh.AddTrailerBytes(k) == nil {
			trailers = true
		}
	}
	if trailers {
		cl = -1
	}
	if cl < 0 {
		cl = -1
		// An answer of unknown length may be a stream (server-sent
		// events, long polling): its header goes at once, and each
		// chunk as it arrives.
		fc.Response.ImmediateHeaderFlush = true
	}
	r := p.relays.Get().(*fastRelay)
	*r = fastRelay{
		p: p, fc: fc, resp: resp, r: bs, authenticated: authenticated, status: status, start: start,
		trailers: trailers, obs: o,
	}
	fc.Response.SetBodyStream(r, cl)
	return true
}

// fastRelay is the upstream's streamed body on its way to the client.
// fasthttp's server reads it while writing this request's response and
// then calls CloseWithError, which releases the upstream response (and its
// connection) and observes the request. Both happen before the server
// reuses fc, so fc is still this request's there; CloseWithError drops it.
type fastRelay struct {
	p             *fastProxy
	fc            *fasthttp.RequestCtx
	resp          *fasthttp.Response
	r             io.Reader
	authenticated bool
	status        int
	start         time.Time
	trailers      bool  // the answer declared trailers: copy them at the end
	err           error // the first read error but io.EOF
	sent          int64 // body bytes read from the upstream and handed to the server
	obs           fastObs
}

func (r *fastRelay) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.sent += int64(n)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	if err == io.EOF && r.trailers {
		r.trailers = false
		// The upstream's trailers have been read with its last chunk;
		// the server writes these after the client's.
		rh := &r.fc.Response.Header
		for _, k := range r.resp.Header.PeekTrailerKeys() {
			if v := r.resp.Header.PeekTrailer(b2s(k)); v != nil {
				rh.SetBytesKV(k, v)
			}
		}
	}
	return n, err
}

func (r *fastRelay) CloseWithError(werr error) error {
	_ = r.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(r.resp)
	switch {
	case r.err != nil:
		r.p.log.LogAttrs(context.Background(), slog.LevelWarn, "tokenguard: upstream response cut short",
			slog.String("path", string(r.fc.Path())), slog.String("error", r.err.Error()))
	case werr != nil:
		r.p.log.LogAttrs(context.Background(), slog.LevelDebug, "tokenguard: client went away during the response",
			slog.String("path", string(r.fc.Path())))
	}
	p := r.p
	p.metrics.Observe(r.authenticated, r.status, time.Since(r.start))
	p.finish(&r.obs, r.status, r.sent, r.err != nil)
	*r = fastRelay{}
	p.relays.Put(r)
	return nil
}

// fastBody is the client's request body on its way upstream: it keeps the
// first read error (the client's fault, told apart from the upstream's)
// and grants the connection BodyIdleTimeout more after each read that
// brings bytes, as bodyDeadline does on net/http.
type fastBody struct {
	r    io.Reader
	fc   *fasthttp.RequestCtx
	idle time.Duration
	err  error
}

func (b *fastBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.extend()
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// extend sets the read deadline idle from now (none when idle is 0): it
// replaces the server's ReadTimeout, set for the header.
func (b *fastBody) extend() {
	var t time.Time
	if b.idle > 0 {
		t = time.Now().Add(b.idle)
	}
	_ = b.fc.SetReadDeadline(t)
}

// refuse answers a refused request (step 4): the Refusal as
// middleware.DefaultErrorHandler writes it, at once, with Connection: close
// when body bytes are still owed, which fasthttp then never reads.
func (p *fastProxy) refuse(fc *fasthttp.RequestCtx, d middleware.Decision) {
	writeFastRefusal(fc, p.auth.Refusal(d))
}

func writeFastRefusal(fc *fasthttp.RequestCtx, rf middleware.Refusal) {
	h := &fc.Response.Header
	if rf.Challenge != "" {
		h.Set("WWW-Authenticate", rf.Challenge)
	}
	if rf.RetryAfter != "" {
		h.Set("Retry-After", rf.RetryAfter)
	}
	status := rf.Status
	if status < 400 || status > 599 {
		status = fasthttp.StatusServiceUnavailable
	}
	cl := fc.Request.Header.ContentLength()
	if middleware.BodyOwed(int64(cl), cl > 0 || cl == -1) {
		fc.SetConnectionClose()
	}
	fastJSON(fc, status, rf.Body)
}

// badClientBody answers a request whose body could not be read from the
// client: 400, the connection closed (see proxy.badClientBody).
func (p *fastProxy) badClientBody(fc *fasthttp.RequestCtx, err error) {
	p.log.LogAttrs(context.Background(), slog.LevelInfo, "tokenguard: client request body unreadable",
		slog.String("method", string(fc.Method())), slog.String("path", string(fc.Path())),
		slog.String("error", err.Error()))
	fc.SetConnectionClose()
	fastJSONError(fc, fasthttp.StatusBadRequest, badBodyBody)
}

const badTargetBody = `{"error":"invalid_request","error_description":"The request target is not a path."}`

// fastJSONError is writeJSONError on fasthttp.
func fastJSONError(fc *fasthttp.RequestCtx, status int, body string) {
	fastJSON(fc, status, []byte(body))
}

func fastJSON(fc *fasthttp.RequestCtx, status int, body []byte) {
	h := &fc.Response.Header
	h.SetContentType("application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	fc.SetStatusCode(status)
	fc.SetBody(body)
}

// connSet tracks the upstream connections, so that a drain that runs out
// of time can cut them (fasthttp's HostClient only closes idle ones), which
// ends the handlers still waiting on them.
type connSet struct {
	mu sync.Mutex // guards m
	m  map[net.Conn]struct{}
}

func (s *connSet) add(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, set: s}
	s.mu.Lock()
	s.m[tc] = struct{}{}
	s.mu.Unlock()
	return tc
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.m {
		_ = c.(*trackedConn).Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	set  *connSet
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.m, c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}
