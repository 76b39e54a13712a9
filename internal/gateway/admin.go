package gateway

import (
	"io"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Readiness states of a gateway.
const (
	stateStarting int32 = iota // the start-up admin login has not succeeded yet
	stateReady                 // it has, and shutdown has not begun
	stateStopping              // shutdown has begun
)

// adminHandler serves the admin listener:
//
//	GET  /metrics  the gateway's registry (process, Go runtime, middleware and cache metrics)
//	GET  /healthz  200 while the process runs
//	GET  /readyz   200 once the start-up admin login succeeded (and, with a
//	               shared revocation feed, its set was loaded) and until
//	               shutdown begins, else 503
//	POST /revoke   the revoke webhook, when there is one; 404 otherwise
func adminHandler(reg *prometheus.Registry, state *atomic.Int32, revoke http.Handler, shared bool) http.Handler {
	starting := "starting: the Admin API login has not succeeded yet\n"
	if shared {
		starting = "starting: the Admin API login has not succeeded yet, or the shared revocations are not loaded yet\n"
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg, // promhttp's own error counter
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch state.Load() {
		case stateReady:
			writeText(w, http.StatusOK, "ready\n")
		case stateStarting:
			writeText(w, http.StatusServiceUnavailable, starting)
		default:
			writeText(w, http.StatusServiceUnavailable, "shutting down\n")
		}
	})
	if revoke != nil {
		mux.Handle("/revoke", revoke) // it answers other methods with 405 itself
	}
	return mux
}

func writeText(w http.ResponseWriter, status int, s string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, s)
}
