package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/internal/spantest"
	"github.com/tokenguard/tokenguard/middleware"
)

// A client's W3C trace context (https://www.w3.org/TR/trace-context/).
const (
	clientTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParentID    = "00f067aa0ba902b7"
	clientTraceparent = "00-" + clientTraceID + "-" + clientParentID + "-01"
)

// TestTracingServerSpans: on each engine, every data-path request is a
// server span continuing the client's trace, with method, path (no query),
// status and outcome, and the user id only on an authenticated request; a
// miss is a verification span under it and a hit an event on it; no token
// anywhere.
func TestTracingServerSpans(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, id, tok := newEmulator(t)
		tp, rec := spantest.Recorder(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Engine, cfg.TracerProvider = engine, tp
		r := runGateway(t, cfg)
		<-r.g.Ready()

		status, _, _ := get(t, r.data+"/auth?access_token="+tok, tok, "Traceparent", clientTraceparent)
		require.Equal(t, http.StatusOK, status)
		status, _, _ = get(t, r.data+"/auth", tok)
		require.Equal(t, http.StatusOK, status)
		status, _, _ = get(t, r.data+"/auth", tok+"x")
		require.Equal(t, http.StatusUnauthorized, status)
		require.NoError(t, r.stop()) // every request's span has ended

		spans := rec.Ended()
		servers := spantest.Named(spans, http.MethodGet)
		require.Len(t, servers, 3)
		miss, hit, refused := servers[0], servers[1], servers[2]
		for _, s := range servers {
			assert.Equal(t, trace.SpanKindServer, s.SpanKind())
		}
		assert.Equal(t, clientTraceID, miss.SpanContext().TraceID().String(), "the client's trace goes on")
		assert.Equal(t, clientParentID, miss.Parent().SpanID().String())
		assert.True(t, miss.Parent().IsRemote())
		assert.False(t, hit.Parent().IsValid(), "no traceparent: a new trace")
		assert.Equal(t, map[attribute.Key]string{
			"http.request.method": "GET", "url.path": "/auth", "http.response.status_code": "200",
			middleware.OutcomeKey: "authenticated", "enduser.id": id,
		}, spantest.Attrs(miss))
		assert.Equal(t, map[attribute.Key]string{
			"http.request.method": "GET", "url.path": "/auth", "http.response.status_code": "401",
			middleware.OutcomeKey: "invalid",
		}, spantest.Attrs(refused), "no user id on a refused request")

		verifies := spantest.Named(spans, cache.VerifySpanName)
		require.Len(t, verifies, 2, "the miss and the refused token")
		assert.Equal(t, miss.SpanContext().SpanID(), verifies[0].Parent().SpanID())
		assert.Equal(t, refused.SpanContext().SpanID(), verifies[1].Parent().SpanID())
		assert.Equal(t, "valid", spantest.Attrs(verifies[0])[cache.VerifyOutcomeKey])
		assert.Equal(t, "invalid", spantest.Attrs(verifies[1])[cache.VerifyOutcomeKey])
		assert.Empty(t, spantest.EventNames(miss))
		assert.Equal(t, []string{cache.EventHit}, spantest.EventNames(hit))
		spantest.AssertNoToken(t, spans, tok)
	})
}

