package appservicestest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loginURL(s *Server, provider string) string {
	return s.ClientURL() + "/app/" + DefaultClientAppID + "/auth/providers/" + provider + "/login"
}

// realmWebLogin is the body realm-web 2.0.1 sends to log in, deviceId as the
// canonical Extended JSON of its bson.ObjectId when it has one.
func realmWebLogin(email, password string, deviceID any) map[string]any {
	dev := map[string]any{"sdkVersion": "2.0.1", "platform": "node", "platformVersion": "20.20.2"}
	if deviceID != nil {
		dev["deviceId"] = deviceID
	}
	return map[string]any{"username": email, "password": password, "options": map[string]any{"device": dev}}
}

func devicesOf(t *testing.T, s *Server, admin, uid string) []map[string]any {
	t.Helper()
	r := do(t, s, "GET", appURL(s)+"/users/"+uid+"/devices", admin, nil)
	require.Equal(t, 200, r.status)
	var devs []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &devs))
	return devs
}

func TestLoginDevices(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	uid := s.AddUser("ada@example.com", "password1")
	other := s.AddUser("bob@example.com", "password1")
	login := func(email string, deviceID any) string {
		r := do(t, s, "POST", loginURL(s, "local-userpass"), "", realmWebLogin(email, "password1", deviceID))
		require.Equal(t, 200, r.status, "body: %s", r.body)
		return r.object(t)["device_id"].(string)
	}

	first := login("ada@example.com", nil)
	assert.Equal(t, []map[string]any{{
		"_id": first, "client_app_version": "", "platform": "node", "platform_version": "20.20.2", "sdk_version": "2.0.1",
	}}, devicesOf(t, s, admin, uid))

	assert.Equal(t, first, login("ada@example.com", map[string]string{"$oid": first}), "realm-web's deviceId: the same device")
	assert.Equal(t, first, login("ada@example.com", first), "a deviceId as a plain string")
	assert.Len(t, devicesOf(t, s, admin, uid), 1)

	bobs := login("bob@example.com", nil)
	for name, id := range map[string]any{
		"another user's device": map[string]string{"$oid": bobs},
		"an unknown device":     "0123456789abcdef01234567",
		"the default device":    defaultDeviceID,
		"not an ObjectId":       "device-1",
		"a number":              7,
	} {
		t.Run(name, func(t *testing.T) {
			got := login("ada@example.com", id)
			assert.NotEqual(t, first, got)
			assert.NotEqual(t, bobs, got)
		})
	}
	assert.Len(t, devicesOf(t, s, admin, uid), 6)
	assert.Len(t, devicesOf(t, s, admin, other), 1)

	r := do(t, s, "POST", loginURL(s, "local-userpass"), "", map[string]any{"username": "ada@example.com", "password": "password1", "options": "x"})
	require.Equal(t, 200, r.status, "a malformed device description does not stop the login")
}

func TestProfile(t *testing.T) {
	s := newTestServer(t)
	uid := s.AddUser("ada@example.com", "password1")
	sess, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	profile := s.ClientURL() + "/auth/profile"

	r := do(t, s, "GET", profile, sess.AccessToken, nil)
	require.Equal(t, 200, r.status, "body: %s", r.body)
	m := r.object(t)
	ids := m["identities"].([]any)
	require.Len(t, ids, 1)
	id := ids[0].(map[string]any)
	assert.Equal(t, map[string]any{
		"user_id": uid, "domain_id": DefaultDomainID, "type": "normal",
		"data":       map[string]any{"email": "ada@example.com"},
		"identities": []any{map[string]any{"id": id["id"], "provider_id": s.st.localProviderID, "provider_type": "local-userpass"}},
	}, m)

	tests := []struct {
		name, token, msg string
		code             any
	}{
		{"no token", "", "invalid session: missing access token", "InvalidSession"},
		{"refresh token", sess.RefreshToken, "invalid session: valid Issuer required", nil},
		{"not signed by the emulator", "x.y.z", "unauthorized", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "GET", profile, tt.token, nil)
			require.Equal(t, 401, r.status)
			assert.Equal(t, tt.msg, r.object(t)["error"])
			assert.Equal(t, tt.code, r.object(t)["error_code"])
		})
	}
	t.Run("expired", func(t *testing.T) {
		s.Advance(DefaultTokenTTL)
		r := do(t, s, "GET", profile, sess.AccessToken, nil)
		require.Equal(t, 401, r.status)
		assert.Equal(t, map[string]any{"error": "invalid session: access token expired", "error_code": "InvalidSession"}, r.object(t),
			"SDKs refresh on InvalidSession")
	})
}

