package main

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// nginxEngines are the --engine values the nginx tests run forward-auth
// with: each test runs once per engine, as its own subtest.
var nginxEngines = []string{"nethttp", "fasthttp"}

// forEachEngine runs test once per engine of nginxEngines.
func forEachEngine(t *testing.T, test func(t *testing.T, engine string)) {
	for _, engine := range nginxEngines {
		t.Run(engine, func(t *testing.T) { test(t, engine) })
	}
}

// assertEngine checks that forward-auth serves on the engine named: a
// fasthttp server's Serve loop runs exactly when it is fasthttp, so that a
// subtest cannot pass on the other engine without saying so.
func assertEngine(t *testing.T, engine string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	assert.Equal(t, engine == "fasthttp", strings.Contains(stacks, "github.com/valyala/fasthttp.(*Server).Serve("),
		"forward-auth is not on the %s engine", engine)
}

// TestNginxEndToEnd puts examples/nginx/nginx.conf, as shipped, in front of a
// hello upstream with `tokenguard forward-auth` (in-process, so that the
// test can move its clock together with the emulator's) deciding every
// request through auth_request, on each engine.
func TestNginxEndToEnd(t *testing.T) { forEachEngine(t, testNginxEndToEnd) }

func testNginxEndToEnd(t *testing.T, engine string) {
	nginx := findNginx(t)
	emu := appservicestest.NewServer()
	t.Cleanup(emu.Close)
	alice := emu.AddUser("alice@example.com", "pw")
	bob := emu.AddUser("bob@example.com", "pw")
	aliceTok := mustToken(t, emu, alice)
	bobTok := mustToken(t, emu, bob)

	up := newRecordingHello(t)
	fa := startForwardAuth(t, emu, "--engine", engine, "--cache-ttl", "1m", "--stale-if-error", "10m", "--revoke-secret", e2eRevokeSecret)
	assertEngine(t, engine)
	front := startNginx(t, nginx, up.addr, fa.data)
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)

	spoofs := map[string]string{
		"X-Auth-User-Id": "evil", "X-Auth-Session-Id": "evil", "x-auth-user-data": "ZXZpbA",
		"X_Auth_User_Id": "evil", "X.Auth.User.Id": "evil", "X-AUTH-DEVICE-ID": "evil",
	}

	t.Run("a valid token reaches the upstream with its identity only", func(t *testing.T) {
		resp := send(t, c, front+"/hello", aliceTok, spoofs)
		require.Equal(t, http.StatusOK, resp.status, resp.body)
		h := up.last(t)
		assert.Equal(t, alice, h.Get("X-Auth-User-Id"))
		assert.Empty(t, h.Values("Authorization"), "the token stays at nginx")
		for k, vv := range h {
			if !looksLikeIdentity(k) {
				continue
			}
			assert.Contains(t, []string{"X-Auth-User-Id", "X-Auth-Session-Id", "X-Auth-Domain-Id", "X-Auth-Device-Id", "X-Auth-Expires"}, k, "a client's %s reached the upstream", k)
			assert.NotContains(t, vv, "evil", k)
		}
	})
	t.Run("a spoofed identity without a token never reaches the upstream", func(t *testing.T) {
		before := up.count()
		resp := send(t, c, front+"/hello", "", spoofs)
		assert.Equal(t, http.StatusUnauthorized, resp.status)
		assert.Equal(t, `Bearer realm="tokenguard"`, resp.header.Get("WWW-Authenticate"))
		assert.Equal(t, before, up.count())
	})
	t.Run("junk gets 401 with a challenge", func(t *testing.T) {
		before := up.count()
		resp := send(t, c, front+"/hello", "junk", nil)
		assert.Equal(t, http.StatusUnauthorized, resp.status)
		assert.Contains(t, resp.header.Get("WWW-Authenticate"), `error="invalid_token"`)
		assert.JSONEq(t, `{"error":"invalid_token","error_description":"The access token is invalid."}`, resp.body)
		assert.Equal(t, before, up.count())
	})
	t.Run("malformed credentials get 400", func(t *testing.T) {
		resp := send(t, c, front+"/hello", " two  spaces", nil)
		assert.Equal(t, http.StatusBadRequest, resp.status)
		assert.Contains(t, resp.header.Get("WWW-Authenticate"), `error="invalid_request"`)
	})
	t.Run("after the revoke webhook the old token gets 401", func(t *testing.T) {
		require.Equal(t, http.StatusOK, send(t, c, front+"/hello", aliceTok, nil).status)
		body := `{"user_id":"` + alice + `"}`
		resp := send(t, c, fa.admin+"/revoke", "", map[string]string{
			middleware.SignatureHeader: middleware.SignWebhook([]byte(e2eRevokeSecret), []byte(body), time.Now()),
		}, body)
		require.Equal(t, http.StatusNoContent, resp.status)
		resp = send(t, c, front+"/hello", aliceTok, nil)
		assert.Equal(t, http.StatusUnauthorized, resp.status)
		assert.Contains(t, resp.header.Get("WWW-Authenticate"), "revoked")
	})
	t.Run("with App Services down", func(t *testing.T) {
		require.Equal(t, http.StatusOK, send(t, c, front+"/hello", bobTok, nil).status) // cached
		newTok := mustToken(t, emu, bob)
		emu.Stop()
		emu.Advance(2 * time.Minute) // past --cache-ttl, within --stale-if-error

		resp := send(t, c, front+"/hello", newTok, nil)
		assert.False(t, resp.status >= 200 && resp.status < 300, "an unverifiable new token passed: %d", resp.status)
		assert.Equal(t, http.StatusServiceUnavailable, resp.status)
		assert.NotEmpty(t, resp.header.Get("Retry-After"))

		resp = send(t, c, front+"/hello", bobTok, nil)
		assert.Equal(t, http.StatusOK, resp.status, "a cached token keeps working within the stale window")
		assert.Equal(t, bob, up.last(t).Get("X-Auth-User-Id"))

		emu.Advance(10 * time.Minute) // past the stale window
		assert.Equal(t, http.StatusServiceUnavailable, send(t, c, front+"/hello", bobTok, nil).status)
	})
}

