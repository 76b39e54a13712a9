package appservicestest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateUser(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	s.AddPendingUser("pending@example.com")
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"created", map[string]string{"email": "ada@example.com", "password": "password1"}, 201, ""},
		{"email in use", map[string]string{"email": "ada@example.com", "password": "password1"}, 409, "AccountNameInUse"},
		{"email in use, other case", map[string]string{"email": "ADA@example.com", "password": "password1"}, 409, "AccountNameInUse"},
		{"pending email", map[string]string{"email": "pending@example.com", "password": "password1"}, 409, "AccountNameInUse"},
		{"short password", map[string]string{"email": "bob@example.com", "password": "12345"}, 400, "BadRequest"},
		{"email not a string", map[string]any{"email": 1, "password": "password1"}, 400, "BadRequest"},
		{"malformed", "{", 400, "BadRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "POST", appURL(s)+"/users", admin, tt.body)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			m := r.object(t)
			if tt.code != "" {
				assert.Equal(t, tt.code, m["error_code"])
				return
			}
			assert.True(t, validID(m["_id"].(string)))
			assert.Equal(t, "normal", m["type"])
			assert.Equal(t, false, m["disabled"])
			assert.Equal(t, float64(s.Now().Unix()), m["creation_date"])
			assert.Equal(t, map[string]any{"email": "ada@example.com"}, m["data"])
			ids := m["identities"].([]any)
			require.Len(t, ids, 1)
			id := ids[0].(map[string]any)
			assert.Equal(t, "local-userpass", id["provider_type"])
			assert.Equal(t, map[string]any{"email": "ada@example.com"}, id["provider_data"])
			// The created user can log in.
			_, err := s.LoginUser("ada@example.com", "password1")
			assert.NoError(t, err)
		})
	}
}

func TestUserNotFound(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	const missing = "000000000000000000000001"
	tests := []struct{ method, path string }{
		{"DELETE", "/users/" + missing},
		{"PUT", "/users/" + missing + "/disable"},
		{"PUT", "/users/" + missing + "/enable"},
		{"GET", "/users/" + missing},
		{"GET", "/users/" + missing + "/devices"},
		{"PUT", "/users/" + missing + "/logout"},
		{"PATCH", "/users/" + missing + "/reset_email"},
		{"DELETE", "/user_registrations/by_email/nobody@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var body any
			if tt.method == "PATCH" {
				body = map[string]string{"email": "x@example.com"}
			}
			r := do(t, s, tt.method, appURL(s)+tt.path, admin, body)
			require.Equal(t, 404, r.status, "body: %s", r.body)
			assert.Equal(t, map[string]any{"error": "user not found", "error_code": "UserNotFound"}, r.object(t))
		})
	}
}

func TestUserStateChanges(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	uid := s.AddUser("ada@example.com", "password1")
	get := func() map[string]any {
		r := do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil)
		require.Equal(t, 200, r.status)
		return r.object(t)
	}
	assert.Equal(t, float64(0), get()["last_authentication_date"])

	s.Advance(time.Minute)
	_, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)
	assert.Equal(t, float64(s.Now().Unix()), get()["last_authentication_date"])

	s.Advance(time.Minute)
	require.Equal(t, 204, do(t, s, "PUT", appURL(s)+"/users/"+uid+"/disable", admin, nil).status)
	u := get()
	assert.Equal(t, true, u["disabled"])
	assert.Equal(t, float64(s.Now().Unix()), u["sessions_valid_since"], "disable ends sessions")
	_, err = s.LoginUser("ada@example.com", "password1")
	assert.ErrorIs(t, err, ErrUserDisabled)

	require.Equal(t, 204, do(t, s, "PUT", appURL(s)+"/users/"+uid+"/enable", admin, nil).status)
	assert.Equal(t, false, get()["disabled"])
	_, err = s.LoginUser("ada@example.com", "password1")
	assert.NoError(t, err)

	s.Advance(time.Minute)
	require.Equal(t, 204, do(t, s, "PUT", appURL(s)+"/users/"+uid+"/logout", admin, nil).status)
	assert.Equal(t, float64(s.Now().Unix()), get()["sessions_valid_since"])

	require.Equal(t, 204, do(t, s, "DELETE", appURL(s)+"/users/"+uid, admin, nil).status)
	assert.Equal(t, 404, do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil).status)
	_, err = s.LoginUser("ada@example.com", "password1")
	assert.ErrorIs(t, err, ErrInvalidPassword)
	assert.NotPanics(t, func() { s.AddUser("ada@example.com", "password2") }, "the email is free again")
}

