package appservices

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

const (
	testToken  = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
	claimsBody = `{"sub":"63ed812a43be72c176aa5d21","exp":1676511282,"iat":1676509482,` +
		`"iss":"63ed812a43be72c176aa5d23","domain_id":"5cdb12408e232ac4f9587fe8","device_id":"000000000000000000000000"}`
)

func TestVerifyToken(t *testing.T) {
	type want int
	const (
		valid want = iota
		expired
		invalid
		unavailable
	)
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		want    want
		check   func(t *testing.T, u *verifier.User, err error)
		apiCode int // status of the *APIError errors.As must find; 0: none
	}{
		{name: "claims", status: 200, body: claimsBody, want: valid, check: func(t *testing.T, u *verifier.User, _ error) {
			assert.Equal(t, "63ed812a43be72c176aa5d21", u.ID)
			assert.Equal(t, "63ed812a43be72c176aa5d23", u.SessionID)
			assert.Equal(t, "5cdb12408e232ac4f9587fe8", u.DomainID)
			assert.Equal(t, "000000000000000000000000", u.DeviceID)
			assert.True(t, u.IssuedAt.Equal(time.Unix(1676509482, 0)))
			assert.True(t, u.ExpiresAt.Equal(time.Unix(1676511282, 0)))
			assert.Nil(t, u.Audience)
			assert.Empty(t, u.Data)
			assert.Nil(t, u.CustomUserData)
			assert.JSONEq(t, claimsBody, string(u.Raw))
		}},
		{name: "claims with aud string, data and custom_user_data", status: 200,
			body: `{"sub":"u1","aud":"app-x","data":"hello","custom_user_data":{"role":"admin","n":[1,2]},"exp":1.5e9}`,
			want: valid, check: func(t *testing.T, u *verifier.User, _ error) {
				assert.Equal(t, []string{"app-x"}, u.Audience)
				assert.Equal(t, "hello", u.Data)
				assert.JSONEq(t, `{"role":"admin","n":[1,2]}`, string(u.CustomUserData))
				assert.True(t, u.ExpiresAt.Equal(time.Unix(1500000000, 0)))
				assert.True(t, u.IssuedAt.IsZero())
			}},
		{name: "claims with aud array and null custom data", status: 200,
			body: `{"sub":"u1","aud":["a","b"],"custom_user_data":null,"data":null}`,
			want: valid, check: func(t *testing.T, u *verifier.User, _ error) {
				assert.Equal(t, []string{"a", "b"}, u.Audience)
				assert.Nil(t, u.CustomUserData)
			}},
		{name: "claims with unknown fields", status: 200, body: `{"sub":"u1","extra":{"x":1}}`, want: valid},
		{name: "200 token expired", status: 200, body: `"token expired"`, want: expired},
		{name: "200 other string", status: 200, body: `"token invalid"`, want: invalid},
		{name: "400 spec", status: 400, body: `{"error":"signature is invalid"}`, want: invalid, apiCode: 400},
		{name: "401 docs", status: 401, body: `{"error":"signature is invalid"}`, want: invalid, apiCode: 401},
		{name: "401 other code", status: 401, body: `{"error":"bad","error_code":"AuthError"}`, want: invalid, apiCode: 401},
		{name: "500", status: 500, body: `{"error":"boom","error_code":"InternalServerError"}`, want: unavailable, apiCode: 500},
		{name: "502 empty body", status: 502, want: unavailable, apiCode: 502, check: func(t *testing.T, _ *verifier.User, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "Bad Gateway", ae.Message)
		}},
		{name: "503 html body", status: 503, body: "<html>down</html>", want: unavailable, apiCode: 503},
		{name: "429 retry-after seconds", status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"error":"slow down"}`, want: unavailable, apiCode: 429,
			check: func(t *testing.T, _ *verifier.User, err error) {
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, 7*time.Second, ae.RetryDelay)
			}},
		{name: "403 is not the token's fault", status: 403, body: `{"error":"forbidden"}`, want: unavailable, apiCode: 403},
		{name: "404 app not found", status: 404, body: `{"error":"app not found"}`, want: unavailable, apiCode: 404},
		{name: "204 is not 200", status: 204, want: unavailable, apiCode: 204},
		{name: "malformed JSON", status: 200, body: `{"sub":`, want: unavailable},
		{name: "not JSON", status: 200, body: `hello`, want: unavailable},
		{name: "empty 200", status: 200, want: unavailable},
		{name: "JSON null", status: 200, body: `null`, want: unavailable},
		{name: "JSON array", status: 200, body: `["sub"]`, want: unavailable},
		{name: "claims without sub", status: 200, body: `{"iss":"s","exp":1676511282}`, want: unavailable},
		{name: "sub of the wrong type", status: 200, body: `{"sub":12}`, want: unavailable},
		{name: "exp of the wrong type", status: 200, body: `{"sub":"u","exp":"soon"}`, want: unavailable},
		{name: "body of exactly 1 MiB", status: 200, body: padTo(`{"sub":"u1"}`, maxBodySize), want: valid},
		{name: "body over 1 MiB", status: 200, body: padTo(`{"sub":"u1"}`, maxBodySize+1), want: unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.handle(http.MethodPost, "/users/verify_token", func(w http.ResponseWriter, r *http.Request) {
				var in map[string]string
				assert.NoError(t, json.NewDecoder(r.Body).Decode(&in))
				assert.Equal(t, map[string]string{"token": testToken}, in)
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				answer(tt.status, tt.body)(w, r)
			})
			c := newTestClient(t, f, newFakeClock())

			u, err := c.VerifyToken(testCtx(t), testToken)

			switch tt.want {
			case valid:
				require.NoError(t, err)
				require.NotNil(t, u)
			case expired:
				assert.Nil(t, u)
				assert.ErrorIs(t, err, verifier.ErrTokenExpired)
				assert.ErrorIs(t, err, verifier.ErrInvalidToken)
				assert.NotErrorIs(t, err, verifier.ErrUnavailable)
			case invalid:
				assert.Nil(t, u)
				assert.ErrorIs(t, err, verifier.ErrInvalidToken)
				assert.NotErrorIs(t, err, verifier.ErrTokenExpired)
				assert.NotErrorIs(t, err, verifier.ErrUnavailable)
			case unavailable:
				assert.Nil(t, u)
				assert.ErrorIs(t, err, verifier.ErrUnavailable)
				assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
			}
			var ae *APIError
			if tt.apiCode != 0 {
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tt.apiCode, ae.StatusCode)
			} else if err != nil {
				assert.False(t, errors.As(err, &ae), "unexpected *APIError in %v", err)
			}
			if err != nil {
				assert.NotContains(t, err.Error(), testToken)
				assert.True(t, strings.HasPrefix(err.Error(), "appservices: "), err.Error())
			}
			if tt.check != nil {
				tt.check(t, u, err)
			}
		})
	}
}

// padTo pads a JSON value with trailing spaces to n bytes.
func padTo(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }

func TestVerifyTokenEdgeCases(t *testing.T) {
	t.Run("empty token makes no call", func(t *testing.T) {
		f := newFakeAPI(t)
		c := newTestClient(t, f, newFakeClock())
		u, err := c.Verify(testCtx(t), "")
		assert.Nil(t, u)
		assert.ErrorIs(t, err, verifier.ErrInvalidToken)
		assert.NotErrorIs(t, err, verifier.ErrUnavailable)
		assert.Zero(t, f.logins.Load(), "no login either")
	})
	t.Run("token echoed by the upstream is redacted", func(t *testing.T) {
		f := newFakeAPI(t)
		f.handle(http.MethodPost, "/users/verify_token", answer(401, `{"error":"signature is invalid: `+testToken+`"}`))
		c := newTestClient(t, f, newFakeClock())
		_, err := c.Verify(testCtx(t), testToken)
		require.ErrorIs(t, err, verifier.ErrInvalidToken)
		assert.NotContains(t, err.Error(), testToken)
		assert.Contains(t, err.Error(), "signature is invalid")
	})
	t.Run("token echoed across the message cut is redacted whole", func(t *testing.T) {
		// The message is cut to 512 bytes; the token must be gone before
		// the cut, or its first part would survive it.
		f := newFakeAPI(t)
		pad := strings.Repeat("x", 512-len(testToken)/2)
		f.handle(http.MethodPost, "/users/verify_token", answer(401, `{"error":"`+pad+testToken+`"}`))
		c := newTestClient(t, f, newFakeClock())
		_, err := c.Verify(testCtx(t), testToken)
		require.ErrorIs(t, err, verifier.ErrInvalidToken)
		assert.NotContains(t, err.Error(), testToken[:len(testToken)/2-8])
	})
	t.Run("401 invalid session without a code, again with a fresh admin token, is the user's", func(t *testing.T) {
		// App Services answers an unusable admin token with
		// {"error":"invalid session: valid Issuer required"} and no code,
		// and a token of a revoked user session alike: the first such
		// answer renews the admin session; the same answer to the fresh
		// admin token is the user's token's.
		f := newFakeAPI(t)
		f.handle(http.MethodPost, "/users/verify_token",
			answer(401, `{"error":"invalid session: valid Issuer required"}`))
		c := newTestClient(t, f, newFakeClock())

		_, err := c.Verify(testCtx(t), testToken)
		assert.ErrorIs(t, err, verifier.ErrInvalidToken)
		assert.NotErrorIs(t, err, verifier.ErrUnavailable)
		assert.Equal(t, 2, f.callCount(http.MethodPost, "/users/verify_token"), "renewed and retried once")
	})
	t.Run("401 InvalidSession is retried once, never the user's fault", func(t *testing.T) {
		f := newFakeAPI(t)
		f.handle(http.MethodPost, "/users/verify_token", answer(200, claimsBody))
		c := newTestClient(t, f, newFakeClock())
		require.NoError(t, c.Login(testCtx(t)))
		f.invalidateAll()

		u, err := c.Verify(testCtx(t), testToken)
		require.NoError(t, err)
		assert.Equal(t, "63ed812a43be72c176aa5d21", u.ID)
		assert.EqualValues(t, 1, f.refreshes.Load())
		assert.Equal(t, 1, f.callCount(http.MethodPost, "/users/verify_token"))
	})
	t.Run("401 InvalidSession after the retry is unavailable", func(t *testing.T) {
		f := newFakeAPI(t)
		f.handle(http.MethodPost, "/users/verify_token",
			answer(401, `{"error":"invalid session","error_code":"InvalidSession"}`))
		c := newTestClient(t, f, newFakeClock())

		_, err := c.Verify(testCtx(t), testToken)
		assert.ErrorIs(t, err, verifier.ErrUnavailable)
		assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, CodeInvalidSession, ae.Code)
		assert.Equal(t, 2, f.callCount(http.MethodPost, "/users/verify_token"), "one retry, no more")
	})
	t.Run("bad admin keys are unavailable, not an invalid token", func(t *testing.T) {
		f := newFakeAPI(t)
		c := newTestClient(t, f, newFakeClock(), func(cfg *Config) { cfg.PrivateKey = "wrong" })
		_, err := c.Verify(testCtx(t), testToken)
		assert.ErrorIs(t, err, verifier.ErrUnavailable)
		assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, http.StatusUnauthorized, ae.StatusCode)
		assert.NotContains(t, err.Error(), "wrong")
	})
	t.Run("connection reset", func(t *testing.T) {
		f := newFakeAPI(t)
		f.handle(http.MethodPost, "/users/verify_token", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			require.NoError(t, err)
			_ = conn.Close()
		})
		c := newTestClient(t, f, newFakeClock())
		_, err := c.Verify(testCtx(t), testToken)
		assert.ErrorIs(t, err, verifier.ErrUnavailable)
		assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
	})
	t.Run("connection refused", func(t *testing.T) {
		f := newFakeAPI(t)
		c := newTestClient(t, f, newFakeClock())
		f.Close()
		_, err := c.Verify(testCtx(t), testToken)
		assert.ErrorIs(t, err, verifier.ErrUnavailable)
		assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
	})
	t.Run("Config.Timeout bounds the call", func(t *testing.T) {
		f := newFakeAPI(t)
		f.handle(http.MethodPost, "/users/verify_token", func(_ http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // stall until the client gives up
		})
		c := newTestClient(t, f, newFakeClock(), func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond })
		require.NoError(t, c.Login(testCtx(t)))
		_, err := c.Verify(testCtx(t), testToken)
		assert.ErrorIs(t, err, verifier.ErrUnavailable)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, context.Canceled)
	})
}

func TestVerifyTokenCancelledWhileBlocked(t *testing.T) {
	f := newFakeAPI(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	f.handle(http.MethodPost, "/users/verify_token", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
			answer(200, claimsBody)(w, r)
		case <-r.Context().Done():
		}
	})
	c := newTestClient(t, f, newFakeClock())
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Verify(ctx, testToken)
		errc <- err
	}()
	<-entered // the call is in the server's hands
	cancel()
	err := <-errc // returns without release
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
}

func TestVerifyBody(t *testing.T) {
	for _, tok := range []string{testToken, "a", `q"uote`, `back\slash`, "ctl\x01", "snow☃man", "bad\xffutf8", "<html>&"} {
		t.Run(tok, func(t *testing.T) {
			var got map[string]string
			require.NoError(t, json.Unmarshal(verifyBody(tok), &got))
			want, _ := json.Marshal(tok)
			var wantTok string
			require.NoError(t, json.Unmarshal(want, &wantTok))
			assert.Equal(t, map[string]string{"token": wantTok}, got)
		})
	}
}

