package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// logBuffer collects log lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the lines that contain every one of subs.
func (l *logBuffer) lines(subs ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// emulatorConfig returns a forward-auth Config against emu.
func emulatorConfig(emu *appservicestest.Server, log *slog.Logger) Config {
	ec := emu.Config()
	return Config{
		Mode:        ModeForwardAuth,
		APIURL:      ec.BaseURL,
		GroupID:     ec.GroupID,
		AppID:       ec.AppID,
		PublicKey:   ec.PublicKey,
		PrivateKey:  ec.PrivateKey,
		HTTPClient:  ec.HTTPClient,
		Now:         emu.Now,
		CacheSize:   1000,
		NegativeTTL: 0,
		Logger:      log,
	}
}

// running is a Gateway being Run by a test.
type running struct {
	g           *Gateway
	data, admin string // http://host:port
	stop        func() error
}

// runGateway builds a Gateway from cfg, runs it on loopback ports and stops
// it in the test's cleanup.
func runGateway(t testing.TB, cfg Config) *running {
	t.Helper()
	g, err := New(cfg)
	require.NoError(t, err)
	return runBuilt(t, g)
}

// runBuilt runs g, made by New, on loopback listeners until the test ends.
func runBuilt(t testing.TB, g *Gateway) *running {
	t.Helper()
	data, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, data, admin) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	scheme := "http://"
	if g.certs != nil {
		scheme = "https://"
	}
	return &running{g: g, data: scheme + data.Addr().String(), admin: scheme + admin.Addr().String(), stop: stop}
}

// get sends a GET with an optional bearer token and returns status, headers
// and body.
func get(t *testing.T, url, token string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}
