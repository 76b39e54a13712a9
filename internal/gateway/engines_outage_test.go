package gateway

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// On either engine and in either mode, an outage of App Services is
// answered 503 with Retry-After and no challenge, never 401, the upstream
// is not reached, and the token it was shown never reaches a log line.
func TestOutageOnEachEngine(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		for _, mode := range []Mode{ModeForwardAuth, ModeProxy} {
			t.Run(mode.String(), func(t *testing.T) {
				emu, _, tok := newEmulator(t)
				up, got := recordingUpstream(t)
				logs := &logBuffer{}
				cfg := emulatorConfig(emu, newLogger(logs))
				cfg.Engine, cfg.Mode = engine, mode
				if mode == ModeProxy {
					cfg.Upstream = up.URL
				}
				r := runGateway(t, cfg)
				<-r.g.Ready()
				emu.FailNext(1, appservicestest.Fault{Endpoint: appservicestest.EndpointVerifyToken, Status: http.StatusInternalServerError})

				status, h, _ := get(t, r.data+"/any", tok)
				require.Equal(t, http.StatusServiceUnavailable, status)
				assert.NotEmpty(t, h.Get("Retry-After"))
				assert.Empty(t, h.Get("WWW-Authenticate"))
				assert.Equal(t, "no-store", h.Get("Cache-Control"))
				assert.Equal(t, "application/json", h.Get("Content-Type"))
				assert.Empty(t, got, "the upstream was reached")
				assert.NotEmpty(t, logs.lines("unavailable"), "the outage is logged")
				assert.NotContains(t, logs.String(), tok, "no token in the logs")
			})
		}
	})
}
