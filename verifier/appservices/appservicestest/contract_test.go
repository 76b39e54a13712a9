package appservicestest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestContract checks every endpoint against the Admin API's OpenAPI spec and
// the client API as the Realm SDKs call it, with raw HTTP:
// status code, and the JSON field names of the answer. Rows run in order on
// one server; a row may depend on the state earlier rows left.
func TestContract(t *testing.T) {
	s := newTestServer(t)
	uid := s.AddUser("ada@example.com", "password1")
	victim := s.AddUser("victim@example.com", "password1")
	s.AddPendingUser("pending@example.com")
	s.AddPendingUser("pending2@example.com")
	sess, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	admin, adminRefresh := adminTokens(t, s)
	expired := s.Sign(jwt.MapClaims{"sub": uid, "typ": "access", "iss": "x", "exp": s.Now().Unix() - 1})

	user := []string{"_id", "identities", "type", "creation_date", "last_authentication_date", "disabled", "data", "domain_id", "sessions_valid_since"}
	errBody := []string{"error", "error_code"}
	const (
		noAuth = iota
		adminAccess
		adminRefreshTok
		clientRefresh
		clientAccess
	)
	const (
		object = "object"
		array  = "array"
		str    = "string"
		empty  = "empty"
	)
	tests := []struct {
		name   string
		method string
		path   string // {app} expands to the app-scoped prefix, {uid}/{victim} to user ids
		auth   int
		body   any
		status int
		shape  string
		keys   []string // required keys of the object, or of every array element
	}{
		{"admin login", "POST", "/api/admin/v3.0/auth/providers/mongodb-cloud/login", noAuth, map[string]string{"username": DefaultPublicKey, "apiKey": DefaultPrivateKey}, 200, object, []string{"access_token", "refresh_token", "user_id", "device_id"}},
		{"admin login bad keys", "POST", "/api/admin/v3.0/auth/providers/mongodb-cloud/login", noAuth, map[string]string{"username": "x", "apiKey": "y"}, 401, object, errBody},
		{"admin refresh", "POST", "/api/admin/v3.0/auth/session", adminRefreshTok, nil, 201, object, []string{"access_token"}},
		{"1 create user", "POST", "{app}/users", adminAccess, map[string]string{"email": "new@example.com", "password": "password1"}, 201, object, user},
		{"2 delete pending user", "DELETE", "{app}/user_registrations/by_email/pending@example.com", adminAccess, nil, 204, empty, nil},
		{"4 disable user", "PUT", "{app}/users/{uid}/disable", adminAccess, nil, 204, empty, nil},
		{"5 enable user", "PUT", "{app}/users/{uid}/enable", adminAccess, nil, 204, empty, nil},
		{"6 get user", "GET", "{app}/users/{uid}", adminAccess, nil, 200, object, user},
		{"6 get unknown user", "GET", "{app}/users/000000000000000000000000", adminAccess, nil, 404, object, errBody},
		{"7 list devices", "GET", "{app}/users/{uid}/devices", adminAccess, nil, 200, array, []string{"_id", "client_app_version", "platform", "platform_version"}},
		{"8 list pending users", "GET", "{app}/user_registrations/pending_users", adminAccess, nil, 200, array, []string{"_id", "user_id", "domain_id", "login_ids"}},
		{"9 list users", "GET", "{app}/users?sort=_id&desc=true", adminAccess, nil, 200, array, user},
		{"9 list users bad sort", "GET", "{app}/users?sort=email", adminAccess, nil, 400, object, errBody},
		{"10 reset email", "PATCH", "{app}/users/{uid}/reset_email", adminAccess, map[string]string{"email": "ada2@example.com"}, 204, empty, nil},
		{"10 reset email empty", "PATCH", "{app}/users/{uid}/reset_email", adminAccess, map[string]string{"email": ""}, 400, object, errBody},
		{"12 verify token", "POST", "{app}/users/verify_token", adminAccess, map[string]string{"token": sess.AccessToken}, 200, object, []string{"sub", "exp", "iat", "iss", "domain_id", "device_id"}},
		{"12 verify expired token", "POST", "{app}/users/verify_token", adminAccess, map[string]string{"token": expired}, 200, str, nil},
		{"12 verify malformed token", "POST", "{app}/users/verify_token", adminAccess, map[string]string{"token": "x"}, 401, object, []string{"error"}},
		{"12 verify without admin session", "POST", "{app}/users/verify_token", noAuth, map[string]string{"token": sess.AccessToken}, 401, object, errBody},
		{"12 verify with a refresh token as admin", "POST", "{app}/users/verify_token", adminRefreshTok, map[string]string{"token": sess.AccessToken}, 401, object, []string{"error"}},
		{"admin profile", "GET", "/api/admin/v3.0/auth/profile", adminAccess, nil, 200, object, []string{"user_id", "domain_id", "identities", "data", "type", "roles"}},
		{"confirm pending user", "POST", "{app}/user_registrations/by_email/pending2@example.com/confirm", adminAccess, nil, 204, empty, nil},
		{"rerun confirmation of nobody", "POST", "{app}/user_registrations/by_email/nobody@example.com/run_confirm", adminAccess, nil, 404, object, errBody},
		{"create API key", "POST", "{app}/api_keys", adminAccess, map[string]string{"name": "k"}, 201, object, []string{"_id", "key", "name", "disabled"}},
		{"list API keys", "GET", "{app}/api_keys", adminAccess, nil, 200, array, []string{"_id", "name", "disabled"}},
		{"location", "GET", "/api/client/v2.0/app/" + DefaultClientAppID + "/location", noAuth, nil, 200, object, []string{"deployment_model", "location", "hostname", "ws_hostname"}},
		{"register", "POST", "/api/client/v2.0/app/" + DefaultClientAppID + "/auth/providers/local-userpass/register", noAuth, map[string]string{"email": "reg@example.com", "password": "password1"}, 201, empty, nil},
		{"anonymous login", "POST", "/api/client/v2.0/app/" + DefaultClientAppID + "/auth/providers/anon-user/login", noAuth, map[string]any{}, 200, object, []string{"access_token", "refresh_token", "user_id", "device_id"}},
		{"client login", "POST", "/api/client/v2.0/app/" + DefaultClientAppID + "/auth/providers/local-userpass/login", noAuth, map[string]string{"username": "victim@example.com", "password": "password1"}, 200, object, []string{"access_token", "refresh_token", "user_id", "device_id"}},
		{"client refresh", "POST", "/api/client/v2.0/auth/session", clientRefresh, nil, 201, object, []string{"access_token"}},
		{"client profile", "GET", "/api/client/v2.0/auth/profile", clientAccess, nil, 200, object, []string{"user_id", "domain_id", "identities", "data", "type"}},
		{"unknown route", "GET", "/api/client/v2.0/nowhere", noAuth, nil, 404, object, errBody},
		{"11 revoke sessions", "PUT", "{app}/users/{victim}/logout", adminAccess, nil, 204, empty, nil},
		{"3 delete user", "DELETE", "{app}/users/{victim}", adminAccess, nil, 204, empty, nil},
		{"3 delete deleted user", "DELETE", "{app}/users/{victim}", adminAccess, nil, 404, object, errBody},
		{"admin logout", "DELETE", "/api/admin/v3.0/auth/session", adminRefreshTok, nil, 204, empty, nil},
	}
	var victimRefresh, victimAccess string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := strings.NewReplacer("{app}", strings.TrimPrefix(appURL(s), s.URL), "{uid}", uid, "{victim}", victim).Replace(tt.path)
			tok := map[int]string{noAuth: "", adminAccess: admin, adminRefreshTok: adminRefresh, clientRefresh: victimRefresh, clientAccess: victimAccess}[tt.auth]
			r := do(t, s, tt.method, s.URL+path, tok, tt.body)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			switch tt.shape {
			case empty:
				assert.Empty(t, r.body)
				return
			case str:
				var v string
				require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
				return
			}
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			var objs []map[string]any
			if tt.shape == array {
				require.NoError(t, json.Unmarshal(r.body, &objs), "body: %s", r.body)
				require.NotEmpty(t, objs, "need an element to check field names")
			} else {
				objs = []map[string]any{r.object(t)}
			}
			for _, o := range objs {
				for _, k := range tt.keys {
					assert.Contains(t, o, k)
				}
			}
			if tt.name == "client login" {
				victimRefresh = objs[0]["refresh_token"].(string)
				victimAccess = objs[0]["access_token"].(string)
			}
		})
	}
}
