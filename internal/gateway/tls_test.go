package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsClient trusts only roots, offers HTTP/2 and keeps no connection
// between requests, so that each request is a new handshake.
func tlsClient(roots *x509.CertPool, h2 bool) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: h2,
			DisableKeepAlives: true,
		},
	}
}

// servedSerial is the serial number of the certificate url's server
// presents.
func servedSerial(t *testing.T, c *http.Client, url string) int64 {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NotNil(t, resp.TLS)
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
}

// Over TLS, the data and admin listeners negotiate HTTP/2; on HTTP/2 the
// client's identity headers are stripped as on HTTP/1.1, the header limit
// holds, and TLS below 1.2 is refused.
func TestGatewayTLSServesHTTP2(t *testing.T) {
	up, got := recordingUpstream(t)
	cfg, user := proxyConfig(t, up.URL)
	ca := newTestCA(t)
	cfg.TLSCertFile, cfg.TLSKeyFile, _ = ca.writePair(t, t.TempDir(), time.Now())
	cfg.MaxHeaderBytes = 4 << 10
	r := runGateway(t, cfg)
	id, tok := user("grace@example.com")
	c := tlsClient(ca.pool(), true)

	req, err := http.NewRequest(http.MethodGet, r.data+"/api", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Auth-User-Id", "spoofed")
	resp, err := c.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.Equal(t, "HTTP/2.0", resp.Proto)
	assert.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))
	s := <-got
	assert.Equal(t, []string{id}, s.header["X-Auth-User-Id"], "the client's value is stripped, the gateway's set")
	assert.Empty(t, s.header.Get("Authorization"))
	assert.Equal(t, "https", s.header.Get("X-Forwarded-Proto"))

	// A refusal over HTTP/2.
	resp, err = c.Get(r.data + "/api")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// The header limit holds on HTTP/2: the server advertises it, so the
	// client refuses to send, or the server answers 431.
	req, err = http.NewRequest(http.MethodGet, r.data+"/api", nil)
	require.NoError(t, err)
	req.Header.Set("X-Big", strings.Repeat("a", 8<<10))
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	}

	resp, err = c.Get(r.admin + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "HTTP/2.0", resp.Proto, "the admin listener too")

	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: ca.pool(), MaxVersion: tls.VersionTLS11,
	}}}
	_, err = old.Get(r.data + "/api")
	require.Error(t, err, "TLS 1.1 is refused")
}

// A renewed pair is served from the first handshake after the check
// interval; a bad new pair keeps the old one, with a warning.
func TestGatewayTLSReload(t *testing.T) {
	up, _ := recordingUpstream(t)
	cfg, _ := proxyConfig(t, up.URL)
	var logs logBuffer
	cfg.Logger = newLogger(&logs)
	ca := newTestCA(t)
	dir := t.TempDir()
	mod := time.Now().Add(-time.Hour)
	var first int64
	cfg.TLSCertFile, cfg.TLSKeyFile, first = ca.writePair(t, dir, mod)
	g, err := New(cfg)
	require.NoError(t, err)
	clock := &fakeClock{}
	g.certs.now = clock.Now
	r := runBuilt(t, g)
	c := tlsClient(ca.pool(), false)
	require.Equal(t, first, servedSerial(t, c, r.admin+"/healthz"))

	_, _, second := ca.writePair(t, dir, mod.Add(time.Minute))
	assert.Equal(t, first, servedSerial(t, c, r.admin+"/healthz"), "not looked at again within the interval")
	clock.Advance(DefaultCertCheckInterval)
	assert.Equal(t, second, servedSerial(t, c, r.data+"/"), "the new pair after the interval")
	assert.Len(t, logs.lines("TLS certificate reloaded"), 1)

	// A certificate whose key is another's: the pair does not load.
	certPEM, _, _ := ca.issue(t, "127.0.0.1")
	writeStamped(t, cfg.TLSCertFile, certPEM, mod.Add(2*time.Minute))
	clock.Advance(DefaultCertCheckInterval)
	assert.Equal(t, second, servedSerial(t, c, r.data+"/"), "the old pair stays")
	assert.Len(t, logs.lines("level=WARN", "does not load", "serving the previous pair"), 1)
	clock.Advance(DefaultCertCheckInterval)
	assert.Equal(t, second, servedSerial(t, c, r.data+"/"))
	assert.Len(t, logs.lines("does not load"), 1, "an unchanged bad pair is not retried")
}

// A missing or half-given pair is refused by New.
func TestTLSConfigRefused(t *testing.T) {
	cfg := validConfig()
	cfg.TLSCertFile = "/nonexistent/cert.pem"
	_, err := New(cfg)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "TLSCertFile", ce.Field)
	cfg.TLSKeyFile = "/nonexistent/key.pem"
	_, err = New(cfg)
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Msg, "no such file")
}

// Over TLS on either engine (HTTP/1.1 here: fasthttp serves no HTTP/2),
// proxy mode strips the client's identity header, sets the gateway's, hides
// the credential and says https in X-Forwarded-Proto.
func TestGatewayTLSProxyOnEachEngine(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		up, got := recordingUpstream(t)
		cfg, user := proxyConfig(t, up.URL)
		cfg.Engine = engine
		ca := newTestCA(t)
		cfg.TLSCertFile, cfg.TLSKeyFile, _ = ca.writePair(t, t.TempDir(), time.Now())
		r := runGateway(t, cfg)
		id, tok := user("grace@example.com")
		c := tlsClient(ca.pool(), false)
		req, err := http.NewRequest(http.MethodGet, r.data+"/api", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Auth-User-Id", "spoofed")
		resp, err := c.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		assert.Equal(t, "HTTP/1.1", resp.Proto)
		s := <-got
		assert.Equal(t, []string{id}, s.header["X-Auth-User-Id"])
		assert.Empty(t, s.header.Get("Authorization"))
		assert.Equal(t, "https", s.header.Get("X-Forwarded-Proto"))
	})
}
