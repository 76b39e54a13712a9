package appservices_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// The real Client against the emulator: the same code path a gateway runs.

func newEmulator(t *testing.T, opts ...appservicestest.Option) *appservicestest.Server {
	t.Helper()
	srv := appservicestest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

func newEmulatorClient(t *testing.T, srv *appservicestest.Server, edit ...func(*appservices.Config)) *appservices.Client {
	t.Helper()
	cfg := srv.Config()
	for _, e := range edit {
		e(&cfg)
	}
	c, err := appservices.NewClient(cfg)
	require.NoError(t, err)
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEmulatorUserLifecycle(t *testing.T) {
	srv := newEmulator(t)
	var mu sync.Mutex
	var revoked []string
	c := newEmulatorClient(t, srv)
	c.OnRevoke(verifier.RevokerFunc(func(_ context.Context, userID string, _ time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		revoked = append(revoked, userID)
		return nil
	}))
	ctx := ctxFor(t)
	require.NoError(t, c.Login(ctx))

	created, err := c.CreateUser(ctx, "ada@example.com", "correct horse")
	require.NoError(t, err)
	assert.Len(t, created.ID, 24)
	assert.Equal(t, "ada@example.com", created.Email())

	sess, err := srv.LoginUser("ada@example.com", "correct horse")
	require.NoError(t, err)
	u, err := c.VerifyToken(ctx, sess.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, created.ID, u.ID)
	assert.Equal(t, appservicestest.DefaultDomainID, u.DomainID)
	assert.Equal(t, sess.DeviceID, u.DeviceID)
	assert.WithinDuration(t, srv.Now().Add(30*time.Minute), u.ExpiresAt, 2*time.Second)

	got, err := c.GetUser(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, created.ID, got.ID)
	require.NotEmpty(t, got.Identities)
	assert.Equal(t, "local-userpass", got.Identities[0].ProviderType)
	devices, err := c.ListDevices(ctx, created.ID)
	require.NoError(t, err)
	assert.NotEmpty(t, devices)

	// Revoking and disabling do not stop verify_token (the real service's
	// behaviour); OnRevoke is how a gateway makes them bite.
	require.NoError(t, c.RevokeSessions(ctx, created.ID))
	_, err = c.VerifyToken(ctx, sess.AccessToken)
	assert.NoError(t, err, "a revoked session's access token still verifies")
	require.NoError(t, c.DisableUser(ctx, created.ID))
	_, err = c.VerifyToken(ctx, sess.AccessToken)
	assert.NoError(t, err, "a disabled user's access token still verifies")
	got, err = c.GetUser(ctx, created.ID)
	require.NoError(t, err)
	assert.True(t, got.Disabled)
	require.NoError(t, c.EnableUser(ctx, created.ID))

	require.NoError(t, c.ChangeEmail(ctx, created.ID, "ada@lovelace.example"))
	got, err = c.GetUser(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, "ada@lovelace.example", got.Email())
	err = c.ChangeEmail(ctx, created.ID, "")
	var ae *appservices.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusBadRequest, ae.StatusCode)

	require.NoError(t, c.DeleteUser(ctx, created.ID))
	_, err = c.GetUser(ctx, created.ID)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.StatusCode)
	assert.Equal(t, appservices.CodeUserNotFound, ae.Code)

	mu.Lock()
	assert.Equal(t, []string{created.ID, created.ID, created.ID}, revoked, "revoke, disable, delete")
	mu.Unlock()

	pendingID := srv.AddPendingUser("bob+pending@example.com")
	var pending []appservices.PendingUser
	for p, err := range c.AllPendingUsers(ctx) {
		require.NoError(t, err)
		pending = append(pending, p)
	}
	require.Len(t, pending, 1)
	assert.Equal(t, pendingID, pending[0].ID)
	require.NoError(t, c.DeletePendingUser(ctx, "bob+pending@example.com"))
	left, err := c.ListPendingUsers(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, left)
}

