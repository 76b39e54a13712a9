package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// TestHandler runs the example's handler against the App Services emulator,
// the way README.md runs it against `tokenguard emulator`.
func TestHandler(t *testing.T) {
	srv := appservicestest.NewServer()
	t.Cleanup(srv.Close)
	userID := srv.AddUser("ada@example.com", "correct horse")
	token, err := srv.NewAccessToken(userID)
	require.NoError(t, err)

	h, err := newHandler(srv.Config())
	require.NoError(t, err)
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)

	tests := []struct {
		name       string
		path       string
		authz      string
		wantStatus int
		wantBody   string // substring
		wantAuthn  bool   // a WWW-Authenticate challenge
	}{
		{name: "valid token", path: "/hello", authz: "Bearer " + token, wantStatus: 200, wantBody: "hello, " + userID},
		{name: "no token", path: "/hello", wantStatus: 401, wantBody: `"unauthorized"`, wantAuthn: true},
		{name: "junk token", path: "/hello", authz: "Bearer junk", wantStatus: 401, wantBody: `"invalid_token"`, wantAuthn: true},
		{name: "not bearer", path: "/hello", authz: "Basic YWRhOnB3", wantStatus: 401, wantAuthn: true},
		{name: "health check needs no token", path: "/healthz", wantStatus: 200, wantBody: "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := get(t, front.URL+tt.path, tt.authz)
			assert.Equal(t, tt.wantStatus, status)
			assert.Contains(t, body, tt.wantBody)
			assert.Equal(t, tt.wantAuthn, strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer "), "WWW-Authenticate %q", hdr.Get("WWW-Authenticate"))
			assert.NotContains(t, body, token, "the token never appears in an answer")
		})
	}
}

// TestHandlerCaches checks that the example puts the cache in front of the
// Admin API: a token is verified upstream once, and keeps working while App
// Services is down, while a token never seen before gets 503, not 401.
func TestHandlerCaches(t *testing.T) {
	srv := appservicestest.NewServer()
	t.Cleanup(srv.Close)
	userID := srv.AddUser("ada@example.com", "correct horse")
	seen, err := srv.NewAccessToken(userID)
	require.NoError(t, err)
	unseen, err := srv.NewAccessToken(userID)
	require.NoError(t, err)

	h, err := newHandler(srv.Config())
	require.NoError(t, err)
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)

	for range 3 {
		status, body, _ := get(t, front.URL+"/hello", "Bearer "+seen)
		require.Equal(t, 200, status, body)
	}
	assert.EqualValues(t, 1, srv.Calls(appservicestest.EndpointVerifyToken), "verify_token calls for one token asked three times")

	srv.Stop()
	status, body, _ := get(t, front.URL+"/hello", "Bearer "+seen)
	assert.Equal(t, 200, status, "a cached token survives an outage: %s", body)
	status, _, hdr := get(t, front.URL+"/hello", "Bearer "+unseen)
	assert.Equal(t, 503, status, "an unverifiable token is not let through, nor called invalid")
	assert.NotEmpty(t, hdr.Get("Retry-After"))
}

func get(t *testing.T, url, authz string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), resp.Header
}
