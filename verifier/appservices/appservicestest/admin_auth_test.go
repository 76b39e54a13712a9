package appservicestest

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdminLogin(t *testing.T) {
	s := newTestServer(t, WithKeys("pub", "priv"))
	login := s.AdminURL() + "/auth/providers/mongodb-cloud/login"
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"right keys", map[string]string{"username": "pub", "apiKey": "priv"}, 200, ""},
		{"wrong private key", map[string]string{"username": "pub", "apiKey": "nope"}, 401, "AuthError"},
		{"wrong public key", map[string]string{"username": "pubx", "apiKey": "priv"}, 401, "AuthError"},
		{"keys swapped", map[string]string{"username": "priv", "apiKey": "pub"}, 401, "AuthError"},
		{"missing key", map[string]string{"username": "pub"}, 401, "AuthError"},
		{"malformed body", "{", 400, "BadRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "POST", login, "", tt.body)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			m := r.object(t)
			if tt.code != "" {
				assert.Equal(t, tt.code, m["error_code"])
				return
			}
			for _, k := range []string{"access_token", "refresh_token", "user_id", "device_id"} {
				assert.NotEmpty(t, m[k], k)
			}
		})
	}
}

func TestAdminSessionLifecycle(t *testing.T) {
	s := newTestServer(t)
	access, refresh := adminTokens(t, s)
	users := appURL(s) + "/users"
	errOf := func(r response) (string, any) {
		m := r.object(t)
		return m["error"].(string), m["error_code"]
	}

	require.Equal(t, 200, do(t, s, "GET", users, access, nil).status)

	// Expiry on the emulator's clock.
	s.Advance(DefaultAdminTokenTTL)
	r := do(t, s, "GET", users, access, nil)
	require.Equal(t, 401, r.status)
	msg, code := errOf(r)
	assert.Equal(t, "invalid session: access token expired", msg)
	assert.Equal(t, "InvalidSession", code)

	// Refresh gives a working access token.
	r = do(t, s, "POST", s.AdminURL()+"/auth/session", refresh, nil)
	require.Equal(t, http.StatusCreated, r.status)
	access = r.object(t)["access_token"].(string)
	require.Equal(t, 200, do(t, s, "GET", users, access, nil).status)

	// ExpireAdminSessions expires it at once; refresh still works.
	s.ExpireAdminSessions()
	r = do(t, s, "GET", users, access, nil)
	require.Equal(t, 401, r.status)
	msg, _ = errOf(r)
	assert.Equal(t, "invalid session: access token expired", msg)
	r = do(t, s, "POST", s.AdminURL()+"/auth/session", refresh, nil)
	require.Equal(t, http.StatusCreated, r.status)
	access = r.object(t)["access_token"].(string)
	require.Equal(t, 200, do(t, s, "GET", users, access, nil).status)

	// Logout ends the session: its tokens stop working.
	require.Equal(t, http.StatusNoContent, do(t, s, "DELETE", s.AdminURL()+"/auth/session", refresh, nil).status)
	assert.Equal(t, 401, do(t, s, "GET", users, access, nil).status)
	r = do(t, s, "POST", s.AdminURL()+"/auth/session", refresh, nil)
	require.Equal(t, 401, r.status)
	msg, code = errOf(r)
	assert.Equal(t, "invalid session: failed to find refresh token", msg, "the OpenAPI spec's message")
	assert.Equal(t, "InvalidSession", code)
	r = do(t, s, "DELETE", s.AdminURL()+"/auth/session", refresh, nil)
	require.Equal(t, 401, r.status)
	msg, _ = errOf(r)
	assert.Equal(t, "invalid session: failed to find refresh token", msg)

	assert.Equal(t, int64(1), s.Calls(EndpointAdminLogin))
	assert.Equal(t, int64(3), s.Calls(EndpointAdminRefresh))
	assert.Equal(t, int64(2), s.Calls(EndpointAdminLogout))
}

func TestAdminAuthRefused(t *testing.T) {
	s := newTestServer(t)
	access, refresh := adminTokens(t, s)
	uid := s.AddUser("ada@example.com", "password1")
	client, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	forged := signed(t, jwt.SigningMethodHS256, []byte("other key"), jwt.MapClaims{"typ": "access", "iss": "x", "jti": "1", "exp": time.Now().Add(time.Hour).Unix()})

	tests := []struct {
		name   string
		url    string
		token  string
		status int
		msg    string
		code   any // nil: no error_code field
	}{
		{"no token", appURL(s) + "/users/" + uid, "", 401, "invalid session: missing access token", "InvalidSession"},
		{"refresh token as access token", appURL(s) + "/users/" + uid, refresh, 401, "invalid session: valid Issuer required", nil},
		{"client access token", appURL(s) + "/users/" + uid, client.AccessToken, 401, "invalid session: signature is invalid", "InvalidSession"},
		{"forged", appURL(s) + "/users/" + uid, forged, 401, "invalid session: signature is invalid", "InvalidSession"},
		{"unknown group", s.AdminURL() + "/groups/000000000000000000000000/apps/" + s.cfg.appID + "/users/" + uid, access, 404, "group not found", "GroupNotFound"},
		{"unknown app", s.AdminURL() + "/groups/" + s.cfg.groupID + "/apps/000000000000000000000000/users/" + uid, access, 404, "app not found", "AppNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "GET", tt.url, tt.token, nil)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			m := r.object(t)
			assert.Equal(t, tt.msg, m["error"])
			assert.Equal(t, tt.code, m["error_code"])
		})
	}

	for _, method := range []string{"POST", "DELETE"} {
		t.Run("access token as refresh token "+method, func(t *testing.T) {
			r := do(t, s, method, s.AdminURL()+"/auth/session", access, nil)
			require.Equal(t, 401, r.status)
			assert.Equal(t, map[string]any{"error": "invalid refresh token: incorrect token type"}, r.object(t),
				"the OpenAPI spec's message, with no error_code")
		})
	}
}

func TestAdminProfile(t *testing.T) {
	s := newTestServer(t, WithKeys("pub", "priv"))
	access, refresh := adminTokens(t, s)
	r := do(t, s, "GET", s.AdminURL()+"/auth/profile", access, nil)
	require.Equal(t, 200, r.status, "body: %s", r.body)
	m := r.object(t)
	for _, k := range []string{"user_id", "domain_id", "identities", "data", "type", "roles"} {
		assert.Contains(t, m, k)
	}
	login := do(t, s, "POST", s.AdminURL()+"/auth/providers/mongodb-cloud/login", "", map[string]string{"username": "pub", "apiKey": "priv"})
	assert.Equal(t, login.object(t)["user_id"], m["user_id"])
	assert.Equal(t, "normal", m["type"])
	assert.Equal(t, []any{map[string]any{"role_name": "GROUP_OWNER", "group_id": DefaultGroupID}}, m["roles"],
		"realm-cli reads roles[].group_id")

	assert.Equal(t, 401, do(t, s, "GET", s.AdminURL()+"/auth/profile", "", nil).status)
	assert.Equal(t, 401, do(t, s, "GET", s.AdminURL()+"/auth/profile", refresh, nil).status)
}
