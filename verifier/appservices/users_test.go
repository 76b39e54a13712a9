package appservices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

const userJSON = `{"_id":"63ed812a43be72c176aa5d21","identities":[{"id":"63ed812a43be72c176aa5d20",` +
	`"provider_type":"local-userpass","provider_id":"63ed000000000000000000aa","provider_data":{"email":"ada@example.com"}}],` +
	`"type":"normal","creation_date":1676509482,"last_authentication_date":1676509500,"disabled":false,` +
	`"data":{"email":"ada@example.com"},"domain_id":"5cdb12408e232ac4f9587fe8","sessions_valid_since":1676509400,"extra":1}`

// op is one Users operation as the tests drive it.
type op struct {
	name   string
	method string
	path   string // escaped, under the app prefix
	body   string // JSON the request must carry; "" for none
	status int    // the documented success status
	answer string // the success body
	run    func(ctx context.Context, c *Client) (any, error)
	check  func(t *testing.T, got any)
}

func allOps() []op {
	return []op{
		{name: "CreateUser", method: "POST", path: "/users", body: `{"email":"ada@example.com","password":"p4ss\"word"}`,
			status: 201, answer: userJSON,
			run: func(ctx context.Context, c *Client) (any, error) {
				return c.CreateUser(ctx, "ada@example.com", `p4ss"word`)
			},
			check: func(t *testing.T, got any) { checkUser(t, got.(*UserRecord)) }},
		{name: "DeletePendingUser", method: "DELETE", path: "/user_registrations/by_email/a%2Fb+c@example.com%3F", status: 204,
			run: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.DeletePendingUser(ctx, "a/b+c@example.com?")
			}},
		{name: "DeleteUser", method: "DELETE", path: "/users/u1", status: 204,
			run: func(ctx context.Context, c *Client) (any, error) { return nil, c.DeleteUser(ctx, "u1") }},
		{name: "DisableUser", method: "PUT", path: "/users/u1/disable", status: 204,
			run: func(ctx context.Context, c *Client) (any, error) { return nil, c.DisableUser(ctx, "u1") }},
		{name: "EnableUser", method: "PUT", path: "/users/u1/enable", status: 204,
			run: func(ctx context.Context, c *Client) (any, error) { return nil, c.EnableUser(ctx, "u1") }},
		{name: "GetUser", method: "GET", path: "/users/u%2F1", status: 200, answer: userJSON,
			run:   func(ctx context.Context, c *Client) (any, error) { return c.GetUser(ctx, "u/1") },
			check: func(t *testing.T, got any) { checkUser(t, got.(*UserRecord)) }},
		{name: "ListDevices", method: "GET", path: "/users/u1/devices", status: 200,
			answer: `[{"_id":"d1","client_app_version":"1.2","platform":"ios","platform_version":"17","sdk":"swift"}]`,
			run:    func(ctx context.Context, c *Client) (any, error) { return c.ListDevices(ctx, "u1") },
			check: func(t *testing.T, got any) {
				ds := got.([]Device)
				require.Len(t, ds, 1)
				assert.Equal(t, Device{ID: "d1", ClientAppVersion: "1.2", Platform: "ios", PlatformVersion: "17",
					Raw: json.RawMessage(`{"_id":"d1","client_app_version":"1.2","platform":"ios","platform_version":"17","sdk":"swift"}`)}, ds[0])
			}},
		{name: "ListPendingUsers", method: "GET", path: "/user_registrations/pending_users", status: 200,
			answer: `[{"_id":"p1","user_id":"","domain_id":"dom","login_ids":[{"id_type":"email","id":"bob@example.com"}]}]`,
			run:    func(ctx context.Context, c *Client) (any, error) { return c.ListPendingUsers(ctx, "") },
			check: func(t *testing.T, got any) {
				assert.Equal(t, []PendingUser{{ID: "p1", DomainID: "dom",
					LoginIDs: []LoginID{{IDType: "email", ID: "bob@example.com"}}}}, got)
			}},
		{name: "ListUsers", method: "GET", path: "/users", status: 200, answer: "[" + userJSON + "]",
			run: func(ctx context.Context, c *Client) (any, error) { return c.ListUsers(ctx, ListUsersOptions{}) },
			check: func(t *testing.T, got any) {
				us := got.([]UserRecord)
				require.Len(t, us, 1)
				checkUser(t, &us[0])
			}},
		{name: "ChangeEmail", method: "PATCH", path: "/users/u1/reset_email", body: `{"email":"new@example.com"}`, status: 204,
			run: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.ChangeEmail(ctx, "u1", "new@example.com")
			}},
		{name: "RevokeSessions", method: "PUT", path: "/users/u1/logout", status: 204,
			run: func(ctx context.Context, c *Client) (any, error) { return nil, c.RevokeSessions(ctx, "u1") }},
		{name: "VerifyToken", method: "POST", path: "/users/verify_token", body: `{"token":"` + testToken + `"}`,
			status: 200, answer: claimsBody,
			run: func(ctx context.Context, c *Client) (any, error) { return c.VerifyToken(ctx, testToken) },
			check: func(t *testing.T, got any) {
				assert.Equal(t, "63ed812a43be72c176aa5d21", got.(*verifier.User).ID)
			}},
	}
}

