package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/verifier"
)

// t0 is the fake clock's start: a whole second, like JWT times.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock; tests move it, nothing sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var signingKey = []byte("test-signing-key")

// tokenSpec describes a test access token; zero fields get App Services-like
// defaults relative to now.
type tokenSpec struct {
	sub      string
	iat, exp time.Time
	typ      string // "" = "access"; "-" = no typ claim
	extra    map[string]any
}

// newToken signs an App Services-shaped access token (about 405 bytes with
// the default claims).
func newToken(tb testing.TB, now time.Time, s tokenSpec) string {
	tb.Helper()
	if s.sub == "" {
		s.sub = "63ed812a43be72c176aa5d21"
	}
	if s.iat.IsZero() {
		s.iat = now
	}
	if s.exp.IsZero() {
		s.exp = s.iat.Add(30 * time.Minute)
	}
	c := jwt.MapClaims{
		"baas_device_id":  "000000000000000000000000",
		"baas_domain_id":  "5cdb12408e232ac4f9587fe8",
		"exp":             s.exp.Unix(),
		"iat":             s.iat.Unix(),
		"iss":             "63ed812a43be72c176aa5d23",
		"stitch_devId":    "000000000000000000000000",
		"stitch_domainId": "5cdb12408e232ac4f9587fe8",
		"sub":             s.sub,
	}
	switch s.typ {
	case "":
		c["typ"] = "access"
	case "-":
	default:
		c["typ"] = s.typ
	}
	for k, v := range s.extra {
		c[k] = v
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(signingKey)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// upstream is a fake App Services verify_token: it checks the signature and
// expiry like the real one, counts calls, and can be made to fail or block.
type upstream struct {
	now   func() time.Time
	calls atomic.Int64

	mu      sync.Mutex
	err     error         // if set, every call fails with it
	entered chan string   // if set, each call sends its token here on entry
	release chan struct{} // if set, each call waits for it (or its ctx)
}

func newUpstream(now func() time.Time) *upstream { return &upstream{now: now} }

func (u *upstream) setErr(err error) {
	u.mu.Lock()
	u.err = err
	u.mu.Unlock()
}

// block makes calls wait until the returned function is called; entered
// receives each call's token as it starts waiting.
func (u *upstream) block() (entered <-chan string, release func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.entered = make(chan string, 1024)
	u.release = make(chan struct{})
	rel := u.release
	var once sync.Once
	return u.entered, func() { once.Do(func() { close(rel) }) }
}

func (u *upstream) Verify(ctx context.Context, token string) (*verifier.User, error) {
	u.calls.Add(1)
	u.mu.Lock()
	err, entered, release := u.err, u.entered, u.release
	u.mu.Unlock()
	if entered != nil {
		entered <- token
	}
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, fmt.Errorf("fake upstream: %w: %w", verifier.ErrUnavailable, ctx.Err())
		}
	}
	if err != nil {
		return nil, err
	}
	var c jwt.MapClaims
	_, perr := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return signingKey, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(u.now))
	switch {
	case errors.Is(perr, jwt.ErrTokenExpired):
		return nil, verifier.ErrTokenExpired
	case perr != nil:
		return nil, fmt.Errorf("fake upstream: %w", verifier.ErrInvalidToken)
	}
	sub, _ := c.GetSubject()
	iat, _ := c.GetIssuedAt()
	exp, _ := c.GetExpirationTime()
	usr := &verifier.User{ID: sub, SessionID: "63ed812a43be72c176aa5d23"}
	if iat != nil {
		usr.IssuedAt = iat.Time
	}
	if exp != nil {
		usr.ExpiresAt = exp.Time
	}
	return usr, nil
}

// newTestCache returns a cache over a fake upstream, both on a fake clock.
func newTestCache(tb testing.TB, opts Options) (*Cache, *upstream, *fakeClock) {
	tb.Helper()
	clk := newFakeClock()
	up := newUpstream(clk.Now)
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	return New(up, opts), up, clk
}

// recv waits for one value from ch, failing the test after a generous
// bound (a deadlock guard, not synchronisation).
func recv[T any](tb testing.TB, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatal("timed out waiting on channel")
		panic("unreachable")
	}
}