func TestDeleteSelf(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	uid := s.AddUser("ada@example.com", "password1")
	sess, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	require.Equal(t, 204, do(t, s, "DELETE", s.ClientURL()+"/auth/delete", sess.AccessToken, nil).status)
	assert.Equal(t, 404, do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil).status)
	assert.Equal(t, 401, do(t, s, "GET", s.ClientURL()+"/auth/profile", sess.AccessToken, nil).status)
	assert.Equal(t, 401, do(t, s, "POST", s.ClientURL()+"/auth/session", sess.RefreshToken, nil).status)
}

func TestAnonLogin(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	body := map[string]any{"options": map[string]any{"device": map[string]string{"platform": "chrome"}}}
	one := do(t, s, "POST", loginURL(s, "anon-user"), "", body)
	require.Equal(t, 200, one.status, "body: %s", one.body)
	two := do(t, s, "POST", loginURL(s, "anon-user"), "", body)
	require.Equal(t, 200, two.status)
	a, b := one.object(t), two.object(t)
	assert.NotEqual(t, a["user_id"], b["user_id"], "every anonymous login is a new user")

	u := do(t, s, "GET", appURL(s)+"/users/"+a["user_id"].(string), admin, nil).object(t)
	assert.Equal(t, "anon-user", u["identities"].([]any)[0].(map[string]any)["provider_type"])
	assert.Equal(t, "chrome", devicesOf(t, s, admin, a["user_id"].(string))[0]["platform"])
	assert.Equal(t, 200, do(t, s, "GET", s.ClientURL()+"/auth/profile", a["access_token"].(string), nil).status)
	assert.Equal(t, 400, do(t, s, "POST", loginURL(s, "anon-user")+"?link=true", "", body).status, "linking is not emulated")
}

func TestAPIKeys(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	keys := appURL(s) + "/api_keys"

	r := do(t, s, "POST", keys, admin, map[string]string{"name": "backend"})
	require.Equal(t, 201, r.status, "body: %s", r.body)
	created := r.object(t)
	assert.Equal(t, "backend", created["name"])
	assert.Equal(t, false, created["disabled"])
	secret := created["key"].(string)
	require.NotEmpty(t, secret)
	id := created["_id"].(string)

	assert.Equal(t, 409, do(t, s, "POST", keys, admin, map[string]string{"name": "backend"}).status)
	assert.Equal(t, 400, do(t, s, "POST", keys, admin, map[string]any{"name": 3}).status)
	assert.Equal(t, map[string]any{"_id": id, "name": "backend", "disabled": false},
		do(t, s, "GET", keys+"/"+id, admin, nil).object(t), "the key's value is shown only at creation")
	var list []map[string]any
	require.NoError(t, json.Unmarshal(do(t, s, "GET", keys, admin, nil).body, &list))
	assert.Equal(t, []map[string]any{{"_id": id, "name": "backend", "disabled": false}}, list)

	login := func(key string) response {
		return do(t, s, "POST", loginURL(s, "api-key"), "", map[string]any{"key": key, "options": map[string]any{"device": map[string]string{"platform": "go"}}})
	}
	lr := login(secret)
	require.Equal(t, 200, lr.status, "body: %s", lr.body)
	uid := lr.object(t)["user_id"].(string)
	u := do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil).object(t)
	assert.Equal(t, "server", u["type"], "API key users are server users")
	ident := u["identities"].([]any)[0].(map[string]any)
	assert.Equal(t, "api-key", ident["provider_type"])
	assert.Equal(t, id, ident["id"])
	assert.Equal(t, map[string]any{"name": "backend"}, u["data"])
	v := verify(t, s, admin, lr.object(t)["access_token"].(string))
	assert.Equal(t, uid, v.object(t)["sub"])

	assert.Equal(t, "AuthError", login("not-the-key").object(t)["error_code"])
	require.Equal(t, 204, do(t, s, "PUT", keys+"/"+id+"/disable", admin, nil).status)
	assert.Equal(t, 401, login(secret).status, "a disabled key cannot log in")
	require.Equal(t, 204, do(t, s, "PUT", keys+"/"+id+"/enable", admin, nil).status)
	assert.Equal(t, 200, login(secret).status)

	require.Equal(t, 204, do(t, s, "DELETE", keys+"/"+id, admin, nil).status)
	assert.Equal(t, 404, do(t, s, "GET", keys+"/"+id, admin, nil).status)
	assert.Equal(t, 404, do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil).status, "its server user is gone too")
	assert.Equal(t, 401, login(secret).status)
	for _, path := range []string{"/" + id, "/" + id + "/enable", "/" + id + "/disable"} {
		method := map[bool]string{true: "GET", false: "PUT"}[path == "/"+id]
		assert.Equal(t, "APIKeyNotFound", do(t, s, method, keys+path, admin, nil).object(t)["error_code"], path)
	}
}