func checkUser(t *testing.T, u *UserRecord) {
	t.Helper()
	assert.Equal(t, "63ed812a43be72c176aa5d21", u.ID)
	require.Len(t, u.Identities, 1)
	assert.Equal(t, "local-userpass", u.Identities[0].ProviderType)
	assert.Equal(t, "63ed000000000000000000aa", u.Identities[0].ProviderID)
	assert.JSONEq(t, `{"email":"ada@example.com"}`, string(u.Identities[0].ProviderData))
	assert.Equal(t, "normal", u.Type)
	assert.True(t, u.CreationDate.Equal(time.Unix(1676509482, 0)))
	assert.True(t, u.LastAuthenticationDate.Equal(time.Unix(1676509500, 0)))
	assert.True(t, u.SessionsValidSince.Equal(time.Unix(1676509400, 0)))
	assert.False(t, u.Disabled)
	assert.Equal(t, "ada@example.com", u.Email())
	assert.Equal(t, "5cdb12408e232ac4f9587fe8", u.DomainID)
	assert.JSONEq(t, userJSON, string(u.Raw))
}

func TestOperations(t *testing.T) {
	for _, o := range allOps() {
		t.Run(o.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.handle(o.method, o.path, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if o.body == "" {
					assert.Empty(t, body)
				} else {
					assert.JSONEq(t, o.body, string(body))
					assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
				}
				assert.Empty(t, r.URL.RawQuery)
				answer(o.status, o.answer)(w, r)
			})
			c := newTestClient(t, f, newFakeClock())

			got, err := o.run(testCtx(t), c)
			require.NoError(t, err)
			if o.check != nil {
				o.check(t, got)
			}
			assert.Equal(t, 1, f.callCount(o.method, o.path))
		})
	}
}

func TestOperationErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		code        string
		message     string
		retryAfter  time.Duration
		unavailable bool
		calls       int // calls of the operation; 0 means 1 (no retry)
	}{
		{name: "404 UserNotFound", status: 404, body: `{"error":"user not found","error_code":"UserNotFound"}`,
			code: CodeUserNotFound, message: "user not found"},
		{name: "400 BadRequest", status: 400, body: `{"error":"bad request","error_code":"BadRequest"}`,
			code: CodeBadRequest, message: "bad request"},
		{name: "401 without code", status: 401, body: `{"error":"unauthorized"}`, message: "unauthorized"},
		// An "invalid session" 401 without a code is about the admin session
		// (MongoDB's Admin API authentication docs): renewed and retried once, like InvalidSession.
		{name: "401 invalid session without code", status: 401, body: `{"error":"invalid session: valid Issuer required"}`,
			message: "invalid session: valid Issuer required", calls: 2},
		{name: "500", status: 500, body: `{"error":"internal"}`, message: "internal", unavailable: true},
		{name: "503 empty body", status: 503, message: "Service Unavailable", unavailable: true},
		{name: "429 Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "120"},
			message: "Too Many Requests", retryAfter: 2 * time.Minute, unavailable: true},
		{name: "503 Retry-After date", status: 503,
			header:  map[string]string{"Retry-After": newFakeClock().Now().Add(90 * time.Second).Format(http.TimeFormat)},
			message: "Service Unavailable", retryAfter: 90 * time.Second, unavailable: true},
	}
	for _, o := range allOps() {
		if o.name == "VerifyToken" {
			continue // maps errors to token outcomes: TestVerifyToken
		}
		for _, tt := range tests {
			t.Run(o.name+"/"+tt.name, func(t *testing.T) {
				f := newFakeAPI(t)
				f.handle(o.method, o.path, func(w http.ResponseWriter, r *http.Request) {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					answer(tt.status, tt.body)(w, r)
				})
				revoked := 0
				c := newTestClient(t, f, newFakeClock())
				c.OnRevoke(verifier.RevokerFunc(func(context.Context, string, time.Time) error { revoked++; return nil }))

				_, err := o.run(testCtx(t), c)
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, &APIError{StatusCode: tt.status, Code: tt.code, Message: tt.message, RetryDelay: tt.retryAfter}, ae)
				assert.Equal(t, tt.unavailable, isUnavailable(err))
				assert.Zero(t, revoked, "OnRevoke after a failure")
				assert.Equal(t, max(tt.calls, 1), f.callCount(o.method, o.path), "calls of the operation")
			})
		}
	}
}

func isUnavailable(err error) bool { return errors.Is(err, verifier.ErrUnavailable) }

func TestOperationsRetryInvalidSession(t *testing.T) {
	for _, o := range allOps() {
		t.Run(o.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.handle(o.method, o.path, answer(o.status, o.answer))
			c := newTestClient(t, f, newFakeClock())
			require.NoError(t, c.Login(testCtx(t)))
			f.invalidateAll()

			_, err := o.run(testCtx(t), c)
			require.NoError(t, err)
			assert.EqualValues(t, 1, f.refreshes.Load())
			assert.Equal(t, 1, f.callCount(o.method, o.path))
		})
	}
}

func TestChangeEmailRefusals(t *testing.T) {
	// The fake answers as the spec documents reset_email.
	tests := []struct {
		name, userID, email string
		status              int
		code                string
	}{
		{name: "ok", userID: "u1", email: "new@example.com", status: 204},
		{name: "empty email", userID: "u1", email: "", status: 400, code: CodeBadRequest},
		{name: "email over 128 characters", userID: "u1", email: strings.Repeat("a", 123) + "@x.com", status: 400, code: CodeBadRequest},
		{name: "user without local-userpass identity", userID: "anon", email: "a@b.c", status: 400, code: CodeBadRequest},
		{name: "unknown user", userID: "ghost", email: "a@b.c", status: 404, code: CodeUserNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.handle("PATCH", "/users/"+tt.userID+"/reset_email", func(w http.ResponseWriter, r *http.Request) {
				var in struct {
					Email *string `json:"email"`
				}
				switch {
				case tt.userID == "ghost":
					writeJSON(w, 404, map[string]string{"error": "user not found", "error_code": CodeUserNotFound})
				case json.NewDecoder(r.Body).Decode(&in) != nil || in.Email == nil || *in.Email == "" ||
					len(*in.Email) > 128 || tt.userID == "anon":
					writeJSON(w, 400, map[string]string{"error": "bad request", "error_code": CodeBadRequest})
				default:
					w.WriteHeader(http.StatusNoContent)
				}
			})
			c := newTestClient(t, f, newFakeClock())
			err := c.ChangeEmail(testCtx(t), tt.userID, tt.email)
			if tt.status == 204 {
				require.NoError(t, err)
				return
			}
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.code, ae.Code)
			assert.False(t, isUnavailable(err))
		})
	}
}

