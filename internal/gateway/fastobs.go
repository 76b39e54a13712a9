package gateway

import (
	"context"
	"net/netip"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/propagation"

	"github.com/tokenguard/tokenguard/middleware"
)

// fastWatch starts and ends the fastObs of each request of the fasthttp
// engine, in either mode.
type fastWatch struct {
	auth   *middleware.Middleware // resolves the client address of a log line
	trace  *tracing               // nil: not traced
	access *AccessLog             // nil: no access log
}

// fastObs is what watches one request on fasthttp: its server
// span (tracing) and its access log line. Both are off by default, and then
// ctx is context.Background() and the rest nil: finish does nothing.
type fastObs struct {
	ctx   context.Context
	entry *AccessEntry     // nil: no access log
	end   func(status int) // nil: not traced
}

// begin starts watching the request of fc, whose target path is path; peer
// is the connection's other end.
func (p *fastWatch) begin(fc *fasthttp.RequestCtx, path []byte, peer netip.Addr) fastObs {
	o := fastObs{ctx: context.Background()}
	if p.trace == nil && p.access == nil {
		return o
	}
	method, spath := string(fc.Method()), string(path) // kept past the request: copies
	if p.access != nil {
		var xff []string
		for _, v := range fc.Request.Header.PeekAll("X-Forwarded-For") {
			xff = append(xff, string(v))
		}
		o.ctx, o.entry = p.access.Begin(o.ctx, method, spath, p.auth.ClientAddr(peer, xff))
	}
	if p.trace != nil {
		o.ctx, o.end = p.trace.start(o.ctx, method, spath, fastCarrier{&fc.Request.Header})
	}
	return o
}

// finish ends o with the answer's status, the body bytes sent and whether
// the upstream cut the answer short.
func (p *fastWatch) finish(o *fastObs, status int, bytes int64, aborted bool) {
	if o.entry != nil {
		o.entry.Status, o.entry.Bytes, o.entry.Aborted = status, bytes, aborted
		p.access.End(o.ctx, o.entry)
	}
	if o.end != nil {
		o.end(status)
	}
}

// injectFast sets on h, the headers of a request to the upstream, the
// traceparent (and tracestate) of ctx's span, replacing the client's, as
// tracing.inject does on net/http.
func (t *tracing) injectFast(ctx context.Context, h *fasthttp.RequestHeader) {
	if t == nil {
		return
	}
	h.Del("Traceparent")
	h.Del("Tracestate")
	t.prop.Inject(ctx, fastCarrier{h})
}

// fastCarrier is a propagation.TextMapCarrier over fasthttp request headers.
// Get copies: the span context it feeds outlives the request.
type fastCarrier struct{ h *fasthttp.RequestHeader }

var _ propagation.TextMapCarrier = fastCarrier{}

func (c fastCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c fastCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c fastCarrier) Keys() []string {
	keys := make([]string, 0, c.h.Len())
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}
