package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenguard/tokenguard/middleware"
)

// rawConn dials addr (host:port of an http:// URL) on loopback with a bound
// on the whole exchange, so a gateway that never answers fails the test
// instead of hanging it.
func rawConn(t *testing.T, base string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	return c, bufio.NewReader(c)
}

func readResponse(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "no answer in time")
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp
}

// requireClosed asserts that the gateway closed the connection after its
// answer.
func requireClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	_, err := br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the connection stays open")
}

// A refusal of a request whose body has not arrived is answered at once,
// with Connection: close; net/http would otherwise read the body first, one
// byte at a time if the client sends it so.
func TestRefusalDoesNotWaitForTheBody(t *testing.T) {
	emu, _, _ := newEmulator(t)
	up, _ := recordingUpstream(t)
	for _, tc := range []struct {
		mode   Mode
		engine EngineFunc
		name   string
	}{
		{ModeProxy, NetHTTP, "nethttp"},
		{ModeForwardAuth, NetHTTP, "nethttp"},
		{ModeProxy, FastHTTP, "fasthttp"},
		{ModeForwardAuth, FastHTTP, "fasthttp"},
	} {
		mode := tc.mode
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Mode, cfg.Engine = mode, tc.engine
		if mode == ModeProxy {
			cfg.Upstream = up.URL
		}
		r := runGateway(t, cfg)
		for name, head := range map[string]string{
			"content-length": "Content-Length: 200000\r\n",
			"chunked":        "Transfer-Encoding: chunked\r\n",
		} {
			t.Run(tc.name+"/"+mode.String()+"/"+name, func(t *testing.T) {
				c, br := rawConn(t, r.data)
				_, err := io.WriteString(c, "POST /api HTTP/1.1\r\nHost: x\r\n"+head+"\r\nx")
				require.NoError(t, err)
				resp := readResponse(t, br)
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				assert.True(t, resp.Close, "Connection: close when body bytes are owed")
				requireClosed(t, br)
			})
		}
		t.Run(tc.name+"/"+mode.String()+"/bodyless keeps the connection", func(t *testing.T) {
			c, br := rawConn(t, r.data)
			for range 2 {
				_, err := io.WriteString(c, "GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
				require.NoError(t, err)
				resp := readResponse(t, br)
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				assert.False(t, resp.Close)
			}
		})
	}
}

// The admin listener's /revoke refuses an unsigned or oversized call at
// once, without waiting for its body, and closes the connection when body
// bytes are owed; a signed call whose body stalls is cut by the body
// deadline.
func TestRevokeRefusalDoesNotWaitForTheBody(t *testing.T) {
	emu, _, _ := newEmulator(t)
	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.RevokeSecrets = []string{testRevokeSecret}
	cfg.BodyIdleTimeout = 200 * time.Millisecond
	r := runGateway(t, cfg)
	sig := middleware.SignWebhook([]byte(testRevokeSecret), []byte(`{"user_id":"u"}`), time.Now())
	for name, tt := range map[string]struct {
		head   string
		status int
	}{
		"no signature":          {"Content-Length: 200000\r\n", http.StatusUnauthorized},
		"no signature, chunked": {"Transfer-Encoding: chunked\r\n", http.StatusUnauthorized},
		"a bad signature":       {middleware.SignatureHeader + ": t=1\r\nContent-Length: 20\r\n", http.StatusUnauthorized},
		"too large":             {middleware.SignatureHeader + ": " + sig + "\r\nContent-Length: 200000\r\n", http.StatusBadRequest},
		"signed, stalled":       {middleware.SignatureHeader + ": " + sig + "\r\nContent-Length: 20\r\n", http.StatusBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			c, br := rawConn(t, r.admin)
			_, err := io.WriteString(c, "POST /revoke HTTP/1.1\r\nHost: x\r\n"+tt.head+"\r\n{")
			require.NoError(t, err)
			resp := readResponse(t, br)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.True(t, resp.Close, "Connection: close when body bytes are owed")
			requireClosed(t, br)
		})
	}
}

// Every listener caps the header: 431 over MaxHeaderBytes.
func TestHeaderTooLarge(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, _ := newEmulator(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Engine = engine
		cfg.MaxHeaderBytes = 4 << 10
		r := runGateway(t, cfg)
		for _, base := range []string{r.data, r.admin} {
			c, br := rawConn(t, base)
			_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 16<<10)+"\r\n\r\n")
			require.NoError(t, err)
			assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, readResponse(t, br).StatusCode, base)
		}
	})
}

// A header that never finishes is cut after ReadHeaderTimeout, on the data
// and the admin listener.
func TestHeaderTimeout(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, _ := newEmulator(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Engine = engine
		cfg.ReadHeaderTimeout = 100 * time.Millisecond
		r := runGateway(t, cfg)
		for _, base := range []string{r.data, r.admin} {
			c, br := rawConn(t, base)
			_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
			require.NoError(t, err)
			_, err = io.ReadAll(br)
			require.NoError(t, err, "%s: the connection is closed before the test's own deadline", base)
		}
	})
}

// An authenticated upload that stalls is cut after BodyIdleTimeout and
// answered 400, logged as the client's fault; one that keeps moving goes
// through however long it takes in all.
func TestAuthenticatedUploadIdleDeadline(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(w, r.Body) // echoes what arrived
		}))
		t.Cleanup(up.Close)
		logs := &logBuffer{}
		cfg := emulatorConfig(emu, newLogger(logs))
		cfg.Mode, cfg.Upstream = ModeProxy, up.URL
		cfg.Engine = engine
		cfg.BodyIdleTimeout = time.Second
		r := runGateway(t, cfg)
		head := "POST /up HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 4\r\n\r\n"

		t.Run("stalled", func(t *testing.T) {
			c, br := rawConn(t, r.data)
			_, err := io.WriteString(c, head+"a")
			require.NoError(t, err)
			resp := readResponse(t, br)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			requireClosed(t, br)
			assert.NotEmpty(t, logs.lines("client request body unreadable"))
			assert.Empty(t, logs.lines("upstream unreachable"))
		})
		t.Run("moving", func(t *testing.T) {
			c, br := rawConn(t, r.data)
			_, err := io.WriteString(c, head)
			require.NoError(t, err)
			// Each byte comes within the idle deadline; together they take
			// longer than it. The upstream's read of each byte paces the next.
			for _, b := range "abcd" {
				_, err := io.WriteString(c, string(b))
				require.NoError(t, err)
				time.Sleep(400 * time.Millisecond) // pacing the client, not synchronising
			}
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "abcd", string(b))
		})
	})
}

// A malformed chunked body from an authenticated client is a 400 and the
// client's fault in the log, not a 502 "upstream unreachable".
func TestMalformedChunkedBody(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		emu, _, tok := newEmulator(t)
		up, _ := recordingUpstream(t)
		logs := &logBuffer{}
		cfg := emulatorConfig(emu, newLogger(logs))
		cfg.Mode, cfg.Upstream = ModeProxy, up.URL
		cfg.Engine = engine
		r := runGateway(t, cfg)
		c, br := rawConn(t, r.data)
		_, err := io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+
			"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
		require.NoError(t, err)
		resp := readResponse(t, br)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.NotEmpty(t, logs.lines("client request body unreadable"))
		assert.Empty(t, logs.lines("upstream unreachable"))
	})
}
