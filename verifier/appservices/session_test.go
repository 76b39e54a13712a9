package appservices

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// bearerSeen records the admin access token of each verify call.
func bearerSeen(f *fakeAPI) func() []string {
	var mu sync.Mutex
	var seen []string
	f.handle(http.MethodPost, "/users/verify_token", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		answer(200, claimsBody)(w, r)
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

func TestAdminSessionLifetime(t *testing.T) {
	tests := []struct {
		name string
		// issue makes the n-th admin access token; nil: opaque "access-n".
		issue     func(clock *fakeClock, n int) string
		advance   time.Duration
		refreshes int64
	}{
		{name: "opaque token, well before expiry", advance: 29 * time.Minute, refreshes: 0},
		{name: "opaque token, past its 30 minutes", advance: 30*time.Minute + time.Second, refreshes: 1},
		{name: "JWT exp, well before expiry", issue: jwtIssuer(0, 10*time.Minute), advance: 9 * time.Minute, refreshes: 0},
		{name: "JWT exp, past it", issue: jwtIssuer(0, 10*time.Minute), advance: 10*time.Minute + time.Second, refreshes: 1},
		{name: "JWT from a server an hour behind: lifetime counts, not exp",
			issue: jwtIssuer(-time.Hour, 10*time.Minute), advance: 9 * time.Minute, refreshes: 0},
		{name: "JWT without iat: exp", issue: jwtIssuer(0, 10*time.Minute, "noiat"), advance: 10*time.Minute + time.Second, refreshes: 1},
		{name: "JWT with exp long past: 30 minutes assumed",
			issue: jwtIssuer(-time.Hour, 10*time.Minute, "noiat"), advance: 29 * time.Minute, refreshes: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			clock := newFakeClock()
			if tt.issue != nil {
				f.issue = func(n int) string { return tt.issue(clock, n) }
			}
			seen := bearerSeen(f)
			c := newTestClient(t, f, clock)
			ctx := testCtx(t)

			_, err := c.Verify(ctx, testToken)
			require.NoError(t, err)
			clock.Advance(tt.advance)
			_, err = c.Verify(ctx, testToken)
			require.NoError(t, err)

			assert.EqualValues(t, 1, f.logins.Load())
			assert.Equal(t, tt.refreshes, f.refreshes.Load())
			got := seen()
			require.Len(t, got, 2)
			assert.Equal(t, tt.refreshes == 0, got[0] == got[1], "second call's token: %v", got)
		})
	}
}

// jwtIssuer makes admin access tokens as JWTs issued at the clock's time
// plus skew and living for life. With "noiat" they carry no iat.
func jwtIssuer(skew, life time.Duration, flags ...string) func(*fakeClock, int) string {
	return func(clock *fakeClock, n int) string {
		iat := clock.Now().Add(skew)
		claims := jwt.MapClaims{"exp": iat.Add(life).Unix(), "n": n}
		if len(flags) == 0 {
			claims["iat"] = iat.Unix()
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("admin-key"))
		if err != nil {
			panic(err)
		}
		return s
	}
}

func TestAdminRefreshWithinMarginDoesNotWait(t *testing.T) {
	f := newFakeAPI(t)
	clock := newFakeClock()
	seen := bearerSeen(f)
	entered, release := make(chan struct{}), make(chan struct{})
	f.setHooks(nil, blockUntil(entered, release))
	c := newTestClient(t, f, clock)
	ctx := testCtx(t)
	require.NoError(t, c.Login(ctx))

	clock.Advance(30*time.Minute - 10*time.Second) // inside the 30 s margin
	_, err := c.Verify(ctx, testToken)             // the refresh is blocked, yet this returns
	require.NoError(t, err)
	<-entered
	close(release)
	clock.Advance(20 * time.Second) // the first token has now expired
	_, err = c.Verify(ctx, testToken)
	require.NoError(t, err)

	assert.EqualValues(t, 1, f.refreshes.Load())
	assert.Equal(t, []string{"Bearer access-1", "Bearer access-2"}, seen())
}

func TestAdminRefreshFailureFallsBackToLogin(t *testing.T) {
	tests := []struct {
		name    string
		refresh func(w http.ResponseWriter, r *http.Request) bool
	}{
		{name: "refresh refused", refresh: func(w http.ResponseWriter, _ *http.Request) bool {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid session", "error_code": CodeInvalidSession})
			return true
		}},
		{name: "refresh 500", refresh: func(w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}},
		{name: "refresh malformed", refresh: func(w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"access_token":`))
			return true
		}},
		{name: "refresh without token", refresh: func(w http.ResponseWriter, _ *http.Request) bool {
			writeJSON(w, http.StatusCreated, map[string]string{})
			return true
		}},
		{name: "connection reset", refresh: func(w http.ResponseWriter, _ *http.Request) bool {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			clock := newFakeClock()
			seen := bearerSeen(f)
			f.setHooks(nil, tt.refresh)
			c := newTestClient(t, f, clock)
			ctx := testCtx(t)
			require.NoError(t, c.Login(ctx))

			clock.Advance(time.Hour)
			_, err := c.Verify(ctx, testToken)
			require.NoError(t, err)

			assert.EqualValues(t, 1, f.refreshes.Load())
			assert.EqualValues(t, 2, f.logins.Load())
			assert.Equal(t, []string{"Bearer access-2"}, seen())
		})
	}
}

func TestAdminLoginFailure(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Config)
		login  func(w http.ResponseWriter, r *http.Request) bool
		status int // of the *APIError; 0: none
	}{
		{name: "wrong private key", edit: func(c *Config) { c.PrivateKey = "nope" }, status: 401},
		{name: "wrong public key", edit: func(c *Config) { c.PublicKey = "nope" }, status: 401},
		{name: "503", login: func(w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}, status: 503},
		{name: "no access token", login: func(w http.ResponseWriter, _ *http.Request) bool {
			writeJSON(w, http.StatusOK, map[string]string{"refresh_token": "r"})
			return true
		}},
		{name: "201 is not the documented 200", login: func(w http.ResponseWriter, _ *http.Request) bool {
			writeJSON(w, http.StatusCreated, map[string]string{"access_token": "a"})
			return true
		}, status: 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.setHooks(tt.login, nil)
			edit := func(*Config) {}
			if tt.edit != nil {
				edit = tt.edit
			}
			c := newTestClient(t, f, newFakeClock(), edit)

			err := c.Login(testCtx(t))
			require.Error(t, err)
			assert.ErrorIs(t, err, verifier.ErrUnavailable)
			assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
			assert.NotContains(t, err.Error(), testPrivate)
			var ae *APIError
			if tt.status != 0 {
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tt.status, ae.StatusCode)
			} else {
				assert.False(t, errors.As(err, &ae))
			}
			// The failure is not remembered: the next call tries again.
			_ = c.Login(testCtx(t))
			assert.EqualValues(t, 2, f.logins.Load())
		})
	}
}

// TestAdminRefreshRace: 100 callers racing for an expired admin session cause
// exactly one refresh, whether the clock or the Admin API says it expired.
func TestAdminRefreshRace(t *testing.T) {
	const callers = 100
	tests := []struct {
		name   string
		expire func(f *fakeAPI, clock *fakeClock)
	}{
		{name: "expired by the clock", expire: func(_ *fakeAPI, clock *fakeClock) { clock.Advance(31 * time.Minute) }},
		{name: "refused with 401 InvalidSession", expire: func(f *fakeAPI, _ *fakeClock) { f.invalidateAll() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			clock := newFakeClock()
			f.handle(http.MethodPost, "/users/verify_token", answer(200, claimsBody))
			c := newTestClient(t, f, clock)
			ctx := testCtx(t)
			require.NoError(t, c.Login(ctx))
			// Every caller, refused or not, ends up waiting on the flight.
			waiting := make(chan struct{}, callers)
			c.sess.joined = func() { waiting <- struct{}{} }
			tt.expire(f, clock)

			// The refresh blocks until every caller needs it.
			allWaiting := make(chan struct{})
			f.setHooks(nil, blockUntil(nil, allWaiting))
			var wg sync.WaitGroup
			errs := make(chan error, callers)
			for range callers {
				wg.Go(func() {
					_, err := c.Verify(ctx, testToken)
					errs <- err
				})
			}
			for range callers {
				<-waiting
			}
			close(allWaiting)
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			assert.EqualValues(t, 1, f.refreshes.Load(), "refreshes")
			assert.EqualValues(t, 1, f.logins.Load(), "logins")
			assert.Equal(t, callers, f.callCount(http.MethodPost, "/users/verify_token"), "accepted verify calls")
		})
	}
}

// TestAdminFlightOutlivesCaller: a caller that gives up leaves at once; the
// shared login goes on and serves the others.
func TestAdminFlightOutlivesCaller(t *testing.T) {
	f := newFakeAPI(t)
	f.handle(http.MethodPost, "/users/verify_token", answer(200, claimsBody))
	entered, release := make(chan struct{}, 1), make(chan struct{})
	f.setHooks(blockUntil(entered, release), nil)
	c := newTestClient(t, f, newFakeClock())
	joined := make(chan struct{}, 2)
	c.sess.joined = func() { joined <- struct{}{} }

	ctxA, cancelA := context.WithCancel(testCtx(t))
	ctxB := testCtx(t)
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() { _, err := c.Verify(ctxA, testToken); errA <- err }()
	go func() { _, err := c.Verify(ctxB, testToken); errB <- err }()
	<-entered
	<-joined
	<-joined

	cancelA() // the first caller, who started the login, gives up
	err := <-errA
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
	assert.NotErrorIs(t, err, verifier.ErrInvalidToken)

	close(release) // the login, not cancelled, completes
	require.NoError(t, <-errB)
	assert.EqualValues(t, 1, f.logins.Load())
	assert.Equal(t, 1, f.callCount(http.MethodPost, "/users/verify_token"))
}
