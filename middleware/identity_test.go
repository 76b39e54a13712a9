package middleware

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

func TestIsIdentityHeader(t *testing.T) {
	m := newTest()
	for name, want := range map[string]bool{
		"X-Auth-User-Id":     true,
		"x-auth-user-id":     true,
		"X-AUTH-USER-ID":     true,
		"X_Auth_User_Id":     true,
		"x_auth_user_id":     true,
		"X.Auth.User.Id":     true,
		"X-Auth_User.Id":     true,
		"X-Auth-":            true,
		"X-Auth-Anything":    true,
		"X-Auth":             false,
		"X-Authorization":    false,
		"X-Author-User-Id":   false,
		"Authorization":      false,
		"X-Auth-User-Id-Not": true, // prefix match: anything under X-Auth- goes
		"":                   false,
		" X-Auth-User-Id":    false,
	} {
		assert.Equal(t, want, m.IsIdentityHeader(name), "%q", name)
	}

	custom := newTest(WithIdentityHeaders(IdentityHeaders{Prefix: "x-user-"}))
	assert.True(t, custom.IsIdentityHeader("X_USER_ID"))
	assert.False(t, custom.IsIdentityHeader("X-Auth-User-Id"), "the custom prefix replaces the default")
}

// spoofs are the spellings of an identity header a client may try; each is
// set as a raw key with two values.
var spoofs = []string{
	"X-Auth-User-Id", "x-auth-user-id", "X_Auth_User_Id", "X.Auth.User.Id",
	"X-AUTH-USER-DATA", "X-Auth-Expires", "x_auth_session_id", "X-Auth-Admin",
}

// TestSpoofedIdentityHeadersNeverReachNext sends every spelling, twice over,
// on authenticated, anonymous and skipped requests, with identity headers on
// (credential hidden or kept, default or custom prefix), and requires that
// next sees none of the client's values.
func TestSpoofedIdentityHeadersNeverReachNext(t *testing.T) {
	modes := map[string][]Option{
		"identity":        {WithIdentityHeaders(IdentityHeaders{})},
		"credential kept": {WithIdentityHeaders(IdentityHeaders{KeepCredential: true})},
		"prefix":          {WithIdentityHeaders(IdentityHeaders{Prefix: "X-Auth-"})},
	}
	requests := map[string]struct {
		target string
		token  string
		user   bool
	}{
		"authenticated": {target: "/api", token: goodToken, user: true},
		"anonymous":     {target: "/api"},
		"skipped":       {target: "/healthz", token: goodToken},
	}
	for mode, opts := range modes {
		for kind, rq := range requests {
			t.Run(mode+"/"+kind, func(t *testing.T) {
				m := newTest(append([]Option{
					WithCredentialsOptional(true),
					WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }),
				}, opts...)...)
				req := bearerRequest(rq.target, rq.token)
				for _, name := range spoofs {
					req.Header[name] = []string{"attacker", "attacker-again"}
				}
				rec, s := serve(m, req)
				require.Equal(t, http.StatusOK, rec.Code)
				require.True(t, s.called)
				assert.Equal(t, rq.user, s.hasUser)
				for name, vals := range s.header {
					for _, v := range vals {
						assert.NotContains(t, v, "attacker", "header %q reached next", name)
					}
					if m.IsIdentityHeader(name) {
						assert.Len(t, vals, 1, "header %q", name)
					}
				}
				require.True(t, m.StripsIdentityHeaders())
				if mode != "library+strip" && rq.user {
					assert.Equal(t, []string{"user-1"}, s.header["X-Auth-User-Id"])
				} else {
					for name := range s.header {
						assert.False(t, m.IsIdentityHeader(name), "header %q reached next", name)
					}
				}
			})
		}
	}
}

// TestLibraryModeLeavesHeadersAlone: plain library mode sets no header and
// strips none, so the client's X-Auth-* headers reach next as sent, next to
// the user in the context (which is where a library-mode handler reads it).
// Any identity option turns stripping on, and nothing turns it off while
// identity headers are on.
func TestLibraryModeLeavesHeadersAlone(t *testing.T) {
	m := newTest()
	assert.False(t, m.StripsIdentityHeaders())
	req := bearerRequest("/api", goodToken)
	req.Header["X-Auth-User-Id"] = []string{"client-value"}
	req.Header["X_auth_role"] = []string{"client-role"}
	rec, s := serve(m, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, s.hasUser)
	assert.Equal(t, []string{"client-value"}, s.header["X-Auth-User-Id"])
	assert.Equal(t, []string{"client-role"}, s.header["X_auth_role"])

	for name, opts := range map[string][]Option{
		"WithIdentityHeaders": {WithIdentityHeaders(IdentityHeaders{})},
		"credential kept":     {WithIdentityHeaders(IdentityHeaders{KeepCredential: true})},
		"custom prefix":       {WithIdentityHeaders(IdentityHeaders{Prefix: "X-Id-"})},
	} {
		assert.True(t, newTest(opts...).StripsIdentityHeaders(), name)
	}
}