func TestListDevices(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	uid := s.AddUser("ada@example.com", "password1")
	r := do(t, s, "GET", appURL(s)+"/users/"+uid+"/devices", admin, nil)
	require.Equal(t, 200, r.status)
	assert.JSONEq(t, `[]`, string(r.body))

	lr := do(t, s, "POST", s.ClientURL()+"/app/"+DefaultClientAppID+"/auth/providers/local-userpass/login", "",
		map[string]any{"username": "ada@example.com", "password": "password1",
			"options": map[string]any{"device": map[string]string{"appVersion": "1.2", "platform": "ios", "platformVersion": "17"}}})
	require.Equal(t, 200, lr.status)
	sess, err := s.LoginUser("ada@example.com", "password1")
	require.NoError(t, err)

	r = do(t, s, "GET", appURL(s)+"/users/"+uid+"/devices", admin, nil)
	require.Equal(t, 200, r.status)
	var devs []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &devs))
	require.Len(t, devs, 2)
	assert.Equal(t, map[string]any{"_id": lr.object(t)["device_id"], "client_app_version": "1.2", "platform": "ios", "platform_version": "17"}, devs[0])
	assert.Equal(t, sess.DeviceID, devs[1]["_id"])
}

// listIDs fetches one page of a list endpoint and returns the _ids on it.
func listIDs(t *testing.T, s *Server, admin, path string, q url.Values) []string {
	t.Helper()
	u := appURL(s) + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	r := do(t, s, "GET", u, admin, nil)
	require.Equal(t, 200, r.status, "body: %s", r.body)
	var items []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &items))
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it["_id"].(string)
	}
	return ids
}

func TestListUsersPagination(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	var all []string
	for i := range 120 {
		if i%40 == 0 {
			s.Advance(time.Second) // ids span several seconds
		}
		all = append(all, s.AddUser(fmt.Sprintf("u%03d@example.com", i), "password1"))
	}
	require.True(t, slices.IsSorted(all), "_id order is creation order")
	rev := slices.Clone(all)
	slices.Reverse(rev)

	tests := []struct {
		name string
		q    url.Values
		want []string
	}{
		{"first page", nil, all[:50]},
		{"sort=_id", url.Values{"sort": {"_id"}}, all[:50]},
		{"after is exclusive", url.Values{"after": {all[49]}}, all[50:100]},
		{"last page is short", url.Values{"after": {all[99]}}, all[100:]},
		{"after the last", url.Values{"after": {all[119]}}, []string{}},
		{"after an unknown id", url.Values{"after": {"000000000000000000000000"}}, all[:50]},
		{"desc", url.Values{"desc": {"true"}}, rev[:50]},
		{"desc after", url.Values{"desc": {"true"}, "after": {rev[49]}}, rev[50:100]},
		{"desc last page", url.Values{"desc": {"true"}, "after": {rev[99]}}, rev[100:]},
		{"desc=false", url.Values{"desc": {"false"}}, all[:50]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, listIDs(t, s, admin, "/users", tt.q))
		})
	}

	for name, q := range map[string]url.Values{
		"sort other than _id": {"sort": {"creation_date"}},
		"desc not a bool":     {"desc": {"maybe"}},
		"after not an id":     {"after": {"xyz"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := do(t, s, "GET", appURL(s)+"/users?"+q.Encode(), admin, nil)
			require.Equal(t, 400, r.status)
			assert.Equal(t, "BadRequest", r.object(t)["error_code"])
		})
	}
}

