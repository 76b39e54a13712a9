package gateway

import (
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/internal/buildinfo"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

func newEmulator(t testing.TB) (*appservicestest.Server, string, string) {
	t.Helper()
	emu := appservicestest.NewServer()
	t.Cleanup(emu.Close)
	id := emu.AddUser("ada@example.com", "pw")
	tok, err := emu.NewAccessToken(id)
	require.NoError(t, err)
	return emu, id, tok
}

func TestGatewayReadiness(t *testing.T) {
	emu, _, _ := newEmulator(t)
	emu.FailNext(1, appservicestest.Fault{Endpoint: appservicestest.EndpointAdminLogin, Status: http.StatusInternalServerError})
	waiting, proceed := make(chan struct{}), make(chan struct{})
	var logs logBuffer
	cfg := emulatorConfig(emu, newLogger(&logs))
	cfg.Backoff = Backoff{Wait: func(ctx context.Context, _ time.Duration) error {
		close(waiting)
		select {
		case <-proceed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	r := runGateway(t, cfg)

	<-waiting // the first login failed; the gateway waits to retry
	status, _, body := get(t, r.admin+"/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, body, "login has not succeeded")
	status, _, _ = get(t, r.admin+"/healthz", "")
	assert.Equal(t, http.StatusOK, status, "alive while not ready")
	assert.Len(t, logs.lines("level=WARN", "admin API login failed", "attempt=1"), 1)

	close(proceed)
	<-r.g.Ready()
	status, _, _ = get(t, r.admin+"/readyz", "")
	assert.Equal(t, http.StatusOK, status)

	// Which build this replica runs, in the metrics and the start-up line.
	info := buildinfo.Read()
	_, _, metrics := get(t, r.admin+"/metrics", "")
	assert.Contains(t, metrics, `tokenguard_build_info{commit="`+info.Commit+`",date="`+info.Date+`",goversion="`+info.GoVersion+`",version="`+info.Version+`"} 1`)
	assert.Len(t, logs.lines("tokenguard: listening", "version="+info.Version, "commit="+info.Commit), 1)

	require.NoError(t, r.stop())
	assert.EqualValues(t, 2, emu.Calls(appservicestest.EndpointAdminLogin))
}

func TestGatewayForwardAuthAdmin(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, id, tok := newEmulator(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Engine = engine
		// Two secrets, as during a rotation; the call is signed with the new one.
		cfg.RevokeSecrets = []string{testRevokeSecret, testRevokeSecret2}
		r := runGateway(t, cfg)
		<-r.g.Ready()

		status, h, _ := get(t, r.data+"/any/path", tok)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, id, h.Get("X-Auth-User-Id"))
		status, h, _ = get(t, r.data+"/", "")
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, `Bearer realm="tokenguard"`, h.Get("WWW-Authenticate"))

		status, _, metrics := get(t, r.admin+"/metrics", "")
		require.Equal(t, http.StatusOK, status)
		for _, want := range []string{
			`tokenguard_requests_total{outcome="authenticated"} 1`,
			`tokenguard_requests_total{outcome="missing"} 1`,
			`tokenguard_cache_lookups_total{result="miss"} 1`,
			"go_goroutines ", "process_cpu_seconds_total ",
		} {
			assert.Contains(t, metrics, want)
		}

		body := `{"user_id":"` + id + `"}`
		req, err := http.NewRequest(http.MethodPost, r.admin+"/revoke", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(middleware.SignatureHeader, middleware.SignWebhook([]byte(testRevokeSecret2), []byte(body), time.Now()))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		status, _, _ = get(t, r.data+"/", tok)
		assert.Equal(t, http.StatusUnauthorized, status, "revoked through the webhook")
	})
}

func TestGatewayRevokeWebhookOff(t *testing.T) {
	tests := []struct {
		name      string
		secret    string
		cacheSize int
		warned    bool
	}{
		{"no secret", "", 1000, false},
		{"cache off", testRevokeSecret, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, _, _ := newEmulator(t)
			var logs logBuffer
			cfg := emulatorConfig(emu, newLogger(&logs))
			if tt.secret != "" {
				cfg.RevokeSecrets = []string{tt.secret}
			}
			cfg.CacheSize = tt.cacheSize
			g, err := New(cfg)
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			g.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/revoke", strings.NewReader(`{"user_id":"x"}`)))
			assert.Equal(t, http.StatusNotFound, rec.Code)
			assert.Equal(t, tt.warned, len(logs.lines("level=WARN", "revoke webhook off")) == 1)
		})
	}
}

func TestGatewayProxyMode(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, id, tok := newEmulator(t)
		up, got := recordingUpstream(t)
		tests := []struct {
			name          string
			edit          func(*Config)
			path, token   string
			wantStatus    int
			wantAuthz     string // Authorization the upstream gets
			userIDHeader  string
			wantUserID    string
			reachUpstream bool
		}{
			{"identity on, token hidden", nil, "/api", tok, 200, "", "X-Auth-User-Id", id, true},
			{"pass token", func(c *Config) { c.PassToken = true }, "/api", tok, 200, "Bearer " + tok, "X-Auth-User-Id", id, true},
			{"own prefix", func(c *Config) { c.IdentityPrefix = "X-User-" }, "/api", tok, 200, "", "X-User-User-Id", id, true},
			{"no token", nil, "/api", "", 401, "", "", "", false},
			{"skipped path, no token", func(c *Config) { c.SkipPaths = []string{"/healthz"} }, "/healthz", "", 200, "", "X-Auth-User-Id", "", true},
			{"skip needs a clean path", func(c *Config) { c.SkipPaths = []string{"/healthz"} }, "/healthz/../api", "", 401, "", "", "", false},
			{"no cache", func(c *Config) { c.CacheSize = 0 }, "/api", tok, 200, "", "X-Auth-User-Id", id, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cfg := emulatorConfig(emu, newLogger(io.Discard))
				cfg.Mode, cfg.Upstream = ModeProxy, up.URL
				cfg.Engine = engine
				if tt.edit != nil {
					tt.edit(&cfg)
				}
				r := runGateway(t, cfg)
				idHeader := cmp.Or(tt.userIDHeader, "X-Auth-User-Id")
				status, _, _ := get(t, r.data+tt.path, tt.token, idHeader, "spoofed")
				assert.Equal(t, tt.wantStatus, status)
				if !tt.reachUpstream {
					select {
					case s := <-got:
						t.Fatalf("the upstream got %s", s.path)
					default:
					}
					return
				}
				s := <-got
				assert.Equal(t, tt.wantAuthz, s.header.Get("Authorization"))
				assert.Equal(t, tt.wantUserID, s.header.Get(tt.userIDHeader))
				assert.NotEqual(t, "spoofed", s.header.Get(idHeader), "the client's identity header never passes")
			})
		}
	})
}

