package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mtlsServer serves h over TLS with a certificate of serverCA and requires
// a client certificate issued by clientCA.
func mtlsServer(t *testing.T, h http.Handler, serverCA, clientCA *testCA) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCA.tlsPair(t, "127.0.0.1")},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA.pool(),
		MinVersion:   tls.VersionTLS12,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func writeCA(t *testing.T, ca *testCA) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(name, ca.pem, 0o600))
	return name
}

// Proxy mode reaches an upstream whose certificate chains to
// --upstream-ca-file and that requires a client certificate; without the
// client certificate the upstream refuses, and the client gets 502.
func TestGatewayUpstreamMutualTLS(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		serverCA, clientCA := newTestCA(t), newTestCA(t)
		got := make(chan string, 4)
		up := mtlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got <- r.TLS.PeerCertificates[0].Subject.CommonName
			_, _ = io.WriteString(w, "ok")
		}), serverCA, clientCA)

		tests := []struct {
			name       string
			clientCert bool
			want       int
		}{
			{"client certificate", true, http.StatusOK},
			{"no client certificate", false, http.StatusBadGateway},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cfg, user := proxyConfig(t, up.URL)
				cfg.Engine = engine
				cfg.UpstreamCAFile = writeCA(t, serverCA)
				if tt.clientCert {
					cfg.UpstreamClientCertFile, cfg.UpstreamClientKeyFile, _ = clientCA.writePair(t, t.TempDir(), time.Now())
				}
				r := runGateway(t, cfg)
				_, tok := user("grace@example.com")
				status, _, body := get(t, r.data+"/x", tok)
				assert.Equal(t, tt.want, status, body)
				if tt.clientCert {
					assert.Equal(t, "127.0.0.1", <-got, "the upstream saw the gateway's client certificate")
				}
			})
		}
	})
}

// The App Services client trusts --api-ca-file and presents
// --api-client-cert-file: the gateway becomes ready (its admin login went
// through) and verifies a token. Without the CA file the system roots
// refuse the API's certificate and the login keeps failing.
func TestGatewayAPIMutualTLS(t *testing.T) {
	emu, _, tok := newEmulator(t)
	serverCA, clientCA := newTestCA(t), newTestCA(t)
	api := mtlsServer(t, emu.Handler(), serverCA, clientCA)

	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.HTTPClient = nil
	cfg.APIURL = api.URL
	cfg.APICAFile = writeCA(t, serverCA)
	cfg.APIClientCertFile, cfg.APIClientKeyFile, _ = clientCA.writePair(t, t.TempDir(), time.Now())
	r := runGateway(t, cfg)
	select {
	case <-r.g.Ready():
	case <-time.After(10 * time.Second): // a bound for a broken build, not a synchronisation
		t.Fatal("the admin login through mutual TLS never succeeded")
	}
	status, _, _ := get(t, r.data+"/", tok)
	assert.Equal(t, http.StatusOK, status)

	cfg.APICAFile = ""
	failed := make(chan error, 1)
	cfg.Backoff = Backoff{Wait: func(ctx context.Context, _ time.Duration) error {
		select {
		case failed <- nil:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}}
	var logs logBuffer
	cfg.Logger = newLogger(&logs)
	runGateway(t, cfg)
	<-failed
	assert.NotEmpty(t, logs.lines("admin API login failed", "certificate signed by unknown authority"))
}

// The client TLS files are refused where they cannot apply.
func TestClientTLSConfigRefused(t *testing.T) {
	ca := newTestCA(t)
	caFile := writeCA(t, ca)
	tests := []struct {
		name, field string
		edit        func(*Config)
	}{
		{"upstream CA with http upstream", "UpstreamCAFile", func(c *Config) {
			c.Mode, c.Upstream, c.UpstreamCAFile = ModeProxy, "http://127.0.0.1:1", caFile
		}},
		{"API CA with own HTTPClient", "APICAFile", func(c *Config) { c.APICAFile, c.HTTPClient = caFile, http.DefaultClient }},
		{"client cert without key", "APIClientCertFile", func(c *Config) { c.APIClientCertFile = caFile }},
		{"CA file without a certificate", "APICAFile", func(c *Config) { c.APICAFile = "/dev/null" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.edit(&cfg)
			_, err := New(cfg)
			ce, ok := errors.AsType[*ConfigError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, tt.field, ce.Field)
		})
	}
}
