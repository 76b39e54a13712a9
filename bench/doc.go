// Package bench holds tokenguard's in-process benchmarks of the whole request
// path: net/http handler, middleware, cache and verifier client, with the
// App Services emulator (package appservicestest) on loopback behind them. It
// has no API; its _test.go files are the benchmarks, and bench/load is the
// load harness that runs real processes.
//
// Each benchmark compares the middleware with the bare handler it wraps,
// both writing into a reusable ResponseWriter that allocates nothing, so
// that the figures show the middleware's own cost and not httptest's:
//
//	BenchmarkBareHandler                the handler alone (reads the user, writes 200)
//	BenchmarkMiddlewareCacheHit         middleware.New(cache.New(client)), one warm token
//	BenchmarkBareHandlerParallel        the same two under b.RunParallel, over 1,024
//	BenchmarkMiddlewareCacheHitParallel   warm tokens of 1,024 users
//	BenchmarkGatewayHit                 gateway mode: identity headers set, Authorization removed
//	BenchmarkMiss                       a fresh token per request, verified by the emulator
//	BenchmarkPrecheckRejection          non-JWT, expired and refresh tokens: 401, no upstream call
//	BenchmarkRevoke                     Cache.Revoke of a user holding 4 cached tokens
//
// The middleware and the cache run as the gateway runs them, each counting
// into its own Prometheus registry, with logging discarded. The parallel
// benchmarks also report cpu-ns/op, the process's CPU time per request,
// which other load on the machine does not inflate as it does ns/op.
//
// Run them with
//
//	go test -run '^$' -bench . -benchmem -count 10 ./bench/ > new.txt
//	benchstat old.txt new.txt
//
// (make bench-micro does this, with the benchmarks of package cache and
// package middleware), and measure instructions per request of the hit path
// with bench/callgrind.sh, which runs the benchmark binary under valgrind at
// two iteration counts so that set-up costs cancel, and breaks the figure
// down by function.
//
// The hit path must cost exactly 1 allocation over the bare handler
// (the middleware's context value, which holds the request's copy; the
// floor needs 2): TestHitPathAllocations checks that, and TestBenchSetup
// that every fixture does what its benchmark claims.
package bench