func TestGatewayRunFailsWhenAListenerFails(t *testing.T) {
	emu, _, _ := newEmulator(t)
	g, err := New(emulatorConfig(emu, newLogger(io.Discard)))
	require.NoError(t, err)
	data, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	data.Close() // Serve fails at once
	err = g.Run(context.Background(), data, nil)
	assert.ErrorContains(t, err, "gateway: serve:")
	assert.Panics(t, func() { _ = g.Run(context.Background(), data, nil) }, "Run twice")
}

func TestGatewayForwardAuthSkip(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, _ := newEmulator(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Engine = engine
		cfg.SkipPaths = []string{"/healthz"}
		cfg.TrustForwardedURI = true
		r := runGateway(t, cfg)
		tests := []struct {
			name   string
			hdr    []string
			status int
		}{
			{"forwarded uri under a skip path", []string{"X-Forwarded-Uri", "/healthz/live"}, 200},
			{"original uri under a skip path", []string{"X-Original-Uri", "/healthz"}, 200},
			{"forwarded uri elsewhere", []string{"X-Forwarded-Uri", "/api"}, 401},
			{"dot segments out of the skip path", []string{"X-Forwarded-Uri", "/healthz/../api"}, 401},
			{"no forwarded uri: the subrequest's own path", nil, 401},
			{"matrix parameter out of the skip path", []string{"X-Forwarded-Uri", "/healthz/..;/admin"}, 401},
			{"client's X-Original-Uri against the proxy's X-Forwarded-Uri", []string{"X-Forwarded-Uri", "/api", "X-Original-Uri", "/healthz"}, 401},
			{"client's X-Forwarded-Uri against the proxy's X-Original-Uri", []string{"X-Forwarded-Uri", "/healthz", "X-Original-Uri", "/api"}, 401},
			{"both agree", []string{"X-Forwarded-Uri", "/healthz", "X-Original-Uri", "/healthz"}, 200},
			{"X-Forwarded-Uri twice", []string{"X-Forwarded-Uri", "/healthz", "X-Forwarded-Uri", "/api"}, 401},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, h, _ := get(t, r.data+"/auth", "", tt.hdr...)
				assert.Equal(t, tt.status, status)
				if status == 200 {
					assert.Empty(t, h.Get("X-Auth-User-Id"), "skipped: no identity")
				}
			})
		}
	})
}

