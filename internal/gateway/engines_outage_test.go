package gateway

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// On either engine, forward-auth answers an outage of App Services 503 with
// Retry-After and no challenge, never 401, and the token it was shown never
// reaches a log line.
func TestForwardAuthOutageOnEachEngine(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		logs := &logBuffer{}
		cfg := emulatorConfig(emu, newLogger(logs))
		cfg.Engine = engine
		r := runGateway(t, cfg)
		<-r.g.Ready()
		emu.FailNext(1, appservicestest.Fault{Endpoint: appservicestest.EndpointVerifyToken, Status: http.StatusInternalServerError})

		status, h, _ := get(t, r.data+"/any", tok)
		require.Equal(t, http.StatusServiceUnavailable, status)
		assert.NotEmpty(t, h.Get("Retry-After"))
		assert.Empty(t, h.Get("WWW-Authenticate"))
		assert.Equal(t, "no-store", h.Get("Cache-Control"))
		assert.NotEmpty(t, logs.lines("unavailable"), "the outage is logged")
		assert.NotContains(t, logs.String(), tok, "no token in the logs")
	})
}
