package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// tokenTTL is the lifetime of the emulator's tokens and of the fixture
// cache's entries: long enough that nothing lapses during a -count 10 run.
const tokenTTL = 12 * time.Hour

// poolSize is the number of warm tokens the parallel benchmarks spread over,
// one per user, so that parallel hits land on every shard as real traffic
// does.
const poolSize = 1024

// quiet discards the middleware's log lines (refusals log at info).
var quiet = slog.New(slog.DiscardHandler)

// env is the emulator and a logged-in client over it, shared by every test
// and benchmark of the package: starting them once keeps set-up out of the
// figures, and out of the callgrind counts.
type env struct {
	srv    *appservicestest.Server
	client *appservices.Client
}

var (
	envMu    sync.Mutex
	envState *env
)

// getEnv returns the shared env, starting it on first use.
func getEnv(tb testing.TB) *env {
	tb.Helper()
	envMu.Lock()
	defer envMu.Unlock()
	if envState != nil {
		return envState
	}
	srv := appservicestest.NewServer(appservicestest.WithTokenTTL(tokenTTL))
	client, err := appservices.NewClient(srv.Config())
	if err == nil {
		err = client.Login(context.Background())
	}
	if err != nil {
		srv.Close()
		tb.Fatalf("client over the emulator: %v", err)
	}
	envState = &env{srv: srv, client: client}
	return envState
}

// closeEnv stops the shared env, if it was started.
func closeEnv() {
	envMu.Lock()
	defer envMu.Unlock()
	if envState != nil {
		envState.srv.Close()
		envState = nil
	}
}

// verifyCalls is the number of verify_token calls the emulator has answered.
func (e *env) verifyCalls() int64 { return e.srv.Calls(appservicestest.EndpointVerifyToken) }

// newUsers adds n users to the emulator and returns their ids.
func (e *env) newUsers(tb testing.TB, n int) []string {
	tb.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.srv.AddUser(fmt.Sprintf("bench-%d-%d@example.com", time.Now().UnixNano(), i), "password")
	}
	return ids
}

// mint returns a fresh access token of user.
func (e *env) mint(tb testing.TB, user string) string {
	tb.Helper()
	tok, err := e.srv.NewAccessToken(user)
	if err != nil {
		tb.Fatalf("mint: %v", err)
	}
	return tok
}

// newCache returns a cache over the env's client, as the gateway builds
// it: its own registry, entries living as long as the tokens.
func (e *env) newCache() *cache.Cache {
	return cache.New(e.client, cache.Options{TTL: tokenTTL, MaxTokenLifetime: tokenTTL, Registerer: prometheus.NewRegistry()})
}

// newMiddleware returns a middleware over v with metrics and without logs,
// plus opts.
func newMiddleware(v verifier.Verifier, opts ...middleware.Option) *middleware.Middleware {
	return middleware.New(v, append([]middleware.Option{middleware.WithLogger(quiet), middleware.WithRegisterer(prometheus.NewRegistry())}, opts...)...)
}

// hit is the warm fixture of the hit benchmarks: one cache over the client,
// the library-mode and gateway-mode middlewares over it, and requests
// carrying tokens the cache holds.
type hit struct {
	*env
	cache   *cache.Cache
	library http.Handler // middleware.New(cache).Handler(app)
	gateway http.Handler // the same in gateway mode: identity headers and client addresses, as internal/gateway builds it
	users   []string     // users[i] owns the token of reqs[i]
	reqs    []*http.Request
}

var (
	hitMu    sync.Mutex
	hitState *hit
)

// getHit returns the shared hit fixture with at least n warm requests.
func getHit(tb testing.TB, n int) *hit {
	tb.Helper()
	e := getEnv(tb)
	hitMu.Lock()
	defer hitMu.Unlock()
	if hitState == nil {
		c := e.newCache()
		hitState = &hit{
			env:     e,
			cache:   c,
			library: newMiddleware(c).Handler(app),
			gateway: newMiddleware(c, middleware.WithIdentityHeaders(middleware.IdentityHeaders{}), middleware.WithClientAddress()).Handler(app),
		}
	}
	h := hitState
	if more := n - len(h.reqs); more > 0 {
		for _, u := range e.newUsers(tb, more) {
			tok := e.mint(tb, u)
			if _, err := h.cache.Verify(context.Background(), tok); err != nil {
				tb.Fatalf("warm the cache: %v", err)
			}
			h.users = append(h.users, u)
			h.reqs = append(h.reqs, newRequest(tok))
		}
	}
	return h
}

// newRequest returns a GET with tok as Bearer credentials and the headers a
// browser's API call would carry.
func newRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "bench")
	return r
}

// app is the handler behind the middleware: it reads the user, as any
// handler would, and answers 200 with the user's id, or with anonymousID
// when there is none. Both answers have the same length, so that the bare
// handler (BenchmarkBareHandler, which gets no user) does the same work as
// the handler behind the middleware, and the difference between the two
// is the middleware's alone.
var app = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id := anonymousID
	if u, ok := middleware.UserFromContext(r.Context()); ok {
		id = u.ID
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, id)
})

// anonymousID is what app answers without a user: as long as an App
// Services user id (a 24-digit hex ObjectID), and unlike any.
const anonymousID = "anonymous-user-000000000"

// recorder is a reusable http.ResponseWriter that keeps the status, headers
// and body, and allocates nothing once its buffers have grown, unlike
// httptest.ResponseRecorder. reset readies it for the next request.
type recorder struct {
	header http.Header
	code   int
	body   []byte
}

func newRecorder() *recorder { return &recorder{header: make(http.Header)} }

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}

func (w *recorder) WriteString(s string) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, s...)
	return len(s), nil
}

func (w *recorder) reset() {
	clear(w.header)
	w.code = 0
	w.body = w.body[:0]
}
