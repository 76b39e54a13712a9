package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signal is a slog.Handler that also closes a channel the first time a
// record with message msg is handled.
type signal struct {
	slog.Handler
	msg  string
	seen chan struct{}
}

func onLog(h slog.Handler, msg string) *signal {
	return &signal{Handler: h, msg: msg, seen: make(chan struct{})}
}

func (s *signal) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, s.msg) {
		select {
		case <-s.seen:
		default:
			close(s.seen)
		}
	}
	return s.Handler.Handle(ctx, r)
}

func TestGatewayDrainsInFlightRequests(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		arrived, release := make(chan struct{}), make(chan struct{})
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(arrived)
			<-release
			_, _ = io.WriteString(w, "slow answer")
		}))
		defer up.Close()
		h := onLog(slog.NewTextHandler(io.Discard, nil), "stopped accepting")
		cfg := emulatorConfig(emu, slog.New(h))
		cfg.Mode, cfg.Upstream = ModeProxy, up.URL
		cfg.Engine = engine
		r := runGateway(t, cfg)
		<-r.g.Ready()

		type result struct {
			status int
			body   string
		}
		res := make(chan result, 1)
		req, err := http.NewRequest(http.MethodGet, r.data+"/slow", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				res <- result{0, err.Error()}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			res <- result{resp.StatusCode, string(b)}
		}()
		<-arrived
		stopped := make(chan error, 1)
		go func() { stopped <- r.stop() }()
		<-h.seen // the data listener is closed; the request is still in flight

		_, err = net.Dial("tcp", strings.TrimPrefix(r.data, "http://"))
		assert.Error(t, err, "no new connections while draining")
		status, _, body := get(t, r.admin+"/readyz", "")
		assert.Equal(t, http.StatusServiceUnavailable, status)
		assert.Equal(t, "shutting down\n", body)

		close(release)
		assert.Equal(t, result{200, "slow answer"}, <-res)
		assert.NoError(t, <-stopped)
	})
}

func TestGatewayDrainTimesOut(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		arrived := make(chan struct{})
		up := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done() // never answers
		}))
		defer up.Close()
		var logs logBuffer
		cfg := emulatorConfig(emu, newLogger(&logs))
		cfg.Mode, cfg.Upstream = ModeProxy, up.URL
		cfg.Engine = engine
		cfg.ShutdownTimeout = 50 * time.Millisecond
		r := runGateway(t, cfg)
		<-r.g.Ready()
		errc := make(chan error, 1)
		req, err := http.NewRequest(http.MethodGet, r.data+"/stuck", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			errc <- err
		}()
		<-arrived
		assert.NoError(t, r.stop(), "a drain cut short is still a clean stop")
		assert.Error(t, <-errc, "the stuck request's connection was closed")
		assert.Len(t, logs.lines("level=WARN", "drain timed out"), 1)
	})
}