// TestTracingUpstreamTraceparent: proxy mode sends the upstream the
// traceparent of its own server span, in the client's trace, in place of
// the client's.
func TestTracingUpstreamTraceparent(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		up, got := recordingUpstream(t)
		tp, rec := spantest.Recorder(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Mode, cfg.Upstream, cfg.Engine, cfg.TracerProvider = ModeProxy, up.URL, engine, tp
		var access logBuffer
		cfg.AccessLog = &access // both wrappers at once
		r := runGateway(t, cfg)
		<-r.g.Ready()

		status, _, _ := get(t, r.data+"/api", tok, "Traceparent", clientTraceparent, "Tracestate", "client=1")
		require.Equal(t, http.StatusOK, status)
		s := <-got
		// A traceparent that does not parse starts a new trace, and the
		// client's tracestate, which belonged to it, goes nowhere.
		status, _, _ = get(t, r.data+"/api", tok, "Traceparent", "00-not-a-trace-01", "Tracestate", "client=1")
		require.Equal(t, http.StatusOK, status)
		fresh := <-got
		require.NoError(t, r.stop())
		servers := spantest.Named(rec.Ended(), http.MethodGet)
		require.Len(t, servers, 2)
		ours := servers[0].SpanContext()
		assert.Equal(t, []string{"00-" + clientTraceID + "-" + ours.SpanID().String() + "-01"}, s.header["Traceparent"])
		assert.Equal(t, []string{"client=1"}, s.header["Tracestate"], "the trace state goes on with the trace")
		ours = servers[1].SpanContext()
		assert.NotEqual(t, clientTraceID, ours.TraceID().String())
		assert.Equal(t, []string{"00-" + ours.TraceID().String() + "-" + ours.SpanID().String() + "-01"}, fresh.header["Traceparent"])
		assert.Empty(t, fresh.header["Tracestate"])
		assert.Len(t, access.lines(`"status":200`), 2, "the access log sees the answers too")
	})
}

// TestTracingOffPassesTraceparent: with tracing off the gateway starts no
// span and the client's traceparent reaches the upstream as it was sent.
func TestTracingOffPassesTraceparent(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		up, got := recordingUpstream(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Mode, cfg.Upstream, cfg.Engine = ModeProxy, up.URL, engine
		r := runGateway(t, cfg)
		<-r.g.Ready()
		status, _, _ := get(t, r.data+"/api", tok, "Traceparent", clientTraceparent)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, []string{clientTraceparent}, (<-got).header["Traceparent"])
		assert.Nil(t, newTracing(nil), "no provider, no tracing")
	})
}

// TestTracingUpgradeTraceparent: a WebSocket upgrade goes through the
// tracing handler (the hijack reaches the connection through its writer)
// and reaches the upstream with the gateway span's traceparent too.
func TestTracingUpgradeTraceparent(t *testing.T) {
	got := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer up.Close()
	u, err := url.Parse(up.URL)
	require.NoError(t, err)
	tp, _ := spantest.Recorder(t)
	p := newProxy(u, nil, newLogger(io.Discard))
	p.trace = newTracing(tp)
	front := httptest.NewServer(p.trace.handler(p))
	defer front.Close()
	defer p.transport.CloseIdleConnections()

	conn, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Traceparent: "+clientTraceparent+"\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)

	tps := (<-got)["Traceparent"]
	require.Len(t, tps, 1)
	parts := strings.Split(tps[0], "-")
	require.Len(t, parts, 4)
	assert.Equal(t, clientTraceID, parts[1], "in the client's trace")
	assert.NotEqual(t, clientParentID, parts[2], "as a child of the gateway's span, not the client's")
}

// TestTracingWithoutCache: with the cache off each request's verification is
// still a span under the request's.
func TestTracingWithoutCache(t *testing.T) {
	emu, _, tok := newEmulator(t)
	tp, rec := spantest.Recorder(t)
	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.CacheSize, cfg.TracerProvider = 0, tp
	r := runGateway(t, cfg)
	<-r.g.Ready()
	status, _, _ := get(t, r.data+"/auth", tok)
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, r.stop())

	servers := spantest.Named(rec.Ended(), http.MethodGet)
	verifies := spantest.Named(rec.Ended(), cache.VerifySpanName)
	require.Len(t, servers, 1)
	require.Len(t, verifies, 1)
	assert.Equal(t, servers[0].SpanContext().SpanID(), verifies[0].Parent().SpanID())
	assert.Equal(t, "valid", spantest.Attrs(verifies[0])[cache.VerifyOutcomeKey])
}
