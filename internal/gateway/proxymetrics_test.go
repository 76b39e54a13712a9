package gateway

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The proxy's histogram counts each forwarded request by outcome and the
// upstream's status class; the proxy's own 502 is "unreachable"; a refusal
// never reaches it.
func TestProxyRequestDuration(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/broken" {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, "ok")
		}))
		t.Cleanup(up.Close)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Mode, cfg.Upstream = ModeProxy, up.URL
		cfg.Engine = engine
		cfg.SkipPaths = []string{"/public"}
		r := runGateway(t, cfg)

		for _, c := range []struct {
			path, tok string
			status    int
		}{
			{"/a", tok, http.StatusOK},
			{"/b", tok, http.StatusOK},
			{"/broken", tok, http.StatusServiceUnavailable},
			{"/public", "", http.StatusOK},
			{"/a", "", http.StatusUnauthorized},
		} {
			status, _, _ := get(t, r.data+c.path, c.tok)
			require.Equal(t, c.status, status, c.path)
		}

		// An upstream that refuses connections: a port that was just freed.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		dead := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
		cfg.Upstream = dead
		r2 := runGateway(t, cfg)
		status, _, _ := get(t, r2.data+"/a", tok)
		require.Equal(t, http.StatusBadGateway, status)

		count := func(base, outcome, class string) string {
			_, _, m := get(t, base+"/metrics", "")
			re := regexp.MustCompile(`tokenguard_proxy_request_duration_seconds_count\{outcome="` + outcome +
				`",upstream="` + class + `"\} (\d+)`)
			if s := re.FindStringSubmatch(m); s != nil {
				return s[1]
			}
			return "absent"
		}
		assert.Equal(t, "2", count(r.admin, "authenticated", "2xx"))
		assert.Equal(t, "1", count(r.admin, "authenticated", "5xx"))
		assert.Equal(t, "1", count(r.admin, "skipped", "2xx"))
		assert.Equal(t, "0", count(r.admin, "authenticated", "4xx"), "the 401 never reached the proxy")
		assert.Equal(t, "0", count(r.admin, "authenticated", "unreachable"))
		assert.Equal(t, "1", count(r2.admin, "authenticated", "unreachable"))
	})
}
