package gateway

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineSink hands each line written to it to the test, in order.
type lineSink chan string

func (s lineSink) Write(p []byte) (int, error) {
	s <- string(p)
	return len(p), nil
}

// next returns the next line decoded, failing the test if none comes.
func (s lineSink) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case line := <-s:
		require.True(t, strings.HasSuffix(line, "\n"), "one line per Write: %q", line)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no access log line")
		return nil
	}
}

// In proxy mode each request gets one JSON line with the fields an operator
// reads, and never the token, its query or another header's value.
func TestAccessLogProxy(t *testing.T) { eachEngine(t, testAccessLogProxy) }

func testAccessLogProxy(t *testing.T, engine EngineFunc) {
	emu, uid, tok := newEmulator(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "hello, world")
	}))
	t.Cleanup(up.Close)
	sink := make(lineSink, 16)
	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.Mode, cfg.Upstream = ModeProxy, up.URL
	cfg.SkipPaths = []string{"/public"}
	cfg.AccessLog = sink
	cfg.Engine = engine
	r := runGateway(t, cfg)

	// An upstream that refuses connections: a port that was just freed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg.Upstream = dead
	r2 := runGateway(t, cfg)

	for _, c := range []struct {
		base, target, tok string
		status            int
		outcome, user     string
		bytes             float64
	}{
		{r.data, "/items/1?secret=" + tok, tok, http.StatusOK, "authenticated", uid, 12},
		{r.data, "/broken", tok, http.StatusServiceUnavailable, "authenticated", uid, 0},
		{r.data, "/items/%2F1", "not-a-token." + tok[:20], http.StatusUnauthorized, "invalid", "", -1},
		{r.data, "/items", "", http.StatusUnauthorized, "missing", "", -1},
		{r.data, "/public/x?k=v", "", http.StatusOK, "skipped", "", 12},
		{r2.data, "/items", tok, http.StatusBadGateway, "authenticated", uid, -1},
	} {
		before := time.Now().UTC()
		status, _, body := get(t, c.base+c.target, c.tok, "Cookie", "session="+tok)
		require.Equal(t, c.status, status, c.target)
		line := sink.next(t)
		assert.Equal(t, "GET", line["method"], c.target)
		path, _, _ := strings.Cut(c.target, "?")
		assert.Equal(t, path, line["path"], "as sent, without the query")
		assert.EqualValues(t, c.status, line["status"], c.target)
		assert.Equal(t, c.outcome, line["outcome"], c.target)
		if c.user != "" {
			assert.Equal(t, c.user, line["user_id"], c.target)
		} else {
			assert.NotContains(t, line, "user_id", c.target)
		}
		want := c.bytes
		if want < 0 {
			want = float64(len(body)) // the gateway's own JSON answer
		}
		assert.Equal(t, want, line["bytes"], c.target)
		assert.Equal(t, "127.0.0.1", line["client"])
		at, err := time.Parse(time.RFC3339Nano, line["time"].(string))
		require.NoError(t, err)
		assert.False(t, at.Before(before.Add(-time.Second)), "time is when the request came")
		d, ok := line["duration"].(float64)
		assert.True(t, ok && d >= 0 && d < 10, "duration in seconds: %v", line["duration"])
		assert.NotContains(t, line, "level")
		assert.NotContains(t, line, "msg")
		for k, v := range line {
			s, _ := v.(string)
			assert.NotContains(t, s, tok[:20], "field %s holds (part of) the token", k)
		}
	}
	select {
	case extra := <-sink:
		t.Fatalf("a line for no request: %s", extra)
	default:
	}
}

// Forward-auth writes the same lines on both engines.
func TestAccessLogForwardAuthOnEachEngine(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, uid, tok := newEmulator(t)
		sink := make(lineSink, 16)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Engine = engine
		cfg.AccessLog = sink
		r := runGateway(t, cfg)

		status, _, _ := get(t, r.data+"/auth?token="+tok, tok)
		require.Equal(t, http.StatusOK, status)
		line := sink.next(t)
		assert.Equal(t, "/auth", line["path"])
		assert.EqualValues(t, 200, line["status"])
		assert.Equal(t, "authenticated", line["outcome"])
		assert.Equal(t, uid, line["user_id"])

		status, _, body := get(t, r.data+"/auth", "")
		require.Equal(t, http.StatusUnauthorized, status)
		line = sink.next(t)
		assert.EqualValues(t, 401, line["status"])
		assert.Equal(t, "missing", line["outcome"])
		assert.EqualValues(t, len(body), line["bytes"])
		assert.NotContains(t, line, "user_id")
	})
}

// A response the upstream cuts short is logged as aborted, with the status
// and bytes the gateway had passed on before the cut (still in net/http's
// buffer here, so the client sees the connection close).
func TestAccessLogAbortedResponse(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) { testAccessLogAborted(t, engine) })
}

func testAccessLogAborted(t *testing.T, engine EngineFunc) {
	emu, _, tok := newEmulator(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
		_ = buf.Flush()
		_ = conn.Close()
	}))
	t.Cleanup(up.Close)
	sink := make(lineSink, 4)
	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.Mode, cfg.Upstream, cfg.AccessLog, cfg.Engine = ModeProxy, up.URL, sink, engine
	r := runGateway(t, cfg)

	req, err := http.NewRequest(http.MethodGet, r.data+"/download", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
	}
	require.Error(t, err, "the client sees the cut")
	line := sink.next(t)
	assert.Equal(t, true, line["aborted"])
	assert.EqualValues(t, 200, line["status"])
	assert.EqualValues(t, 5, line["bytes"])
}