// looksLikeIdentity reports whether a header name reads as X-Auth-* to a
// lenient framework (case folded, "_" and "." as "-").
func looksLikeIdentity(name string) bool {
	n := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
	return strings.HasPrefix(n, "x-auth-")
}

// TestNginxSkipPathTrustsOnlyNginx runs forward-auth with --skip-path and
// --trust-forwarded-uri behind examples/nginx/nginx.conf: nginx sets every
// forwarded method and URI header of the auth subrequest itself, so a
// client that sends its own cannot borrow the skip path's pass. On each
// engine.
func TestNginxSkipPathTrustsOnlyNginx(t *testing.T) {
	forEachEngine(t, testNginxSkipPathTrustsOnlyNginx)
}

func testNginxSkipPathTrustsOnlyNginx(t *testing.T, engine string) {
	nginx := findNginx(t)
	emu := appservicestest.NewServer()
	t.Cleanup(emu.Close)
	up := newRecordingHello(t)
	fa := startForwardAuth(t, emu, "--engine", engine, "--skip-path", "/healthz", "--trust-forwarded-uri")
	assertEngine(t, engine)
	front := startNginx(t, nginx, up.addr, fa.data)
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)

	t.Run("the skip path passes without a token", func(t *testing.T) {
		before := up.count()
		resp := send(t, c, front+"/healthz", "", nil)
		assert.Equal(t, http.StatusOK, resp.status, resp.body)
		assert.Equal(t, before+1, up.count())
	})
	tests := []struct {
		name    string
		target  string
		headers map[string]string
	}{
		{"a client's X-Forwarded-Uri", "/hello", map[string]string{"X-Forwarded-Uri": "/healthz"}},
		{"a client's X-Original-URI", "/hello", map[string]string{"X-Original-URI": "/healthz"}},
		{"a client's forwarded method and URI, both spellings", "/hello", map[string]string{
			"X-Forwarded-Uri": "/healthz", "X-Original-URI": "/healthz", "X-Forwarded-Method": "GET", "X-Original-Method": "GET",
		}},
		{"a matrix parameter out of the skip path", "/healthz/..;/admin", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name+" gets 401", func(t *testing.T) {
			before := up.count()
			resp := send(t, c, front+tt.target, "", tt.headers)
			assert.Equal(t, http.StatusUnauthorized, resp.status)
			assert.Equal(t, before, up.count(), "the request reached the upstream")
		})
	}
}

// e2eRevokeSecret is the nginx end-to-end test's webhook secret (32 bytes or more).
const e2eRevokeSecret = "e2e-revoke-secret-of-at-least-32-bytes"
