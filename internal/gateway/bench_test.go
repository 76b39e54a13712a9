package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// BenchmarkProxy compares the hand-trimmed proxy with a tuned
// httputil.ReverseProxy (same Transport, same header rules through Rewrite,
// pooled buffers) on one small GET to a loopback upstream. The incoming side
// is a recorder, so the numbers are the proxy's own work plus the upstream
// round trip, which both pay alike. Compare with benchstat:
//
//	go test -run '^$' -bench BenchmarkProxy -benchmem -count 10 ./internal/gateway
func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"message":"hello"}`)
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	log := slog.New(slog.DiscardHandler)

	trimmed := newProxy(target, func(string) bool { return false }, log)
	defer trimmed.transport.CloseIdleConnections()
	tuned := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			dropForwarded(pr.Out.Header)
			pr.SetXForwarded()
		},
		Transport:  newTransport(),
		BufferPool: bufferPool{},
	}
	defer tuned.Transport.(*http.Transport).CloseIdleConnections()

	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"trimmed", trimmed}, {"httputil", tuned}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "http://app.example.com/hello?x=1", nil)
				req.Header.Set("User-Agent", "bench")
				req.Header.Set("Accept", "application/json")
				req.Header.Set("X-Auth-User-Id", "64b7f0c2a1b2c3d4e5f60718")
				rec := httptest.NewRecorder()
				bc.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkProxiedHit measures one authenticated GET through each engine
// in proxy mode (a verifier that answers at once, as a cache hit does;
// identity headers set, the credential hidden, X-Forwarded-For resolved),
// with a fasthttp client and a fasthttp upstream on loopback, and the same
// client straight to the upstream ("direct"), so that an engine's own cost
// is its figure less direct's. Compare allocs/op:
//
//	go test -run '^$' -bench BenchmarkProxiedHit -benchmem ./internal/gateway
func BenchmarkProxiedHit(b *testing.B) {
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(fc *fasthttp.RequestCtx) {
		fc.SetContentType("application/json")
		fc.SetBodyString(`{"message":"hello"}`)
	}}
	go func() { _ = up.Serve(upLn) }()
	defer func() { _ = up.Shutdown() }()
	upURL := "http://" + upLn.Addr().String()

	for _, bc := range []struct {
		name   string
		engine EngineFunc
	}{{"direct", nil}, {"nethttp", NetHTTP}, {"fasthttp", FastHTTP}} {
		b.Run(bc.name, func(b *testing.B) {
			base := upURL
			if bc.engine != nil {
				base = frontProxyLog(b, bc.engine, upURL, slog.New(slog.DiscardHandler))
			}
			hc := &fasthttp.HostClient{Addr: strings.TrimPrefix(base, "http://"), Dial: func(addr string) (net.Conn, error) {
				return net.Dial("tcp", addr)
			}}
			defer hc.CloseIdleConnections()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(base + "/hello?x=1")
			req.Header.Set("Authorization", "Bearer a-token-of-typical-length-0123456789abcdef")
			req.Header.Set("Accept", "application/json")
			req.Header.Set("X-Auth-User-Id", "spoofed")
			b.ReportAllocs()
			for b.Loop() {
				if err := hc.Do(req, resp); err != nil || resp.StatusCode() != http.StatusOK {
					b.Fatalf("status %d, %v", resp.StatusCode(), err)
				}
			}
		})
	}
}

// BenchmarkForwardAuthHit measures one allowed auth subrequest, as nginx
// auth_request sends it (X-Original-URI and X-Original-Method, the bearer
// token, X-Forwarded-For), through each engine in forward-auth mode, with a
// verifier that answers at once as a cache hit does and a fasthttp client
// on loopback. Compare allocs/op:
//
//	go test -run '^$' -bench BenchmarkForwardAuthHit -benchmem ./internal/gateway
func BenchmarkForwardAuthHit(b *testing.B) {
	log := slog.New(slog.DiscardHandler)
	user := &verifier.User{ID: "u1", Data: `{"plan":"pro"}`}
	v := verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) { return user, nil })
	for _, bc := range []struct {
		name   string
		engine EngineFunc
	}{{"nethttp", NetHTTP}, {"fasthttp", FastHTTP}} {
		b.Run(bc.name, func(b *testing.B) {
			m := middleware.New(v,
				middleware.WithIdentityHeaders(middleware.IdentityHeaders{KeepCredential: true}),
				middleware.WithClientAddress(),
				middleware.WithLogger(log))
			e, err := bc.engine(DataPath{
				Mode: ModeForwardAuth, Auth: m, Logger: log,
				Limits: Limits{ReadHeaderTimeout: 10 * time.Second, BodyIdleTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10},
			})
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- e.Serve(ln) }()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = e.Shutdown(ctx)
				<-served
			}()
			hc := &fasthttp.HostClient{Addr: ln.Addr().String(), Dial: func(addr string) (net.Conn, error) {
				return net.Dial("tcp", addr)
			}}
			defer hc.CloseIdleConnections()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + ln.Addr().String() + "/auth")
			req.Header.Set("Authorization", "Bearer a-token-of-typical-length-0123456789abcdef")
			req.Header.Set("X-Original-Uri", "/api/items?page=2")
			req.Header.Set("X-Original-Method", "GET")
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			req.Header.Set("X-Auth-User-Id", "spoofed")
			b.ReportAllocs()
			for b.Loop() {
				if err := hc.Do(req, resp); err != nil || resp.StatusCode() != http.StatusOK {
					b.Fatalf("status %d, %v", resp.StatusCode(), err)
				}
			}
		})
	}
}

// BenchmarkIdleConnMemory reports the heap each idle keep-alive client
// connection holds, on each engine, in forward-auth mode: 500 connections
// each send one authenticated request and stay open. fasthttp reads a
// request header into one buffer of MaxHeaderBytes for as long as the
// connection is open (the README's engine section); net/http reads through
// 4 KiB. One iteration opens and closes the 500 connections.
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			emu, _, tok := newEmulator(b)
			cfg := emulatorConfig(emu, newLogger(io.Discard))
			cfg.Engine = e.fn
			r := runGateway(b, cfg)
			<-r.g.Ready()
			addr := strings.TrimPrefix(r.data, "http://")
			const n = 500
			var perConn float64
			for b.Loop() {
				before := heapInUse()
				conns := make([]net.Conn, 0, n)
				for range n {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						b.Fatal(err)
					}
					conns = append(conns, c)
					if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer "+tok+"\r\n\r\n"); err != nil {
						b.Fatal(err)
					}
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
				perConn = (float64(heapInUse()) - float64(before)) / n
				for _, c := range conns {
					c.Close()
				}
			}
			b.ReportMetric(perConn/1024, "heap-KiB/conn")
		})
	}
}

// heapInUse returns the heap in use after two collections.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