// emulatorVerifyCase is one verify_token outcome driven through the emulator.
type emulatorVerifyCase struct {
	name    string
	opts    []appservicestest.Option
	token   func(srv *appservicestest.Server, userID string) string // nil: a fresh valid token
	fault   *appservicestest.Fault                                  // applied to the next verify call
	timeout time.Duration                                           // Config.Timeout; 0: default
	check   func(t *testing.T, u *verifier.User, err error)
}

func TestEmulatorVerifyOutcomes(t *testing.T) {
	tests := []emulatorVerifyCase{
		{name: "valid with custom user data",
			token: func(srv *appservicestest.Server, userID string) string {
				srv.SetCustomUserData(userID, json.RawMessage(`{"plan":"pro"}`))
				tok, _ := srv.NewAccessToken(userID)
				return tok
			},
			check: func(t *testing.T, u *verifier.User, err error) {
				require.NoError(t, err)
				assert.JSONEq(t, `{"plan":"pro"}`, string(u.CustomUserData))
			}},
		{name: "expired",
			token: func(srv *appservicestest.Server, userID string) string {
				now := srv.Now()
				return srv.Sign(jwt.MapClaims{"sub": userID, "typ": "access",
					"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()})
			},
			check: func(t *testing.T, _ *verifier.User, err error) { assert.ErrorIs(t, err, verifier.ErrTokenExpired) }},
		{name: "garbage, 401 as the docs say",
			token: func(*appservicestest.Server, string) string { return "not.a.jwt" },
			check: func(t *testing.T, _ *verifier.User, err error) {
				assert.ErrorIs(t, err, verifier.ErrInvalidToken)
				assert.NotErrorIs(t, err, verifier.ErrUnavailable)
			}},
		{name: "garbage, 400 as the spec says", opts: []appservicestest.Option{appservicestest.WithMalformedTokenStatus(400)},
			token: func(*appservicestest.Server, string) string { return "not.a.jwt" },
			check: func(t *testing.T, _ *verifier.User, err error) {
				assert.ErrorIs(t, err, verifier.ErrInvalidToken)
				assert.NotErrorIs(t, err, verifier.ErrUnavailable)
			}},
		{name: "signed by someone else",
			token: func(_ *appservicestest.Server, userID string) string {
				s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": userID, "typ": "access",
					"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("forged"))
				return s
			},
			check: func(t *testing.T, _ *verifier.User, err error) { assert.ErrorIs(t, err, verifier.ErrInvalidToken) }},
	}
	faults := []struct {
		name    string
		fault   appservicestest.Fault
		timeout time.Duration
		check   func(t *testing.T, err error)
	}{
		{name: "503 with Retry-After", fault: appservicestest.Fault{Kind: appservicestest.FaultStatus, Status: 503, RetryAfter: 3 * time.Second},
			check: func(t *testing.T, err error) {
				var ae *appservices.APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, 3*time.Second, ae.RetryDelay)
			}},
		{name: "429", fault: appservicestest.Fault{Kind: appservicestest.FaultStatus, Status: 429}},
		{name: "connection reset", fault: appservicestest.Fault{Kind: appservicestest.FaultReset}},
		{name: "malformed JSON", fault: appservicestest.Fault{Kind: appservicestest.FaultMalformedJSON}},
		{name: "oversized body", fault: appservicestest.Fault{Kind: appservicestest.FaultOversized}},
		{name: "stall past Config.Timeout", fault: appservicestest.Fault{Kind: appservicestest.FaultStall}, timeout: 300 * time.Millisecond,
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, context.DeadlineExceeded) }},
	}
	for _, f := range faults {
		check := func(t *testing.T, u *verifier.User, err error) {
			assert.Nil(t, u)
			assert.ErrorIs(t, err, verifier.ErrUnavailable)
			assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
			if f.check != nil {
				f.check(t, err)
			}
		}
		tests = append(tests, emulatorVerifyCase{name: "fault " + f.name, fault: &f.fault, timeout: f.timeout, check: check})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newEmulator(t, tt.opts...)
			c := newEmulatorClient(t, srv, func(cfg *appservices.Config) { cfg.Timeout = tt.timeout })
			ctx := ctxFor(t)
			require.NoError(t, c.Login(ctx))
			userID := srv.AddUser("eve@example.com", "pw")
			token, err := srv.NewAccessToken(userID)
			require.NoError(t, err)
			if tt.token != nil {
				token = tt.token(srv, userID)
			}
			if tt.fault != nil {
				f := *tt.fault
				f.Endpoint = appservicestest.EndpointVerifyToken
				srv.FailNext(1, f)
			}
			u, err := c.Verify(ctx, token)
			if err != nil {
				assert.NotContains(t, err.Error(), token)
			}
			tt.check(t, u, err)
		})
	}
}

