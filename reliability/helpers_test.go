package reliability

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

var (
	soak         = flag.Bool("soak", false, "run the long fault matrix and TestSoak (make soak)")
	soakDuration = flag.Duration("soak-duration", 5*time.Minute, "how long TestSoak loads the proxy")
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// epoch is where every fake clock starts: a fixed instant, so that whole
// seconds (JWT iat and exp) never straddle a tick by accident.
var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is the one clock the emulator, the verifier client and the cache
// share. Tests move it with Advance; nothing sleeps.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return epoch.Add(time.Duration(c.off.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// countingTransport counts the requests the verifier client attempts per
// Admin API operation, whether or not they reach the emulator (a refused
// connection counts).
type countingTransport struct {
	base                   http.RoundTripper
	verify, login, refresh atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/users/verify_token"):
		t.verify.Add(1)
	case strings.HasSuffix(p, "/login"):
		t.login.Add(1)
	case strings.HasSuffix(p, "/auth/session"):
		t.refresh.Add(1)
	}
	return t.base.RoundTrip(r)
}

// chain is the whole request path over real loopback HTTP: a client sends
// requests to an httptest server running middleware.New(cache.New(client)),
// whose verifier client talks to the emulator; truth.next sits behind it.
type chain struct {
	clk    *fakeClock
	srv    *appservicestest.Server
	rt     *countingTransport
	client *appservices.Client
	cache  *cache.Cache
	reg    *prometheus.Registry
	truth  *truth
	front  *httptest.Server
	hc     *http.Client
	seq    atomic.Int64 // for unique emails
}

type chainOptions struct {
	cache         cache.Options // Now and Registerer are set by newChain
	clientTimeout time.Duration // appservices.Config.Timeout; 0: its default
}

func newChain(t testing.TB, o chainOptions) *chain {
	t.Helper()
	c := &chain{clk: &fakeClock{}, reg: prometheus.NewRegistry(), truth: newTruth()}
	c.srv = appservicestest.NewServer(appservicestest.WithClock(c.clk.Now))
	cfg := c.srv.Config()
	c.rt = &countingTransport{base: c.srv.Client().Transport}
	cfg.HTTPClient = &http.Client{Transport: c.rt}
	cfg.Now = c.clk.Now
	cfg.Timeout = o.clientTimeout
	client, err := appservices.NewClient(cfg)
	require.NoError(t, err)
	c.client = client
	o.cache.Now = c.clk.Now
	o.cache.Registerer = c.reg
	c.cache = cache.New(client, o.cache)
	client.OnRevoke(verifier.RevokerFunc(func(_ context.Context, user string, at time.Time) error {
		c.truth.revoke(user, at) // first: the truth is never behind the cache
		return nil
	}))
	client.OnRevoke(c.cache)
	m := middleware.New(c.cache,
		middleware.WithLogger(slog.New(slog.DiscardHandler)),
		middleware.WithRegisterer(c.reg))
	c.front = httptest.NewServer(m.Handler(c.truth.next()))
	c.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	require.NoError(t, client.Login(context.Background()))
	return c
}

// close stops everything the chain started.
func (c *chain) close() {
	c.front.Close()
	c.hc.CloseIdleConnections()
	c.srv.Close()
}

// newUser adds a user to the emulator and the truth.
func (c *chain) newUser() string {
	id := c.srv.AddUser(fmt.Sprintf("user%d@example.com", c.seq.Add(1)), "pw")
	c.truth.addUser(id)
	return id
}

// token opens a fresh session for user and returns its access token.
func (c *chain) token(t testing.TB, user string) string {
	t.Helper()
	now := c.clk.Now()
	tok, err := c.srv.NewAccessToken(user)
	require.NoError(t, err)
	c.truth.addToken(tok, user, now)
	return tok
}

// revoke revokes user's tokens issued at or before at directly in the cache
// (what the revoke webhook does).
func (c *chain) revoke(user string, at time.Time) {
	c.truth.revoke(user, at)
	c.cache.Revoke(context.Background(), user, at)
}

// result is one answer of the front server.
type result struct {
	status     int
	retryAfter string
}

// send makes one GET per token, concurrently (at most 48 at a time), and
// returns the answers in order. midway, if not nil, runs once half of the
// answers are in, while the rest are in flight.
func (c *chain) send(t testing.TB, tokens []string, midway func()) []result {
	t.Helper()
	out := make([]result, len(tokens))
	sem := make(chan struct{}, 48)
	done := make(chan struct{}, len(tokens))
	var wg sync.WaitGroup
	for i, tok := range tokens {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem; done <- struct{}{} }()
			out[i] = c.get(t, tok)
		})
		if midway != nil && i == len(tokens)/2 {
			for range len(tokens) / 2 {
				<-done
			}
			midway()
			midway = nil
		}
	}
	wg.Wait()
	return out
}

func (c *chain) get(t testing.TB, tok string) result {
	req, err := http.NewRequest(http.MethodGet, c.front.URL+"/", nil)
	if err != nil {
		t.Error(err)
		return result{}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Errorf("front request: %v", err)
		return result{}
	}
	defer resp.Body.Close()
	_, _ = resp.Body.Read(make([]byte, 512))
	return result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
}

// forged returns a well-formed, unexpired access token for user, signed with
// a key App Services does not have: only the upstream can tell it is bad.
func forged(user string, now time.Time) string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "typ": "access", "iss": randHex(12),
		"iat": now.Unix(), "exp": now.Add(30 * time.Minute).Unix(),
	}).SignedString(key)
	if err != nil {
		panic(err)
	}
	return tok
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// metric returns the value of the counter or gauge name whose labels include
// labels, summed over the matching series, from reg.
func metric(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// notifyCtx is a context that reports, once, the first time Done is called:
// cache.Verify calls it when the caller starts waiting for the shared
// upstream call, so a test knows every caller has joined without sleeping.
type notifyCtx struct {
	context.Context
	once    sync.Once
	waiting chan<- struct{}
}

func (c *notifyCtx) Done() <-chan struct{} {
	c.once.Do(func() { c.waiting <- struct{}{} })
	return c.Context.Done()
}

// recv waits for one value on ch, failing the test after a generous bound
// (a deadlock guard, not a synchronisation delay).
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
