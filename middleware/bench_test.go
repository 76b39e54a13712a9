package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/verifier"
)

// fixedVerifier answers every token with testUser, allocating nothing, like
// a warm cache.
var fixedVerifier = verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) {
	return testUser, nil
})

// nopWriter is a ResponseWriter that allocates nothing.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w nopWriter) WriteHeader(int)             {}

// benchNext reads the user, as a real handler would, and writes nothing.
var benchNext = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = UserFromContext(r.Context())
})

func hitRequest() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil)
	req.Header.Set("Authorization", "Bearer "+goodToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench")
	return req
}

func benchHandler(b *testing.B, h http.Handler) {
	req, w := hitRequest(), nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// BenchmarkBareHandler is the baseline: the next handler alone.
func BenchmarkBareHandler(b *testing.B) { benchHandler(b, benchNext) }

// BenchmarkHandlerHit is the middleware in library mode over a verifier that
// answers from memory. It should cost exactly 1 alloc/op over the baseline:
// the request's context value (user, client address if on, and the copy of
// the request Request.WithContext makes).
func BenchmarkHandlerHit(b *testing.B) {
	benchHandler(b, New(fixedVerifier, WithLogger(quiet)).Handler(benchNext))
}

// BenchmarkHandlerHitMetrics adds the Prometheus counter: no more allocations.
func BenchmarkHandlerHitMetrics(b *testing.B) {
	m := New(fixedVerifier, WithLogger(quiet), WithRegisterer(prometheus.NewRegistry()))
	benchHandler(b, m.Handler(benchNext))
}

// BenchmarkHandlerHitGateway sets identity headers and hides the token: a
// request header map is rebuilt per request, so the request is cloned. Of
// its 6 allocs/op, 3 are that clone (the request and its header map); the
// middleware adds 3 (the identity values, the context value, WithContext), the
// identity being memoized per *User (TestHitPathAllocationsGateway).
func BenchmarkHandlerHitGateway(b *testing.B) {
	h := New(fixedVerifier, WithLogger(quiet), WithIdentityHeaders(IdentityHeaders{})).Handler(benchNext)
	req, w := hitRequest(), nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := *req
		r.Header = http.Header{"Authorization": req.Header["Authorization"]}
		h.ServeHTTP(w, &r)
	}
}

// BenchmarkAuthenticate is the engine-neutral core alone.
func BenchmarkAuthenticate(b *testing.B) {
	m := New(fixedVerifier, WithLogger(quiet))
	src := httpSource{hitRequest()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d := m.Authenticate(ctx, src); d.User == nil {
			b.Fatal("not authenticated")
		}
	}
}

func TestHitPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	w := nopWriter{h: http.Header{}}
	measure := func(h http.Handler) float64 {
		req := hitRequest()
		return testing.AllocsPerRun(200, func() { h.ServeHTTP(w, req) })
	}
	bare := measure(benchNext)
	for name, m := range map[string]*Middleware{
		"library":                   New(fixedVerifier, WithLogger(quiet)),
		"metrics":                   New(fixedVerifier, WithLogger(quiet), WithRegisterer(prometheus.NewRegistry())),
		"default logger, debug off": New(fixedVerifier),
		"credentials optional":      New(fixedVerifier, WithLogger(quiet), WithCredentialsOptional(true)),
	} {
		if got := measure(m.Handler(benchNext)) - bare; got != 1 {
			t.Errorf("%s: %v allocs over the bare handler, want 1 (the context value, which holds WithContext's copy of the request)", name, got)
		}
	}

	m := New(fixedVerifier, WithLogger(quiet))
	src, ctx := httpSource{hitRequest()}, context.Background()
	if got := testing.AllocsPerRun(200, func() { m.Authenticate(ctx, src) }); got != 0 {
		t.Errorf("Authenticate: %v allocs, want 0", got)
	}
	bearer := httpSource{hitRequest()}
	if got := testing.AllocsPerRun(200, func() { _, _ = LookupBearer().extract(bearer, defaultMaxTokenLength) }); got != 0 {
		t.Errorf("LookupBearer: %v allocs, want 0", got)
	}
}

// TestForwardAuthAllocations pins the allocations of an allowed auth
// subrequest on the net/http ForwardAuth handler: the forward source
// (an interface value Authenticate keeps), the client address context,
// the identity headers' empty user data appended, setHeaders' values, and,
// without X-Original-Uri, the subrequest's own URI rebuilt.
func TestForwardAuthAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := New(fixedVerifier, WithLogger(quiet), WithIdentityHeaders(IdentityHeaders{KeepCredential: true}), WithClientAddress())
	h := m.ForwardAuth()
	w := nopWriter{h: http.Header{}}
	nginx := hitRequest()
	nginx.Header.Set("X-Original-Uri", "/api/items?page=2")
	nginx.Header.Set("X-Original-Method", "GET")
	if got := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, nginx) }); got != 4 {
		t.Errorf("nginx subrequest: %v allocs, want 4", got)
	}
	envoy := hitRequest()
	if got := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, envoy) }); got != 5 {
		t.Errorf("Envoy subrequest: %v allocs, want 5", got)
	}
}