func TestEmulatorStopRestart(t *testing.T) {
	srv := newEmulator(t)
	c := newEmulatorClient(t, srv)
	ctx := ctxFor(t)
	token, err := srv.NewAccessToken(srv.AddUser("a@example.com", "pw"))
	require.NoError(t, err)
	_, err = c.Verify(ctx, token)
	require.NoError(t, err)

	srv.Stop()
	_, err = c.Verify(ctx, token)
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
	assert.NotErrorIs(t, err, verifier.ErrInvalidToken)

	require.NoError(t, srv.Restart())
	_, err = c.Verify(ctx, token)
	assert.NoError(t, err)
}

func TestEmulatorCancelBlockedVerify(t *testing.T) {
	srv := newEmulator(t)
	c := newEmulatorClient(t, srv)
	token, err := srv.NewAccessToken(srv.AddUser("a@example.com", "pw"))
	require.NoError(t, err)
	require.NoError(t, c.Login(ctxFor(t)))
	release := srv.Block()
	defer release()

	ctx, cancel := context.WithCancel(ctxFor(t))
	errc := make(chan error, 1)
	go func() { _, err := c.Verify(ctx, token); errc <- err }()
	require.NoError(t, srv.WaitBlocked(ctxFor(t), 1))
	cancel()
	err = <-errc
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
}

func TestEmulatorPagination(t *testing.T) {
	srv := newEmulator(t)
	c := newEmulatorClient(t, srv)
	ids := make([]string, 120)
	for i := range ids {
		ids[i] = srv.AddUser(fmt.Sprintf("user%03d@example.com", i), "pw")
	}
	slices.Sort(ids)
	for _, desc := range []bool{false, true} {
		t.Run(map[bool]string{false: "ascending", true: "descending"}[desc], func(t *testing.T) {
			before := srv.Calls(appservicestest.EndpointListUsers)
			var got []string
			for u, err := range c.AllUsers(ctxFor(t), appservices.ListUsersOptions{Desc: desc}) {
				require.NoError(t, err)
				got = append(got, u.ID)
			}
			want := slices.Clone(ids)
			if desc {
				slices.Reverse(want)
			}
			assert.Equal(t, want, got)
			assert.EqualValues(t, 3, srv.Calls(appservicestest.EndpointListUsers)-before, "pages of 50, 50, 20")
		})
	}
}

