package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// An upstream answer header that fits fastUpstreamHeaderBytes is relayed on
// both engines; one over it is a 502 on fasthttp, whose upstream
// connections each hold a buffer that size (net/http's Transport allows
// megabytes).
func TestUpstreamAnswerHeaderCap(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := fastUpstreamHeaderBytes - 1024 // room for the status line and the other fields
		if r.URL.Path == "/big" {
			n = fastUpstreamHeaderBytes + 1024
		}
		w.Header().Set("X-Filler", strings.Repeat("a", n))
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { testUpstreamAnswerHeaderCap(t, up.URL, e.fn, e.name == "fasthttp") })
	}
}

func testUpstreamAnswerHeaderCap(t *testing.T, upstream string, engine EngineFunc, fast bool) {
	emu, _, tok := newEmulator(t)
	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.Mode, cfg.Upstream, cfg.Engine = ModeProxy, upstream, engine
	r := runGateway(t, cfg)
	status, h, body := get(t, r.data+"/fits", tok)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "ok", body)
	assert.Len(t, h.Get("X-Filler"), fastUpstreamHeaderBytes-1024)
	status, _, _ = get(t, r.data+"/big", tok)
	if fast {
		assert.Equal(t, http.StatusBadGateway, status, "over the cap")
	} else {
		assert.Equal(t, http.StatusOK, status, "net/http's Transport allows it")
	}
}
