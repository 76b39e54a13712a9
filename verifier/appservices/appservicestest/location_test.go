package appservicestest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLocation(t *testing.T) {
	s := newTestServer(t)
	r := do(t, s, "GET", s.ClientURL()+"/app/"+DefaultClientAppID+"/location", "", nil)
	require.Equal(t, 200, r.status, "body: %s", r.body)
	host := strings.TrimPrefix(s.URL, "http://")
	assert.Equal(t, map[string]any{
		"deployment_model": "GLOBAL", "location": "US-VA",
		"hostname": s.URL, "ws_hostname": "ws://" + host,
	}, r.object(t))

	t.Run("the host the request named", func(t *testing.T) {
		req, err := http.NewRequest("GET", s.ClientURL()+"/app/"+DefaultClientAppID+"/location", nil)
		require.NoError(t, err)
		req.Host = "localhost:" + strings.Split(host, ":")[1]
		resp, err := s.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]string
		require.NoError(t, decodeJSON(resp, &m))
		assert.Equal(t, "http://"+req.Host, m["hostname"])
	})

	t.Run("unknown app", func(t *testing.T) {
		r := do(t, s, "GET", s.ClientURL()+"/app/other-app/location", "", nil)
		require.Equal(t, 404, r.status)
		assert.Equal(t, "AppNotFound", r.object(t)["error_code"])
	})
}

func TestUnroutedRequestsGetJSON(t *testing.T) {
	s := newTestServer(t)
	admin, _ := adminTokens(t, s)
	tests := []struct {
		name, method, url string
		status            int
		code, allow       string
	}{
		{"unknown path", "GET", s.URL + "/nope", 404, "NotFound", ""},
		{"unknown client path", "GET", s.ClientURL() + "/app/" + DefaultClientAppID + "/functions/call", 404, "NotFound", ""},
		{"unknown login provider", "POST", s.ClientURL() + "/app/" + DefaultClientAppID + "/auth/providers/oauth2-google/login", 404, "NotFound", ""},
		{"wrong method", "PUT", s.ClientURL() + "/auth/session", 405, "MethodNotAllowed", "POST, DELETE"},
		{"wrong method on the Admin API", "POST", appURL(s) + "/users/000000000000000000000000", 405, "MethodNotAllowed", "GET, DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, tt.method, tt.url, admin, nil)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			m := r.object(t)
			assert.Equal(t, tt.code, m["error_code"])
			assert.Contains(t, m["error"], tt.method+" ")
			assert.Equal(t, tt.allow, r.header.Get("Allow"))
		})
	}
}
