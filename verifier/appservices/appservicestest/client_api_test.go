package appservicestest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func clientLoginURL(s *Server, app string) string {
	return s.ClientURL() + "/app/" + app + "/auth/providers/local-userpass/login"
}

func TestClientLogin(t *testing.T) {
	s := newTestServer(t)
	uid := s.AddUser("ada@example.com", "password1")
	disabled := s.AddUser("off@example.com", "password1")
	admin, _ := adminTokens(t, s)
	require.Equal(t, 204, do(t, s, "PUT", appURL(s)+"/users/"+disabled+"/disable", admin, nil).status)

	tests := []struct {
		name   string
		app    string
		body   any
		status int
		code   string
	}{
		{"ok", DefaultClientAppID, map[string]string{"username": "ada@example.com", "password": "password1"}, 200, ""},
		{"wrong password", DefaultClientAppID, map[string]string{"username": "ada@example.com", "password": "password2"}, 401, "InvalidPassword"},
		{"unknown user", DefaultClientAppID, map[string]string{"username": "nobody@example.com", "password": "password1"}, 401, "InvalidPassword"},
		{"disabled user", DefaultClientAppID, map[string]string{"username": "off@example.com", "password": "password1"}, 401, "UserDisabled"},
		{"unknown app", "other-app", map[string]string{"username": "ada@example.com", "password": "password1"}, 404, "AppNotFound"},
		{"malformed", DefaultClientAppID, "{", 400, "BadRequest"},
		{"password not a string", DefaultClientAppID, map[string]any{"username": "ada@example.com", "password": 1}, 400, "BadRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "POST", clientLoginURL(s, tt.app), "", tt.body)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			m := r.object(t)
			if tt.code != "" {
				assert.Equal(t, tt.code, m["error_code"])
				return
			}
			assert.Equal(t, uid, m["user_id"])
			assert.NotEmpty(t, m["device_id"])
			assert.Equal(t, 200, verify(t, s, admin, m["access_token"].(string)).status)
		})
	}
}

func TestAccessTokenClaims(t *testing.T) {
	s := newTestServer(t, WithTokenTTL(5*time.Minute), WithRefreshTokenTTL(time.Hour))
	uid := s.AddUser("ada@example.com", "password1")
	s.SetCustomUserData(uid, json.RawMessage(`{"plan":"pro"}`))
	sess, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	now := s.Now().Unix()

	claimsOf := func(tok string) jwt.MapClaims {
		var c jwt.MapClaims
		parsed, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return s.clientKey, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(s.Now))
		require.NoError(t, err)
		require.True(t, parsed.Valid)
		return c
	}
	a := claimsOf(sess.AccessToken)
	assert.Equal(t, "access", a["typ"])
	assert.Equal(t, uid, a["sub"])
	assert.Equal(t, sess.DeviceID, a["baas_device_id"])
	assert.Equal(t, sess.DeviceID, a["stitch_devId"])
	assert.Equal(t, DefaultDomainID, a["baas_domain_id"])
	assert.Equal(t, DefaultDomainID, a["stitch_domainId"])
	assert.Equal(t, float64(now), a["iat"])
	assert.Equal(t, float64(now+300), a["exp"])
	assert.Equal(t, map[string]any{"plan": "pro"}, a["user_data"])
	assert.True(t, validID(a["iss"].(string)))

	rc := claimsOf(sess.RefreshToken)
	assert.Equal(t, "refresh", rc["typ"])
	assert.Equal(t, float64(now+3600), rc["exp"])
	assert.NotContains(t, rc, "iss", "refresh tokens carry no issuer")
	assert.Equal(t, a["iss"], rc["baas_session_id"])
}

func TestClientRefresh(t *testing.T) {
	s := newTestServer(t)
	s.AddUser("ada@example.com", "password1")
	sess, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)

	s.Advance(DefaultTokenTTL) // the access token is expired now
	admin, _ := adminTokens(t, s)
	assert.Equal(t, `"token expired"`, string(verify(t, s, admin, sess.AccessToken).body))

	r := do(t, s, "POST", s.ClientURL()+"/auth/session", sess.RefreshToken, nil)
	require.Equal(t, 201, r.status, "body: %s", r.body)
	fresh := r.object(t)["access_token"].(string)
	v := verify(t, s, admin, fresh)
	require.Equal(t, 200, v.status)
	assert.Equal(t, sess.UserID, v.object(t)["sub"])

	refused := []struct {
		name, token, msg string
		code             any
	}{
		{"access token", fresh, "invalid refresh token: incorrect token type", nil},
		{"garbage", "x.y.z", "invalid session: signature is invalid", "InvalidSession"},
		{"no token", "", "invalid session: missing refresh token", "InvalidSession"},
		{"admin refresh", func() string { _, r := adminTokens(t, s); return r }(), "invalid session: signature is invalid", "InvalidSession"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "POST", s.ClientURL()+"/auth/session", tt.token, nil)
			require.Equal(t, 401, r.status)
			m := r.object(t)
			assert.Equal(t, tt.msg, m["error"])
			assert.Equal(t, tt.code, m["error_code"])
		})
	}

	t.Run("expired refresh token", func(t *testing.T) {
		s.Advance(DefaultRefreshTokenTTL)
		r := do(t, s, "POST", s.ClientURL()+"/auth/session", sess.RefreshToken, nil)
		require.Equal(t, 401, r.status)
		assert.Equal(t, "InvalidSession", r.object(t)["error_code"])
	})
}

func TestClientLogout(t *testing.T) {
	s := newTestServer(t, WithStrictRevocation(true))
	s.AddUser("ada@example.com", "password1")
	one, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	two, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	admin, _ := adminTokens(t, s)

	require.Equal(t, 204, do(t, s, "DELETE", s.ClientURL()+"/auth/session", one.RefreshToken, nil).status)
	gone := map[string]any{"error": "invalid session: failed to find refresh token", "error_code": "InvalidSession"}
	assert.Equal(t, gone, do(t, s, "POST", s.ClientURL()+"/auth/session", one.RefreshToken, nil).object(t))
	assert.Equal(t, gone, do(t, s, "DELETE", s.ClientURL()+"/auth/session", one.RefreshToken, nil).object(t),
		"a second logout: realm-web's logOut takes this message as success")
	assert.Equal(t, 401, verify(t, s, admin, one.AccessToken).status, "strict: the session is gone")
	assert.Equal(t, 201, do(t, s, "POST", s.ClientURL()+"/auth/session", two.RefreshToken, nil).status, "other sessions live on")
	assert.Equal(t, 200, verify(t, s, admin, two.AccessToken).status)
}

func TestDirectHelpers(t *testing.T) {
	s := newTestServer(t)
	uid := s.AddUser("ada@example.com", "password1")
	assert.PanicsWithValue(t, "appservicestest: AddUser(ada@example.com): email already in use", func() { s.AddUser("ada@example.com", "x") })
	assert.Panics(t, func() { s.AddPendingUser("ada@example.com") })
	assert.Panics(t, func() { s.SetCustomUserData(uid, json.RawMessage(`[1]`)) })
	assert.Panics(t, func() { s.SetCustomUserData("000000000000000000000000", nil) })

	_, err := s.NewAccessToken("000000000000000000000000")
	assert.ErrorIs(t, err, ErrUserNotFound)
	_, err = s.LoginUser("ada@example.com", "wrong")
	assert.ErrorIs(t, err, ErrInvalidPassword)
	tok, err := s.NewAccessToken(uid)
	require.NoError(t, err)
	admin, _ := adminTokens(t, s)
	assert.Equal(t, uid, verify(t, s, admin, tok).object(t)["sub"])
}