// A forward-auth answer carries every identity header, empty where there is
// no value, on both engines: a proxy that copies the answer's headers onto
// the forwarded request (nginx auth_request_set, Traefik
// authResponseHeaders) must overwrite what the client sent, and a header
// missing from the answer would leave the client's own in place.
func TestGatewayForwardAuthIdentityAlwaysPresent(t *testing.T) {
	names := []string{"X-Auth-User-Id", "X-Auth-Session-Id", "X-Auth-Domain-Id",
		"X-Auth-Device-Id", "X-Auth-Expires", "X-Auth-User-Data"}
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, id, tok := newEmulator(t) // ada has no custom data
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Engine = engine
		cfg.SkipPaths = []string{"/healthz"}
		cfg.TrustForwardedURI = true
		r := runGateway(t, cfg)
		<-r.g.Ready()

		// The client's forged identity rides along on both requests.
		forged := []string{"X-Auth-User-Id", "admin", "X-Auth-User-Data", "eyJyb2xlIjoiYWRtaW4ifQ"}

		t.Run("skipped, anonymous", func(t *testing.T) {
			status, h, _ := get(t, r.data+"/auth", "", append([]string{"X-Forwarded-Uri", "/healthz"}, forged...)...)
			require.Equal(t, http.StatusOK, status)
			for _, name := range names {
				assert.Equal(t, []string{""}, h[name], name)
			}
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
		})
		t.Run("user without custom data", func(t *testing.T) {
			status, h, _ := get(t, r.data+"/auth", tok, append([]string{"X-Forwarded-Uri", "/api"}, forged...)...)
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, []string{id}, h["X-Auth-User-Id"])
			assert.Equal(t, []string{""}, h["X-Auth-User-Data"])
			for _, name := range names {
				assert.Len(t, h[name], 1, name)
			}
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
		})
	})
}

// With the cache off (nginx's proxy_cache in front does the caching), junk,
// refresh and expired tokens are still refused locally: no verify_token call.
func TestGatewayWithoutCacheStillPrechecks(t *testing.T) {
	emu, _, tok := newEmulator(t)
	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.CacheSize = 0
	r := runGateway(t, cfg)
	now := emu.Now()
	expired := emu.Sign(jwt.MapClaims{"sub": "u", "typ": "access", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix()})
	refresh := emu.Sign(jwt.MapClaims{"sub": "u", "typ": "refresh", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	before := emu.Calls(appservicestest.EndpointVerifyToken)
	for _, junk := range []string{"not-a-jwt", expired, refresh} {
		status, _, _ := get(t, r.data+"/", junk)
		assert.Equal(t, http.StatusUnauthorized, status)
	}
	assert.Equal(t, before, emu.Calls(appservicestest.EndpointVerifyToken), "no upstream call for junk")
	status, _, _ := get(t, r.data+"/", tok)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, before+1, emu.Calls(appservicestest.EndpointVerifyToken), "a real token still goes upstream")
}

// Webhook secrets of the tests: 32 bytes or more, as Config requires.
const (
	testRevokeSecret  = "gateway-test-revoke-secret-32-bytes!"
	testRevokeSecret2 = "gateway-test-revoke-secret-rotated-in"
)

// A secret shorter than 32 bytes is refused when the Config is made.
func TestGatewayShortRevokeSecret(t *testing.T) {
	emu, _, _ := newEmulator(t)
	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.RevokeSecrets = []string{testRevokeSecret, strings.Repeat("x", 31)}
	_, err := New(cfg)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "RevokeSecrets", ce.Field)
	assert.Contains(t, ce.Msg, "31 bytes is shorter than the 32 required")
}