func TestKeepAlive(t *testing.T) {
	f := newFakeAPI(t)
	var mu sync.Mutex
	remotes := map[string]bool{} // guarded by mu
	f.handle(http.MethodPost, "/users/verify_token", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes[r.RemoteAddr] = true
		mu.Unlock()
		answer(200, claimsBody)(w, r)
	})
	c := newTestClient(t, f, newFakeClock())
	for range 20 {
		_, err := c.Verify(testCtx(t), testToken)
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, remotes, 1, "answers read to the end keep the connection alive")
}

// FuzzDecodeVerifyResponse feeds arbitrary verify_token answers to the
// decoder: it must not panic, must return exactly one of a user and an
// error, and every error must be exactly one of invalid and unavailable.
func FuzzDecodeVerifyResponse(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, claimsBody},
		{200, `{"sub":"u","aud":["a"],"data":"d","custom_user_data":{"k":1},"exp":1.5e9,"iat":null}`},
		{200, `"token expired"`},
		{200, `"nope"`},
		{200, `{"sub":""}`},
		{200, `[]`},
		{200, ``},
		{400, `{"error":"signature is invalid"}`},
		{401, `{"error":"signature is invalid"}`},
		{401, `{"error":"x","error_code":"InvalidSession"}`},
		{429, `{"error":"slow"}`},
		{503, ``},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	now := time.Unix(1676509482, 0)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		header := http.Header{"Retry-After": {"5"}}
		u, err := decodeVerifyResponse(status, header, body, now)
		if (u == nil) == (err == nil) {
			t.Fatalf("decodeVerifyResponse(%d, %q) = %v, %v: want exactly one", status, body, u, err)
		}
		if u != nil {
			if u.ID == "" || status != http.StatusOK {
				t.Fatalf("accepted %d %q as %+v", status, body, u)
			}
			return
		}
		if errors.Is(err, verifier.ErrInvalidToken) == errors.Is(err, verifier.ErrUnavailable) {
			t.Fatalf("error %v is both or neither invalid and unavailable", err)
		}
		_ = err.Error()
	})
}

// BenchmarkClientVerify measures the hot path against a loopback fake that
// answers at once: one request, JSON body in, claims out.
func BenchmarkClientVerify(b *testing.B) {
	f := newFakeAPI(b)
	f.handle(http.MethodPost, "/users/verify_token", answer(200, claimsBody))
	cfg := Config{BaseURL: f.URL, GroupID: testGroup, AppID: testApp, PublicKey: testPublic, PrivateKey: testPrivate}
	c, err := NewClient(cfg) // default tuned transport
	require.NoError(b, err)
	ctx := context.Background()
	require.NoError(b, c.Login(ctx))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Verify(ctx, testToken); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDecodeVerifyResponse(b *testing.B) {
	body := []byte(claimsBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeVerifyResponse(200, nil, body, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
