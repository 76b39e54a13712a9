package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// subrequest builds an auth subrequest as a proxy sends it to /auth.
func subrequest(header map[string]string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/auth", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

func TestForwardAuth(t *testing.T) {
	public := WithSkip(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/public/") })
	cases := []struct {
		name      string
		opts      []Option
		header    map[string]string
		status    int
		userID    *string // nil: the identity header must be absent
		challenge string
		retry     string
	}{
		{
			name:   "authenticated",
			header: map[string]string{"Authorization": "Bearer " + goodToken, "X-Forwarded-Uri": "/api/x"},
			status: http.StatusOK, userID: ptr("user-1"),
		},
		{
			name:   "missing",
			header: map[string]string{"X-Forwarded-Uri": "/api/x"},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name:   "anonymous gets empty identity headers",
			opts:   []Option{WithCredentialsOptional(true)},
			header: map[string]string{"X-Forwarded-Uri": "/api/x"},
			status: http.StatusOK, userID: ptr(""),
		},
		{
			name:   "invalid",
			header: map[string]string{"Authorization": "Bearer " + invalidToken},
			status: http.StatusUnauthorized,
			challenge: `Bearer realm="tokenguard", error="invalid_token", ` +
				`error_description="The access token is invalid."`,
		},
		{
			name:   "malformed",
			header: map[string]string{"Authorization": "Bearer a b"},
			status: http.StatusBadRequest, challenge: `Bearer realm="tokenguard", error="invalid_request"`,
		},
		{
			name:   "outage",
			header: map[string]string{"Authorization": "Bearer " + downToken},
			status: http.StatusServiceUnavailable, retry: "7",
		},
		{
			name:   "skip rules ignore forwarded headers by default (CVE-2026-40575)",
			opts:   []Option{public},
			header: map[string]string{"X-Forwarded-Uri": "/public/x", "X-Forwarded-Method": "GET"},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name:   "skip rules ignore X-Original-URI by default",
			opts:   []Option{public},
			header: map[string]string{"X-Original-URI": "/public/x"},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name:   "trusted forwarded headers reach skip rules",
			opts:   []Option{public, WithTrustForwardedRequest(true)},
			header: map[string]string{"X-Forwarded-Uri": "/public/x?a=1"},
			status: http.StatusOK, userID: ptr(""),
		},
		{
			name:   "trusted X-Original-URI reaches skip rules",
			opts:   []Option{public, WithTrustForwardedRequest(true)},
			header: map[string]string{"X-Original-URI": "/public/x"},
			status: http.StatusOK, userID: ptr(""),
		},
		{
			name:   "trusted, not skipped",
			opts:   []Option{public, WithTrustForwardedRequest(true)},
			header: map[string]string{"X-Forwarded-Uri": "/private"},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name: "preflight ignores forwarded method by default",
			opts: []Option{WithPreflight(true)},
			header: map[string]string{
				"X-Forwarded-Method": "OPTIONS", "Access-Control-Request-Method": "POST", "X-Forwarded-Uri": "/api",
			},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name: "trusted preflight",
			opts: []Option{WithPreflight(true), WithTrustForwardedRequest(true)},
			header: map[string]string{
				"X-Forwarded-Method": "OPTIONS", "Access-Control-Request-Method": "POST", "X-Forwarded-Uri": "/api",
			},
			status: http.StatusOK, userID: ptr(""),
		},
		{
			name:   "trusted, but a client's X-Original-URI disagrees with the proxy's X-Forwarded-Uri",
			opts:   []Option{public, WithTrustForwardedRequest(true)},
			header: map[string]string{"X-Forwarded-Uri": "/private", "X-Original-URI": "/public/x"},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name:   "trusted, but a client's X-Forwarded-Uri disagrees with the proxy's X-Original-URI",
			opts:   []Option{public, WithTrustForwardedRequest(true)},
			header: map[string]string{"X-Forwarded-Uri": "/public/x", "X-Original-URI": "/private"},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name:   "trusted, an empty X-Forwarded-Uri against X-Original-URI",
			opts:   []Option{public, WithTrustForwardedRequest(true)},
			header: map[string]string{"X-Forwarded-Uri": "", "X-Original-URI": "/public/x"},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name:   "trusted, both URI headers agree",
			opts:   []Option{public, WithTrustForwardedRequest(true)},
			header: map[string]string{"X-Forwarded-Uri": "/public/x", "X-Original-URI": "/public/x"},
			status: http.StatusOK, userID: ptr(""),
		},
		{
			name: "trusted preflight, but the method headers disagree",
			opts: []Option{WithPreflight(true), WithTrustForwardedRequest(true)},
			header: map[string]string{
				"X-Forwarded-Method": "OPTIONS", "X-Original-Method": "GET",
				"Access-Control-Request-Method": "POST", "X-Forwarded-Uri": "/api",
			},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name: "trusted skip, but the method headers disagree",
			opts: []Option{public, WithTrustForwardedRequest(true)},
			header: map[string]string{
				"X-Forwarded-Method": "GET", "X-Original-Method": "POST", "X-Forwarded-Uri": "/public/x",
			},
			status: http.StatusUnauthorized, challenge: `Bearer realm="tokenguard"`,
		},
		{
			name:   "query token in the forwarded URI",
			opts:   []Option{WithLookup(LookupQuery("access_token"))},
			header: map[string]string{"X-Forwarded-Uri": "/ws?access_token=" + goodToken},
			status: http.StatusOK, userID: ptr("user-1"),
		},
		{
			name:   "query token in X-Original-URI",
			opts:   []Option{WithLookup(LookupQuery("access_token"))},
			header: map[string]string{"X-Original-URI": "/ws?x=1&access_token=" + goodToken + "#frag"},
			status: http.StatusOK, userID: ptr("user-1"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newTest(tc.opts...).ForwardAuth().ServeHTTP(rec, subrequest(tc.header))
			require.Equal(t, tc.status, rec.Code)
			h := rec.Header()
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
			assert.Equal(t, tc.challenge, h.Get("WWW-Authenticate"))
			assert.Equal(t, tc.retry, h.Get("Retry-After"))
			if tc.userID == nil {
				assert.NotContains(t, h, "X-Auth-User-Id")
				return
			}
			assert.Equal(t, []string{*tc.userID}, h["X-Auth-User-Id"])
			if *tc.userID != "" {
				assert.Equal(t, "session-1", h.Get("X-Auth-Session-Id"))
				assert.Equal(t, "2030-01-02T03:04:05Z", h.Get("X-Auth-Expires"))
				assert.NotEmpty(t, h.Get("X-Auth-User-Data"))
			} else {
				for _, n := range []string{"X-Auth-Session-Id", "X-Auth-Domain-Id", "X-Auth-Device-Id", "X-Auth-Expires", "X-Auth-User-Data"} {
					assert.Equal(t, []string{""}, h[n], "%s present and empty", n)
				}
			}
		})
	}
}

func TestForwardAuthCustomPrefixAndGateway(t *testing.T) {
	rec := httptest.NewRecorder()
	m := newTest(WithIdentityHeaders(IdentityHeaders{Prefix: "X-User-"}))
	m.ForwardAuth().ServeHTTP(rec, subrequest(map[string]string{"Authorization": "Bearer " + goodToken}))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "user-1", rec.Header().Get("X-User-User-Id"))
	assert.NotContains(t, rec.Header(), "X-Auth-User-Id")
}

func TestForwardAuthLogsOriginalRequest(t *testing.T) {
	cases := []struct {
		name         string
		header       map[string]string
		method, path string
	}{
		{
			name:   "X-Forwarded",
			header: map[string]string{"X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/api/items/7?access_token=" + invalidToken},
			method: "DELETE", path: "/api/items/7",
		},
		{
			name:   "X-Original",
			header: map[string]string{"X-Original-Method": "PUT", "X-Original-URI": "/api/items/8?q=" + invalidToken},
			method: "PUT", path: "/api/items/8",
		},
		{
			name:   "X-Forwarded wins",
			header: map[string]string{"X-Forwarded-Method": "POST", "X-Original-Method": "PUT", "X-Forwarded-Uri": "/a", "X-Original-URI": "/b"},
			method: "POST", path: "/a",
		},
		{
			name:   "neither: the subrequest itself",
			header: map[string]string{},
			method: "GET", path: "/auth",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := captureLogger()
			m := New(fakeVerifier(), WithLogger(logger), WithLookup(LookupBearer(), LookupQuery("access_token")))
			tc.header["Authorization"] = "Bearer " + invalidToken
			rec := httptest.NewRecorder()
			m.ForwardAuth().ServeHTTP(rec, subrequest(tc.header))
			require.Equal(t, http.StatusUnauthorized, rec.Code)
			lines := logs.lines(t)
			require.Len(t, lines, 1)
			assert.Equal(t, tc.method, lines[0]["method"])
			assert.Equal(t, tc.path, lines[0]["path"])
			assert.Equal(t, "invalid", lines[0]["outcome"])
			assert.NotContains(t, logs.String(), invalidToken)
		})
	}
}

