package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tokenguard/tokenguard/middleware"
)

// proxy is the net/http data path of proxy mode: a reverse proxy trimmed to
// what a gateway in front of one HTTP/1.1 upstream needs. It builds the
// outbound request by hand (one shallow copy of the incoming request, one
// URL, one header map), calls the Transport directly and copies the answer
// through a pooled buffer, where httputil.ReverseProxy's Rewrite hook clones
// the request and its headers and sets up 1xx tracing per request;
// BenchmarkProxy compares the two in-process (figures in bench/README.md).
// WebSocket upgrades, which need the connection hijacked and spliced, go
// through httputil.ReverseProxy with the same header rules; any other
// Upgrade (h2c among them) is not honoured, and the request goes on as plain
// HTTP/1.1 without it (see isUpgrade).
//
// Request trailers are dropped, never forwarded: they arrive after the
// middleware has stripped the identity headers, so a chunked request could
// otherwise carry an X-Auth-User-Id of the client's choosing to the
// upstream, and request trailers have no common legitimate use to weigh
// against that. Response trailers pass.
//
// Header rules, both ways: hop-by-hop headers (Connection, Keep-Alive,
// Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade) and the headers Connection
// names are dropped, except that Connection can never drop an identity
// header (a client naming X-Auth-User-Id in Connection would otherwise strip
// the identity the middleware set). Towards the upstream, the client's
// Forwarded, X-Real-Ip and X-Forwarded-* headers are dropped and
// X-Forwarded-For (the client's address only), X-Forwarded-Proto and
// X-Forwarded-Host are set by the proxy: a client must not choose the
// address the upstream believes it has (CVE-2026-35051). The URL-override
// and client-identity headers (isOverride: X-Original-URL, True-Client-IP,
// X-Remote-User and kin) are dropped too, skip paths included, but for the
// ones Config.KeepClientHeaders names. The Host header is
// the upstream's; the client's is in X-Forwarded-Host.
type proxy struct {
	target    *url.URL
	transport *http.Transport
	protected func(name string) bool // headers Connection may not drop
	log       *slog.Logger
	upgrade   *httputil.ReverseProxy
	// clientAddr resolves a request's client address for X-Forwarded-For
	// (middleware.HTTPClientAddr: the peer, or behind trusted proxies the
	// right-most untrusted hop); nil: the peer.
	clientAddr func(*http.Request) netip.Addr
	// keep are the canonical names of the URL-override and client-identity
	// headers (isOverride) the operator lets through (KeepClientHeaders).
	keep    []string
	tunnels *Tunnels      // nil: upgraded connections are not tracked
	metrics *ProxyMetrics // nil: nothing is observed
	trace   *tracing      // nil: off, and the client's traceparent passes as it is
}

func newProxy(target *url.URL, protected func(string) bool, log *slog.Logger) *proxy {
	p := &proxy{target: target, transport: newTransport(), protected: protected, log: log}
	p.upgrade = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// ReverseProxy has removed the hop-by-hop headers but for
			// Connection: Upgrade, and X-Forwarded-For/-Host/-Proto.
			pr.SetURL(target)
			pr.Out.Trailer = nil // as on the plain path
			dropForwarded(pr.Out.Header)
			for _, k := range p.keep {
				if vv, ok := pr.In.Header[k]; ok {
					pr.Out.Header[k] = vv
				}
			}
			pr.SetXForwarded()
			p.trace.inject(pr.In.Context(), pr.Out.Header)
			if p.clientAddr != nil {
				if a := p.clientAddr(pr.In); a.IsValid() {
					pr.Out.Header["X-Forwarded-For"] = []string{a.String()}
				}
			}
		},
		Transport:    p.transport,
		BufferPool:   bufferPool{},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { p.fail(w, r, err) },
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return p
}

// newTransport returns the Transport to the upstream: idle pools sized for a
// gateway (the default keeps 2 idle connections per host and churns under
// load), compression left to the two ends (the bytes pass through as they
// are), HTTP/1.1 only, and no proxy from the environment.
func newTransport() *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}