// The filters reach the service on every page: 60 disabled email/password
// users, 60 enabled ones and 3 anonymous ones, listed by status and provider.
func TestEmulatorListUsersFilters(t *testing.T) {
	srv := newEmulator(t)
	c := newEmulatorClient(t, srv)
	ctx := ctxFor(t)
	var disabled, anon []string
	for i := range 120 {
		id := srv.AddUser(fmt.Sprintf("user%03d@example.com", i), "pw")
		if i%2 == 0 {
			require.NoError(t, c.DisableUser(ctx, id))
			disabled = append(disabled, id)
		}
	}
	for range 3 {
		anon = append(anon, srv.AddAnonUser())
	}
	slices.Sort(disabled)
	slices.Sort(anon)
	list := func(opts appservices.ListUsersOptions) (ids []string) {
		for u, err := range c.AllUsers(ctx, opts) {
			require.NoError(t, err)
			ids = append(ids, u.ID)
		}
		return ids
	}
	before := srv.Calls(appservicestest.EndpointListUsers)
	assert.Equal(t, disabled, list(appservices.ListUsersOptions{Status: "disabled"}))
	assert.EqualValues(t, 2, srv.Calls(appservicestest.EndpointListUsers)-before, "pages of 50 and 10 disabled users")
	assert.Equal(t, anon, list(appservices.ListUsersOptions{ProviderTypes: []string{"anon-user"}}))
	assert.Len(t, list(appservices.ListUsersOptions{Status: "enabled", ProviderTypes: []string{"local-userpass", "api-key"}}), 60)

	_, err := c.ListUsers(ctx, appservices.ListUsersOptions{Status: "gone"})
	var apiErr *appservices.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 400, apiErr.StatusCode)
}

func TestEmulatorAdminRefreshRace(t *testing.T) {
	srv := newEmulator(t)
	c := newEmulatorClient(t, srv)
	ctx := ctxFor(t)
	token, err := srv.NewAccessToken(srv.AddUser("a@example.com", "pw"))
	require.NoError(t, err)
	require.NoError(t, c.Login(ctx))
	srv.ExpireAdminSessions()

	const callers = 100
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := c.Verify(ctx, token)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, srv.Calls(appservicestest.EndpointAdminRefresh))
	assert.EqualValues(t, 1, srv.Calls(appservicestest.EndpointAdminLogin))
}

func TestEmulatorAdminSessionFollowsClock(t *testing.T) {
	srv := newEmulator(t)
	c := newEmulatorClient(t, srv) // shares the emulator's clock
	ctx := ctxFor(t)
	token, err := srv.NewAccessToken(srv.AddUser("a@example.com", "pw"))
	require.NoError(t, err)
	_, err = c.Verify(ctx, token)
	require.NoError(t, err)

	srv.Advance(29*time.Minute + 45*time.Second) // inside the refresh margin
	token, err = srv.NewAccessToken(srv.AddUser("b@example.com", "pw"))
	require.NoError(t, err)
	_, err = c.Verify(ctx, token)
	require.NoError(t, err)
	srv.Advance(time.Minute) // the first admin token has expired
	_, err = c.Verify(ctx, token)
	require.NoError(t, err)

	assert.EqualValues(t, 1, srv.Calls(appservicestest.EndpointAdminLogin))
	assert.EqualValues(t, 1, srv.Calls(appservicestest.EndpointAdminRefresh))
	assert.EqualValues(t, 3, srv.Calls(appservicestest.EndpointVerifyToken), "no call was refused and retried")
}

func TestEmulatorBadKeys(t *testing.T) {
	srv := newEmulator(t)
	c := newEmulatorClient(t, srv, func(cfg *appservices.Config) { cfg.PrivateKey = "wrong" })
	err := c.Login(ctxFor(t))
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
	assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}

// A 401 "invalid session" without an error code is what both an expired
// admin session and a revoked user session get. Asked again with a fresh
// admin token, the same answer is the user's token: 401, not 503.
func TestEmulatorRevokedSessionIsTheUsersToken(t *testing.T) {
	srv := newEmulator(t, appservicestest.WithStrictRevocation(true))
	c := newEmulatorClient(t, srv)
	ctx := ctxFor(t)
	id := srv.AddUser("ada@example.com", "pw")
	sess, err := srv.LoginUser("ada@example.com", "pw")
	require.NoError(t, err)
	_, err = c.Verify(ctx, sess.AccessToken)
	require.NoError(t, err)
	require.NoError(t, c.DisableUser(ctx, id))

	_, err = c.Verify(ctx, sess.AccessToken)
	require.ErrorIs(t, err, verifier.ErrInvalidToken)
	assert.NotErrorIs(t, err, verifier.ErrUnavailable)
}