func TestOnRevoke(t *testing.T) {
	for _, o := range allOps() {
		revokes := o.name == "RevokeSessions" || o.name == "DisableUser" || o.name == "DeleteUser"
		t.Run(o.name, func(t *testing.T) {
			f := newFakeAPI(t)
			clock := newFakeClock()
			answered := clock.Now().Add(time.Second)
			f.handle(o.method, o.path, func(w http.ResponseWriter, r *http.Request) {
				clock.Advance(time.Second) // the call takes a while
				answer(o.status, o.answer)(w, r)
			})
			var mu sync.Mutex
			type revocation struct {
				userID string
				at     time.Time
			}
			var got []revocation
			c := newTestClient(t, f, clock)
			c.OnRevoke(verifier.RevokerFunc(func(_ context.Context, userID string, at time.Time) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, revocation{userID, at})
				return nil
			}))
			require.NoError(t, c.Login(testCtx(t)))

			_, err := o.run(testCtx(t), c)
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			if !revokes {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, "u1", got[0].userID)
			// A token issued while the call ran may belong to a session it
			// ended: at must not be earlier than the answer.
			assert.False(t, got[0].at.Before(answered), "at %v is before the answer %v", got[0].at, answered)
		})
	}
}

func TestBadPathSegments(t *testing.T) {
	f := newFakeAPI(t)
	c := newTestClient(t, f, newFakeClock())
	ctx := testCtx(t)
	for _, id := range []string{"", ".", ".."} {
		t.Run("user id "+id, func(t *testing.T) {
			assert.Error(t, c.DeleteUser(ctx, id))
			assert.Error(t, c.DisableUser(ctx, id))
			_, err := c.GetUser(ctx, id)
			assert.Error(t, err)
			assert.Error(t, c.ChangeEmail(ctx, id, "a@b.c"))
			assert.Error(t, c.DeletePendingUser(ctx, id))
		})
	}
	assert.Zero(t, f.logins.Load(), "refused before any request")
}

func TestOperationCancelledWhileBlocked(t *testing.T) {
	f := newFakeAPI(t)
	entered := make(chan struct{})
	f.handle("GET", "/users/u1", func(_ http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // never answers
	})
	c := newTestClient(t, f, newFakeClock())
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := c.GetUser(ctx, "u1")
		errc <- err
	}()
	<-entered
	cancel()
	err := <-errc
	assert.ErrorIs(t, err, context.Canceled)
}

func TestUserRecordDecoding(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr bool
		check   func(t *testing.T, u UserRecord)
	}{
		{name: "minimal", json: `{"_id":"u"}`, check: func(t *testing.T, u UserRecord) {
			assert.True(t, u.CreationDate.IsZero())
			assert.Empty(t, u.Email())
		}},
		{name: "null dates", json: `{"_id":"u","creation_date":null,"sessions_valid_since":0}`,
			check: func(t *testing.T, u UserRecord) { assert.True(t, u.SessionsValidSince.IsZero()) }},
		{name: "data not an object", json: `{"_id":"u","data":"x"}`,
			check: func(t *testing.T, u UserRecord) { assert.Empty(t, u.Email()) }},
		{name: "date as string", json: `{"_id":"u","creation_date":"yesterday"}`, wantErr: true},
		{name: "date out of range", json: `{"_id":"u","creation_date":1e300}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u UserRecord
			err := json.Unmarshal([]byte(tt.json), &u)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.JSONEq(t, tt.json, string(u.Raw))
			tt.check(t, u)
		})
	}
}

// A Revoker that fails makes the operation report it, wrapping the Revoker's
// error, after App Services has done its part; the Revokers after it are still
// told, in order.
func TestOnRevokeFailure(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("PUT", "/users/u1/logout", answer(204, ""))
	c := newTestClient(t, f, newFakeClock())
	down := fmt.Errorf("store down: %w", verifier.ErrUnavailable)
	var told []string
	c.OnRevoke(verifier.RevokerFunc(func(_ context.Context, id string, _ time.Time) error {
		told = append(told, "first "+id)
		return down
	}))
	c.OnRevoke(verifier.RevokerFunc(func(_ context.Context, id string, _ time.Time) error {
		told = append(told, "second "+id)
		return nil
	}))
	require.NoError(t, c.Login(testCtx(t)))

	err := c.RevokeSessions(testCtx(t), "u1")
	require.ErrorIs(t, err, down)
	assert.Contains(t, err.Error(), "done at App Services")
	assert.Equal(t, []string{"first u1", "second u1"}, told)
	assert.Equal(t, 1, f.callCount("PUT", "/users/u1/logout"), "App Services is asked once")
}