// bufferPool lends copyBuffers to httputil.ReverseProxy.
type bufferPool struct{}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.sanitizeConnection(r.Header)
	if isUpgrade(r.Header) {
		p.serveUpgrade(w, r)
		return
	}
	start := time.Now()
	out := p.outRequest(r)
	var cb *clientBody
	if out.Body != nil && out.Body != http.NoBody {
		cb = &clientBody{ReadCloser: out.Body}
		out.Body = cb
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		if cb != nil && cb.err != nil {
			p.badClientBody(w, r, cb.err)
			return
		}
		if p.fail(w, r, err) {
			p.observe(r, 0, start)
		}
		return
	}
	defer resp.Body.Close()
	defer p.observe(r, resp.StatusCode, start)

	h := w.Header()
	copyHeader(h, resp.Header)
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		h["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(resp.StatusCode)

	// An answer of unknown length may be a stream (server-sent events, long
	// polling): send each piece on as it arrives.
	streaming := resp.ContentLength == -1 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	if err := p.copyBody(w, resp.Body, streaming); err != nil {
		if r.Context().Err() != nil || errors.Is(err, errClientWrite) {
			p.log.LogAttrs(r.Context(), slog.LevelDebug, "tokenguard: client went away during the response",
				slog.String("path", r.URL.Path))
			return
		}
		p.log.LogAttrs(r.Context(), slog.LevelWarn, "tokenguard: upstream response cut short",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		// Abort the client's response so it cannot pass for complete.
		panic(http.ErrAbortHandler)
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
}

// outRequest builds the upstream request from r: a shallow copy with its own
// URL and header map and no trailers, sharing r's context and body.
func (p *proxy) outRequest(r *http.Request) *http.Request {
	out := r.WithContext(r.Context())
	u := *p.target
	u.Path, u.RawPath = joinPath(p.target, r.URL)
	switch {
	case p.target.RawQuery == "":
		u.RawQuery = r.URL.RawQuery
	case r.URL.RawQuery != "":
		u.RawQuery = p.target.RawQuery + "&" + r.URL.RawQuery
	}
	out.URL = &u
	out.Host = "" // the upstream's
	out.RequestURI = ""
	out.Close = false
	out.Trailer = nil // see the proxy's doc: a trailer could carry an identity header
	if r.ContentLength == 0 {
		out.Body = nil // lets the Transport retry on a dead keep-alive connection
	}

	h := make(http.Header, len(r.Header)+3)
	copyRequestHeader(h, r.Header)
	for _, k := range p.keep {
		if vv, ok := r.Header[k]; ok {
			h[k] = vv
		}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noUserAgent // not Go's default
	}
	if p.clientAddr != nil {
		if a := p.clientAddr(r); a.IsValid() {
			h["X-Forwarded-For"] = []string{a.String()}
		}
	} else if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		h["X-Forwarded-For"] = []string{ip}
	}
	if r.TLS != nil {
		h["X-Forwarded-Proto"] = protoHTTPS
	} else {
		h["X-Forwarded-Proto"] = protoHTTP
	}
	if r.Host != "" {
		h["X-Forwarded-Host"] = []string{r.Host}
	}
	p.trace.inject(r.Context(), h)
	out.Header = h
	return out
}

// Header values shared by every request: the Transport only reads them.
var (
	noUserAgent = []string{""}
	protoHTTP   = []string{"http"}
	protoHTTPS  = []string{"https"}
)

// joinPath appends the request's path to the target's, like
// httputil.NewSingleHostReverseProxy, keeping the escaped form when either
// has one.
func joinPath(target, req *url.URL) (path, rawPath string) {
	if target.Path == "" || target.Path == "/" {
		return req.Path, req.RawPath
	}
	if target.RawPath == "" && req.RawPath == "" {
		return joinSlash(target.Path, req.Path), ""
	}
	return joinSlash(target.Path, req.Path), joinSlash(target.EscapedPath(), req.EscapedPath())
}

func joinSlash(a, b string) string {
	as, bs := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/")
	switch {
	case as && bs:
		return a + b[1:]
	case !as && !bs && b != "":
		return a + "/" + b
	}
	return a + b
}

// errClientWrite marks a copy that failed writing to the client.
var errClientWrite = errors.New("gateway: write to client failed")

// copyBody copies the upstream body to w through a pooled buffer, flushing
// after each piece when streaming. A read error is returned as it is, a
// write error as errClientWrite.
func (p *proxy) copyBody(w http.ResponseWriter, body io.Reader, streaming bool) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var rc *http.ResponseController
	if streaming {
		rc = http.NewResponseController(w)
	}
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return errClientWrite
			}
			if rc != nil {
				if err := rc.Flush(); err != nil {
					return errClientWrite
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// fail answers a request the upstream did not: 502 with the standard JSON
// error body, unless the client itself went away, which is no error of
// ours and is answered with nothing.
func (p *proxy) fail(w http.ResponseWriter, r *http.Request, err error) bool {
	if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		p.log.LogAttrs(r.Context(), slog.LevelDebug, "tokenguard: client went away before the upstream answered",
			slog.String("path", r.URL.Path))
		return false
	}
	p.log.LogAttrs(r.Context(), slog.LevelWarn, "tokenguard: upstream unreachable",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	writeJSONError(w, http.StatusBadGateway, badGatewayBody)
	return true
}

// observe records a forwarded request in p.metrics; status 0: unreachable.
func (p *proxy) observe(r *http.Request, status int, start time.Time) {
	if p.metrics == nil {
		return
	}
	_, authenticated := middleware.UserFromContext(r.Context())
	p.metrics.Observe(authenticated, status, time.Since(start))
}

// clientBody is the client's request body on its way upstream; it keeps
// the first error reading it, so that a failed round trip can be told apart:
// the client's fault (a malformed chunked body, a stalled upload) or the
// upstream's.
type clientBody struct {
	io.ReadCloser
	err error // the first read error other than io.EOF; read after RoundTrip returns
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// badClientBody answers a request whose body could not be read from the
// client (malformed chunking, a body shorter than its Content-Length, a
// stall past the body idle deadline): 400, the connection closed, and a
// line that puts the fault on the client's side.
func (p *proxy) badClientBody(w http.ResponseWriter, r *http.Request, err error) {
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "tokenguard: client request body unreadable",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	w.Header().Set("Connection", "close")
	writeJSONError(w, http.StatusBadRequest, badBodyBody)
}

// writeJSONError writes one of the proxy's own answers: a JSON body that is
// never cached or sniffed.
func writeJSONError(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

const badBodyBody = `{"error":"invalid_request","error_description":"The request body could not be read."}`

const badGatewayBody = `{"error":"bad_gateway","error_description":"The upstream server did not answer."}`

// serveUpgrade proxies an upgrade request and, once it is a tunnel of an
// authenticated user, keeps it registered with p.tunnels. Closing it is
// cancelling the request's context: httputil.ReverseProxy then closes the
// upstream connection, which ends both copies and closes the client's.
func (p *proxy) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	u, ok := middleware.UserFromContext(r.Context())
	if !ok || p.tunnels == nil { // a skip path: nothing to revoke
		p.upgrade.ServeHTTP(w, r)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	release := p.tunnels.Open(u, cancel)
	defer release()
	p.upgrade.ServeHTTP(w, r.WithContext(ctx))
}
