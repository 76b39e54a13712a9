package gateway

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Proxy mode drops the URL-override and client-identity headers a client
// sends, on a skip path too, but for one the operator keeps; and it sends
// the resolved client address as X-Forwarded-For.
func TestProxyDropsOverrideHeaders(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		up, got := recordingUpstream(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Mode, cfg.Upstream = ModeProxy, up.URL
		cfg.Engine = engine
		cfg.SkipPaths = []string{"/healthz"}
		cfg.KeepClientHeaders = []string{"x-remote-user"}
		cfg.TrustedProxies = []string{"127.0.0.0/8"}
		r := runGateway(t, cfg)
		sent := []string{
			"X-Original-Url", "/admin", "X-Rewrite-Url", "/admin", "X-Original-Uri", "/admin",
			"X-Envoy-Original-Path", "/admin", "True-Client-Ip", "1.2.3.4", "Client-Ip", "1.2.3.4",
			"X-Client-Ip", "1.2.3.4", "X-Cluster-Client-Ip", "1.2.3.4", "Remote-User", "root",
			"X-Remote-User", "kept", "X-Forwarded-For", "198.51.100.7, 127.0.0.9",
		}
		for _, path := range []string{"/healthz", "/api"} {
			status, _, _ := get(t, r.data+path, tok, sent...)
			require.Equal(t, 200, status)
			s := <-got
			for i := 0; i < len(sent); i += 2 {
				switch k := sent[i]; k {
				case "X-Remote-User":
					assert.Equal(t, "kept", s.header.Get(k), "%s: kept by the operator", path)
				case "X-Forwarded-For":
					assert.Equal(t, "198.51.100.7", s.header.Get(k), "%s: the right-most untrusted hop", path)
				default:
					assert.Empty(t, s.header.Values(k), "%s: %s passed", path, k)
				}
			}
		}
	})
}

func TestInsecureAPIURLRefused(t *testing.T) {
	emu, _, _ := newEmulator(t)
	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.APIURL = "http://services.example.com"
	_, err := New(cfg)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "APIURL", ce.Field)
	cfg.AllowInsecureAPIURL = true
	_, err = New(cfg)
	require.NoError(t, err)
}