// TestSpoofedIdentityHeadersOverTheWire sends the spellings in a raw
// HTTP/1.1 request, so that net/http's own parsing of header names is part of
// the test.
func TestSpoofedIdentityHeadersOverTheWire(t *testing.T) {
	var s seen
	m := newTest(WithIdentityHeaders(IdentityHeaders{}))
	srv := httptest.NewServer(m.Handler(recordNext(&s)))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	var b strings.Builder
	b.WriteString("GET /api HTTP/1.1\r\nHost: example\r\nConnection: close\r\n")
	b.WriteString("Authorization: Bearer " + goodToken + "\r\n")
	for _, name := range spoofs {
		fmt.Fprintf(&b, "%s: attacker\r\n%s: attacker-again\r\n", name, name)
	}
	b.WriteString("\r\n")
	_, err = conn.Write([]byte(b.String()))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	resp.Body.Close()

	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, s.called)
	for name, vals := range s.header {
		for _, v := range vals {
			assert.NotContains(t, v, "attacker", "header %q reached next", name)
		}
	}
	assert.Equal(t, []string{"user-1"}, s.header["X-Auth-User-Id"])
}

func TestIdentityHeaders(t *testing.T) {
	cases := []struct {
		name string
		opts []Option
		user *verifier.User
		want map[string]string // nil: no identity header at all
	}{
		{
			name: "library mode sets none", user: testUser,
		},
		{
			name: "gateway mode", opts: []Option{WithIdentityHeaders(IdentityHeaders{})}, user: testUser,
			want: map[string]string{
				"X-Auth-User-Id":    "user-1",
				"X-Auth-Session-Id": "session-1",
				"X-Auth-Domain-Id":  "domain-1",
				"X-Auth-Device-Id":  "device-1",
				"X-Auth-Expires":    "2030-01-02T03:04:05Z",
				"X-Auth-User-Data":  base64.RawURLEncoding.EncodeToString(testUser.CustomUserData),
			},
		},
		{
			name: "custom prefix", opts: []Option{WithIdentityHeaders(IdentityHeaders{Prefix: "x-user-"})},
			user: &verifier.User{ID: "u", ExpiresAt: time.Date(2030, 1, 2, 4, 4, 5, 0, time.FixedZone("CET", 3600))},
			want: map[string]string{
				"X-User-User-Id": "u", "X-User-Session-Id": "", "X-User-Domain-Id": "",
				"X-User-Device-Id": "", "X-User-Expires": "2030-01-02T03:04:05Z",
			},
		},
		{
			name: "no custom data, null data, unknown expiry", opts: []Option{WithIdentityHeaders(IdentityHeaders{})},
			user: &verifier.User{ID: "u", DeviceID: "d\nx", CustomUserData: []byte("null")},
			want: map[string]string{
				"X-Auth-User-Id": "u", "X-Auth-Session-Id": "", "X-Auth-Domain-Id": "",
				"X-Auth-Device-Id": "", "X-Auth-Expires": "",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New(verifier.VerifierFunc(func(_ context.Context, _ string) (*verifier.User, error) {
				return tc.user, nil
			}), append([]Option{WithLogger(quiet)}, tc.opts...)...)
			rec, s := serve(m, bearerRequest("/", goodToken))
			require.Equal(t, http.StatusOK, rec.Code)
			got := map[string]string{}
			for name, vals := range s.header {
				if m.IsIdentityHeader(name) {
					require.Len(t, vals, 1)
					got[name] = vals[0]
				}
			}
			if tc.want == nil {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tc.want, got)
			if data, ok := got["X-Auth-User-Data"]; ok {
				raw, err := base64.RawURLEncoding.DecodeString(data)
				require.NoError(t, err)
				assert.JSONEq(t, string(testUser.CustomUserData), string(raw))
			}
		})
	}
	assert.Nil(t, newTest().IdentityHeaders(nil))
}