func TestPendingUsers(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	var all []string
	for i := range 60 {
		all = append(all, s.AddPendingUser(fmt.Sprintf("p%02d@example.com", i)))
	}
	assert.Equal(t, all[:50], listIDs(t, s, admin, "/user_registrations/pending_users", nil))
	assert.Equal(t, all[50:], listIDs(t, s, admin, "/user_registrations/pending_users", url.Values{"after": {all[49]}}))

	r := do(t, s, "GET", appURL(s)+"/user_registrations/pending_users", admin, nil)
	var page []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &page))
	assert.Equal(t, map[string]any{
		"_id": all[0], "user_id": "", "domain_id": DefaultDomainID,
		"login_ids": []any{map[string]any{"id_type": "email", "id": "p00@example.com"}},
	}, page[0])

	require.Equal(t, 204, do(t, s, "DELETE", appURL(s)+"/user_registrations/by_email/"+url.PathEscape("p00@example.com"), admin, nil).status)
	assert.Equal(t, all[1:51], listIDs(t, s, admin, "/user_registrations/pending_users", nil))
	assert.Equal(t, 404, do(t, s, "DELETE", appURL(s)+"/user_registrations/by_email/p00@example.com", admin, nil).status)
}

func TestResetEmail(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	uid := s.AddUser("ada@example.com", "password1")
	s.AddUser("taken@example.com", "password1")
	anon := s.AddAnonUser()
	tests := []struct {
		name   string
		user   string
		body   any
		status int
		code   string
	}{
		{"malformed body", uid, "{", 400, "BadRequest"},
		{"email missing", uid, map[string]any{}, 400, "BadRequest"},
		{"email not a string", uid, map[string]any{"email": 42}, 400, "BadRequest"},
		{"email empty", uid, map[string]any{"email": ""}, 400, "BadRequest"},
		{"email too long", uid, map[string]any{"email": strings.Repeat("a", 117) + "@example.com"}, 400, "BadRequest"},
		{"no local-userpass identity", anon, map[string]any{"email": "anon@example.com"}, 400, "BadRequest"},
		{"unknown user", "000000000000000000000001", map[string]any{"email": "x@example.com"}, 404, "UserNotFound"},
		{"email taken", uid, map[string]any{"email": "taken@example.com"}, 409, "AccountNameInUse"},
		{"128 characters is fine", uid, map[string]any{"email": strings.Repeat("é", 116) + "@example.com"}, 204, ""},
		{"changed", uid, map[string]any{"email": "lovelace@example.com"}, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "PATCH", appURL(s)+"/users/"+tt.user+"/reset_email", admin, tt.body)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			if tt.code != "" {
				assert.Equal(t, tt.code, r.object(t)["error_code"])
			}
		})
	}
	u := do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil).object(t)
	assert.Equal(t, map[string]any{"email": "lovelace@example.com"}, u["data"])
	_, err := s.LoginUser("lovelace@example.com", "password1")
	assert.NoError(t, err)
	_, err = s.LoginUser("ada@example.com", "password1")
	assert.ErrorIs(t, err, ErrInvalidPassword)
}

func TestListUsersFilters(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	var local, anon, disabled []string
	for i := range 60 {
		local = append(local, s.AddUser(fmt.Sprintf("u%02d@example.com", i), "password1"))
		if i%3 == 0 {
			anon = append(anon, s.AddAnonUser())
		}
	}
	for _, id := range local[:55] {
		require.Equal(t, 204, do(t, s, "PUT", appURL(s)+"/users/"+id+"/disable", admin, nil).status)
		disabled = append(disabled, id)
	}
	enabled := append(slices.Clone(local[55:]), anon...)
	slices.Sort(enabled)

	tests := []struct {
		name string
		q    url.Values
		want []string
	}{
		{"disabled, first page", url.Values{"status": {"disabled"}}, disabled[:50]},
		{"disabled, next page", url.Values{"status": {"disabled"}, "after": {disabled[49]}}, disabled[50:]},
		{"enabled", url.Values{"status": {"enabled"}}, enabled},
		{"anon-user", url.Values{"provider_types": {"anon-user"}}, anon},
		{"enabled local-userpass, desc", url.Values{"status": {"enabled"}, "provider_types": {"local-userpass"}, "desc": {"true"}},
			[]string{local[59], local[58], local[57], local[56], local[55]}},
		{"two provider types", url.Values{"status": {"enabled"}, "provider_types": {"local-userpass,anon-user"}}, enabled},
		{"a type nobody has", url.Values{"provider_types": {"api-key"}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, listIDs(t, s, admin, "/users", tt.q))
		})
	}
	r := do(t, s, "GET", appURL(s)+"/users?status=gone", admin, nil)
	require.Equal(t, 400, r.status)
	assert.Equal(t, "BadRequest", r.object(t)["error_code"])
}
