package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// recorder is an upstream that records the requests reaching it.
type recorder struct {
	mu     sync.Mutex // guards calls, header
	calls  int
	header http.Header // of the last request
}

func (u *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.calls++
	u.header = r.Header.Clone()
	u.mu.Unlock()
	_, _ = io.WriteString(w, "upstream says hi")
}

// last returns the number of requests and the headers of the last one, and
// forgets them.
func (u *recorder) last() (int, http.Header) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n, h := u.calls, u.header
	u.calls, u.header = 0, nil
	return n, h
}

// setup starts the emulator, an upstream that records what reaches it, and
// the example's handler in front of that upstream.
func setup(t *testing.T) (*appservicestest.Server, *httptest.Server, *recorder, *prometheus.Registry) {
	t.Helper()
	srv := appservicestest.NewServer()
	t.Cleanup(srv.Close)
	rec := &recorder{}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)

	upstream, err := url.Parse(up.URL)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	h, err := newHandler(srv.Config(), upstream, reg)
	require.NoError(t, err)
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	return srv, front, rec, reg
}

func TestProxy(t *testing.T) {
	srv, front, rec, reg := setup(t)
	userID := srv.AddUser("ada@example.com", "correct horse")
	srv.SetCustomUserData(userID, json.RawMessage(`{"plan":"pro"}`))
	token, err := srv.NewAccessToken(userID)
	require.NoError(t, err)

	tests := []struct {
		name       string
		header     http.Header
		wantStatus int
		wantUp     bool // the request reaches the upstream
	}{
		{
			name:       "valid token",
			header:     http.Header{"Authorization": {"Bearer " + token}},
			wantStatus: 200, wantUp: true,
		},
		{
			name: "spoofed identity headers are replaced or dropped",
			header: http.Header{
				"Authorization":    {"Bearer " + token},
				"X-Auth-User-Id":   {"admin"},
				"X-Auth-User-Data": {"eyJyb2xlIjoiYWRtaW4ifQ"},
				"X_auth_user_id":   {"admin"},
				"X.auth.user.id":   {"admin"},
				"X-Auth-Role":      {"admin"},
			},
			wantStatus: 200, wantUp: true,
		},
		{
			name: "identity headers named in Connection still arrive",
			header: http.Header{
				"Authorization": {"Bearer " + token},
				"Connection":    {"X-Auth-User-Id, X-Auth-Session-Id"},
			},
			wantStatus: 200, wantUp: true,
		},
		{name: "no token", header: http.Header{"X-Auth-User-Id": {"admin"}}, wantStatus: 401},
		{name: "junk token", header: http.Header{"Authorization": {"Bearer junk"}}, wantStatus: 401},
		{name: "malformed credentials", header: http.Header{"Authorization": {"Bearer a b"}}, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := do(t, front.URL+"/orders?x=1", tt.header)
			require.Equal(t, tt.wantStatus, status, body)
			calls, up := rec.last()
			if !tt.wantUp {
				assert.Zero(t, calls, "a refused request never reaches the upstream")
				assert.True(t, strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer "), "WWW-Authenticate %q", hdr.Get("WWW-Authenticate"))
				return
			}
			require.Equal(t, 1, calls)
			assert.Equal(t, "upstream says hi", body)
			assert.Equal(t, userID, up.Get("X-Auth-User-Id"))
			assert.NotEmpty(t, up.Get("X-Auth-Session-Id"))
			assert.Equal(t, appservicestest.DefaultDomainID, up.Get("X-Auth-Domain-Id"))
			assert.NotEmpty(t, up.Get("X-Auth-Device-Id"))
			assert.NotEmpty(t, up.Get("X-Auth-Expires"))
			data, err := base64.RawURLEncoding.DecodeString(up.Get("X-Auth-User-Data"))
			require.NoError(t, err)
			assert.JSONEq(t, `{"plan":"pro"}`, string(data))
			assert.Empty(t, up.Values("Authorization"), "the token stays at the gateway")
			assert.NotEmpty(t, up.Get("X-Forwarded-For"))
			for k, v := range up {
				switch k {
				case "X-Auth-User-Id", "X-Auth-Session-Id", "X-Auth-Domain-Id", "X-Auth-Device-Id", "X-Auth-Expires", "X-Auth-User-Data":
					assert.Len(t, v, 1, k)
				default:
					folded := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(k))
					assert.False(t, strings.HasPrefix(folded, "x-auth-"), "client header %s: %q reached the upstream", k, v)
				}
			}
		})
	}

	assert.Equal(t, map[string]float64{
		"authenticated": 3, "missing": 1, "invalid": 1, "malformed": 1, "anonymous": 0, "unavailable": 0, "too_many_requests": 0,
	}, requests(t, reg), "tokenguard_requests_total by outcome")
}

func TestProxyUpstreamDown(t *testing.T) {
	srv := appservicestest.NewServer()
	t.Cleanup(srv.Close)
	token, err := srv.NewAccessToken(srv.AddUser("ada@example.com", "correct horse"))
	require.NoError(t, err)

	dead := httptest.NewServer(http.NotFoundHandler())
	upstream, err := url.Parse(dead.URL)
	require.NoError(t, err)
	dead.Close() // connections to it are refused from now on

	h, err := newHandler(srv.Config(), upstream, prometheus.NewRegistry())
	require.NoError(t, err)
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)

	status, body, hdr := do(t, front.URL+"/", http.Header{"Authorization": {"Bearer " + token}})
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	assert.Contains(t, body, `"bad_gateway"`)
}

// requests returns tokenguard_requests_total from reg, by outcome.
func requests(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "tokenguard_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

func do(t *testing.T, target string, header http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), resp.Header
}
