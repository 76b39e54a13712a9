package bench

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// serve runs h on r once per iteration into one reusable recorder.
func serve(b *testing.B, h http.Handler, r *http.Request) {
	w := newRecorder()
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// serveParallel runs h under b.RunParallel, each goroutine walking reqs
// from its own random start with its own recorder. The requests are shared
// read-only: in library mode neither h nor the middleware writes to them.
//
// It also reports cpu-ns/op, the process's CPU time per request (garbage
// collection included): when other processes take CPU from the benchmark,
// ns/op degrades but cpu-ns/op does not, and if goroutines on different
// cores contended, cpu-ns/op would grow with -cpu. On a machine with other
// load, 2 * cpu-ns/op(-cpu 1) / cpu-ns/op(-cpu 2) estimates the 2-core
// speed-up better than the ratio of ns/op.
func serveParallel(b *testing.B, h http.Handler, reqs []*http.Request) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	defer func() {
		if cpu := processCPU() - cpu0; cpu > 0 {
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		w := newRecorder()
		i := rand.IntN(len(reqs))
		for pb.Next() {
			w.reset()
			h.ServeHTTP(w, reqs[i])
			if w.code != http.StatusOK {
				b.Errorf("status %d", w.code)
				return
			}
			if i++; i == len(reqs) {
				i = 0
			}
		}
	})
}

// BenchmarkBareHandler is the baseline: the handler alone, on the same
// request the hit benchmark sends.
func BenchmarkBareHandler(b *testing.B) {
	serve(b, app, getHit(b, 1).reqs[0])
}

// floorHandler is the floor a cache-hit middleware is measured against:
// read the Authorization header, look its token up in a map, attach the
// user with context.WithValue and r.WithContext, and nothing more. It checks
// no syntax, keeps no expiry, counts nothing, strips no identity header, and
// keeps the raw tokens in memory, all of which tokenguard does (or must
// not). users must hold more than 8 entries, so that lookups hash the token
// as a large map's do (Go's maps compare the keys of a map of up to 8
// entries without hashing).
func floorHandler(users map[string]*verifier.User, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header["Authorization"]
		if len(v) != 1 || len(v[0]) < len("Bearer ") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		u, ok := users[v[0][len("Bearer "):]]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(middleware.NewContext(r.Context(), u)))
	})
}

// newFloor returns floorHandler over app, knowing the users of h's warm
// tokens and 1,024 made-up tokens besides.
func newFloor(tb testing.TB, h *hit) http.Handler {
	tb.Helper()
	users := make(map[string]*verifier.User, len(h.reqs)+1024)
	for i := range 1024 {
		users["made-up-token-"+strconv.Itoa(i)] = &verifier.User{ID: strconv.Itoa(i)}
	}
	for _, r := range h.reqs {
		tok := r.Header.Get("Authorization")[len("Bearer "):]
		u, err := h.cache.Verify(context.Background(), tok) // a hit: the tokens are warm
		if err != nil {
			tb.Fatal(err)
		}
		users[tok] = u
	}
	return floorHandler(users, app)
}

// BenchmarkFloor is the floor: the least a cache-hit middleware can do
// (floorHandler), on the request the hit benchmark sends. The hit path's
// cost over BenchmarkBareHandler, divided by this one's, is how far
// tokenguard is from the floor (bench/callgrind.sh prints it).
func BenchmarkFloor(b *testing.B) {
	h := getHit(b, 1)
	serve(b, newFloor(b, h), h.reqs[0])
}

// BenchmarkMiddlewareCacheHit is the hit path: middleware.New over
// cache.New over the verifier client, a token the cache holds. It costs
// exactly 1 allocation over BenchmarkBareHandler: the middleware's context
// value, which holds the request's copy (BenchmarkFloor needs 2).
func BenchmarkMiddlewareCacheHit(b *testing.B) {
	h := getHit(b, 1)
	serve(b, h.library, h.reqs[0])
}

// BenchmarkBareHandlerParallel is the parallel baseline, over the same
// requests as BenchmarkMiddlewareCacheHitParallel. Compare -cpu 1,2.
func BenchmarkBareHandlerParallel(b *testing.B) {
	serveParallel(b, app, getHit(b, poolSize).reqs)
}

// BenchmarkMiddlewareCacheHitParallel is the hit path under b.RunParallel,
// over the warm tokens of 1,024 users. Compare -cpu 1,2: a hit takes no
// exclusive lock, so throughput should grow with the cores as the bare
// handler's does.
func BenchmarkMiddlewareCacheHitParallel(b *testing.B) {
	h := getHit(b, poolSize)
	serveParallel(b, h.library, h.reqs)
}

// BenchmarkFloorParallel is the floor (floorHandler) under b.RunParallel,
// over the same requests: a read-only map and two allocations
// (context.WithValue, Request.WithContext), and no write to shared memory
// of its own. Its CPU per
// request at -cpu 2 over -cpu 1, beside the hit path's, tells what the
// runtime's allocator and collector cost its allocations when the
// cores allocate at once from what the hit path's own code costs.
func BenchmarkFloorParallel(b *testing.B) {
	h := getHit(b, poolSize)
	serveParallel(b, newFloor(b, h), h.reqs)
}

// gatewayRequest returns a copy of r to send through a gateway-mode
// middleware repeatedly, and a func that restores its headers in place
// (without allocating) after the middleware removed the Authorization header
// and added identity headers.
func gatewayRequest(r *http.Request) (*http.Request, func()) {
	g := r.Clone(r.Context())
	orig := r.Header
	return g, func() {
		clear(g.Header)
		for k, v := range orig {
			g.Header[k] = v
		}
	}
}

// BenchmarkGatewayHit is the hit path in gateway mode: the middleware also
// sets the six X-Auth-* identity headers and removes the Authorization
// header before the handler runs, and resolves the client address for the
// verifier (WithClientAddress), as internal/gateway does. Each iteration first restores the
// request's three headers in place, which costs a few tens of ns.
func BenchmarkGatewayHit(b *testing.B) {
	h := getHit(b, 1)
	r, restore := gatewayRequest(h.reqs[0])
	w := newRecorder()
	b.ReportAllocs()
	for b.Loop() {
		restore()
		w.reset()
		h.gateway.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}
