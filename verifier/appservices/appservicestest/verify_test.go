package appservicestest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerifyTokenValid(t *testing.T) {
	s := newTestServer(t)
	uid := s.AddUser("ada@example.com", "password1")
	s.SetCustomUserData(uid, json.RawMessage(`{"role":"admin"}`))
	sess, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	admin, _ := adminTokens(t, s)

	r := verify(t, s, admin, sess.AccessToken)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	m := r.object(t)
	now := s.Now().Unix()
	assert.Equal(t, uid, m["sub"])
	assert.Equal(t, float64(now), m["iat"])
	assert.Equal(t, float64(now+int64(DefaultTokenTTL/time.Second)), m["exp"])
	assert.Equal(t, DefaultDomainID, m["domain_id"])
	assert.Equal(t, sess.DeviceID, m["device_id"])
	assert.NotEmpty(t, m["iss"])
	assert.Equal(t, map[string]any{"role": "admin"}, m["custom_user_data"])
	assert.NotContains(t, m, "aud")
	assert.NotContains(t, m, "data")
	assert.Equal(t, int64(1), s.Calls(EndpointVerifyToken))
}

func TestVerifyTokenRefused(t *testing.T) {
	s := newTestServer(t)
	uid := s.AddUser("ada@example.com", "password1")
	sess, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	admin, _ := adminTokens(t, s)
	other := NewServer()
	other.AddUser("ada@example.com", "password1")
	foreign, err := other.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	other.Close()
	now := s.Now()
	live := jwt.MapClaims{"sub": uid, "typ": "access", "iss": "x", "exp": now.Add(time.Hour).Unix()}

	tests := []struct {
		name   string
		token  string
		status int
		body   string // exact body when not empty
		errMsg string // "error" field when not empty
	}{
		{"garbage", "not-a-jwt", 401, "", "signature is invalid"},
		{"empty", "", 401, "", "signature is invalid"},
		{"foreign signature", foreign.AccessToken, 401, "", "signature is invalid"},
		{"refresh token", sess.RefreshToken, 401, "", "token is not an access token"},
		{"expired", s.Sign(jwt.MapClaims{"sub": uid, "typ": "access", "iss": "x", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()}), 200, `"token expired"`, ""},
		{"no exp", s.Sign(jwt.MapClaims{"sub": uid, "typ": "access", "iss": "x"}), 200, `"token expired"`, ""},
		{"alg none", signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, live), 401, "", "signature is invalid"},
		{"alg HS512 same key", signed(t, jwt.SigningMethodHS512, s.clientKey, live), 401, "", "signature is invalid"},
		{"admin token", admin, 401, "", "signature is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := verify(t, s, admin, tt.token)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			if tt.body != "" {
				assert.Equal(t, tt.body, string(r.body))
			}
			if tt.errMsg != "" {
				m := r.object(t)
				assert.Equal(t, tt.errMsg, m["error"])
				assert.NotContains(t, m, "error_code", "a code here would read as an admin session failure")
			}
		})
	}
}

func signed(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, c).SignedString(key)
	require.NoError(t, err)
	return tok
}

func TestVerifyTokenExpiresOnServerClock(t *testing.T) {
	s := newTestServer(t, WithTokenTTL(10*time.Minute))
	uid := s.AddUser("ada@example.com", "password1")
	tok, err := s.NewAccessToken(uid)
	require.NoError(t, err)
	admin, _ := adminTokens(t, s)

	s.Advance(10*time.Minute - time.Second)
	require.Equal(t, http.StatusOK, verify(t, s, admin, tok).status)
	assert.Equal(t, uid, verify(t, s, admin, tok).object(t)["sub"])

	s.Advance(time.Second) // now == exp: expired
	r := verify(t, s, admin, tok)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, `"token expired"`, string(r.body))
}

