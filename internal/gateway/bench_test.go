package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
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