func ptr(s string) *string { return &s }

// A user without custom data still gets X-Auth-User-Data, empty: a proxy
// that copies only the headers present in the answer would otherwise pass
// on the value the client sent.
func TestForwardAuthAlwaysAnswersUserData(t *testing.T) {
	plain := *testUser
	plain.CustomUserData = nil
	for _, opts := range [][]Option{nil, {WithIdentityHeaders(IdentityHeaders{})}} {
		m := New(verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) { return &plain, nil }),
			append([]Option{WithLogger(quiet)}, opts...)...)
		rec := httptest.NewRecorder()
		m.ForwardAuth().ServeHTTP(rec, subrequest(map[string]string{
			"Authorization": "Bearer " + goodToken, "X-Auth-User-Data": "c3Bvb2Y",
		}))
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "user-1", rec.Header().Get("X-Auth-User-Id"))
		assert.Equal(t, []string{""}, rec.Header()["X-Auth-User-Data"])
	}
}

// A forwarded header sent twice (the proxy's and the client's) is never
// trusted, whichever comes first.
func TestForwardAuthRepeatedForwardedHeaders(t *testing.T) {
	public := WithSkip(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/public/") })
	m := newTest(public, WithPreflight(true), WithTrustForwardedRequest(true))
	cases := []struct {
		name   string
		header http.Header
	}{
		{"X-Forwarded-Uri twice", http.Header{"X-Forwarded-Uri": {"/public/x", "/private"}}},
		{"X-Forwarded-Uri twice, the same", http.Header{"X-Forwarded-Uri": {"/public/x", "/public/x"}}},
		{"X-Original-Uri twice", http.Header{"X-Original-Uri": {"/private", "/public/x"}}},
		{"X-Forwarded-Method twice", http.Header{
			"X-Forwarded-Method": {"OPTIONS", "GET"}, "Access-Control-Request-Method": {"POST"}, "X-Forwarded-Uri": {"/api"},
		}},
		{"X-Original-Method twice", http.Header{
			"X-Original-Method": {"OPTIONS", "OPTIONS"}, "Access-Control-Request-Method": {"POST"}, "X-Original-Uri": {"/api"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := subrequest(nil)
			for k, vv := range tc.header {
				req.Header[k] = vv
			}
			rec := httptest.NewRecorder()
			m.ForwardAuth().ServeHTTP(rec, req)
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
			assert.NotContains(t, rec.Header(), "X-Auth-User-Id")
		})
	}
}