func TestVerifyTokenOptionalClaims(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	exp := s.Now().Add(time.Hour).Unix()
	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   map[string]any
		absent []string
	}{
		{"aud string and data", jwt.MapClaims{"aud": "svc", "data": "hello"}, map[string]any{"aud": "svc", "data": "hello"}, []string{"custom_user_data"}},
		{"aud array", jwt.MapClaims{"aud": []string{"a", "b"}}, map[string]any{"aud": []any{"a", "b"}}, []string{"data"}},
		{"non-string data is dropped", jwt.MapClaims{"data": 5}, map[string]any{}, []string{"data"}},
		{"non-object user_data is dropped", jwt.MapClaims{"user_data": "x"}, map[string]any{}, []string{"custom_user_data"}},
		{"user_data object", jwt.MapClaims{"user_data": map[string]any{"k": "v"}}, map[string]any{"custom_user_data": map[string]any{"k": "v"}}, []string{"aud"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := jwt.MapClaims{"sub": "u", "iss": "sess", "typ": "access", "exp": exp}
			for k, v := range tt.claims {
				c[k] = v
			}
			r := verify(t, s, admin, s.Sign(c))
			require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
			m := r.object(t)
			for k, v := range tt.want {
				assert.Equal(t, v, m[k], k)
			}
			for _, k := range tt.absent {
				assert.NotContains(t, m, k)
			}
		})
	}
}

func TestVerifyTokenBadBodies(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"not JSON", "{", 400},
		{"token missing", "{}", 400},
		{"token null", `{"token":null}`, 400},
		{"token not a string", `{"token":5}`, 400},
		{"array", `["x"]`, 400},
		{"too large", `{"token":"` + strings.Repeat("a", maxRequestBody) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "POST", appURL(s)+"/users/verify_token", admin, tt.body)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			assert.NotEmpty(t, r.object(t)["error"])
		})
	}
}

func TestVerifyTokenSpecStatusVariant(t *testing.T) {
	s := newTestServer(t, WithMalformedTokenStatus(http.StatusBadRequest))
	admin, _ := adminTokens(t, s)
	r := verify(t, s, admin, "garbage")
	require.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "signature is invalid", r.object(t)["error"])
	assert.Panics(t, func() { WithMalformedTokenStatus(500) })
}

func TestRevocation(t *testing.T) {
	// Each action is taken on the user after a token was issued; the table
	// says whether that token still verifies and whether its refresh token
	// still works, in the default (faithful) and strict modes.
	actions := map[string]func(s *Server, admin, uid string){
		"revoke": func(s *Server, admin, uid string) {
			require.Equal(t, 204, do(t, s, "PUT", appURL(s)+"/users/"+uid+"/logout", admin, nil).status)
		},
		"disable": func(s *Server, admin, uid string) {
			require.Equal(t, 204, do(t, s, "PUT", appURL(s)+"/users/"+uid+"/disable", admin, nil).status)
		},
		"delete": func(s *Server, admin, uid string) {
			require.Equal(t, 204, do(t, s, "DELETE", appURL(s)+"/users/"+uid, admin, nil).status)
		},
	}
	tests := []struct {
		action     string
		strict     bool
		verifies   bool
		newLoginOK bool // a login after the action gets a token that verifies
	}{
		{"revoke", false, true, true},
		{"disable", false, true, false},
		{"delete", false, true, false},
		{"revoke", true, false, true},
		{"disable", true, false, false},
		{"delete", true, false, false},
	}
	for _, tt := range tests {
		name := tt.action
		if tt.strict {
			name += "/strict"
		}
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, WithStrictRevocation(tt.strict))
			uid := s.AddUser("ada@example.com", "password1")
			sess, err := s.LoginUser("ada@example.com", "password1")
			require.NoError(t, err)
			admin, _ := adminTokens(t, s)
			require.Equal(t, 200, verify(t, s, admin, sess.AccessToken).status)

			actions[tt.action](s, admin, uid)

			r := verify(t, s, admin, sess.AccessToken)
			if tt.verifies {
				require.Equal(t, 200, r.status, "body: %s", r.body)
				assert.Equal(t, uid, r.object(t)["sub"])
			} else {
				require.Equal(t, 401, r.status, "body: %s", r.body)
				assert.NotContains(t, r.object(t), "error_code")
			}
			rr := do(t, s, "POST", s.ClientURL()+"/auth/session", sess.RefreshToken, nil)
			assert.Equal(t, 401, rr.status)
			assert.Equal(t, "InvalidSession", rr.object(t)["error_code"])

			again, err := s.LoginUser("ada@example.com", "password1")
			if !tt.newLoginOK {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 200, verify(t, s, admin, again.AccessToken).status, "a login after the revoke is not revoked")
		})
	}
}
