package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// seen is what the upstream received.
type seen struct {
	method, path, rawPath, query, host, body string
	header                                   http.Header
}

// recordingUpstream answers 200 "ok" and sends what it received on a
// channel.
func recordingUpstream(t *testing.T) (*httptest.Server, <-chan seen) {
	t.Helper()
	ch := make(chan seen, 16) // room for requests a failing test did not expect
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- seen{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, string(b), r.Header.Clone()}
		w.Header().Set("X-Upstream", "yes")
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	return up, ch
}

// frontProxy serves proxy mode to target on engine, behind a middleware
// with identity headers on whose credentials are optional: a request
// without a token goes on anonymous, one with any Bearer token as user
// "u1". It returns the proxy's URL and log.
func frontProxy(t testing.TB, engine EngineFunc, target string) (string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	return frontProxyLog(t, engine, target, newLogger(logs)), logs
}

// frontProxyLog is frontProxy logging to log. The user is one value, as a
// cache hit returns it.
func frontProxyLog(t testing.TB, engine EngineFunc, target string, log *slog.Logger) string {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	user := &verifier.User{ID: "u1"}
	v := verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) {
		return user, nil
	})
	m := middleware.New(v,
		middleware.WithIdentityHeaders(middleware.IdentityHeaders{}),
		middleware.WithCredentialsOptional(true),
		middleware.WithClientAddress(),
		middleware.WithLogger(log))
	e, err := engine(DataPath{
		Mode: ModeProxy, Auth: m, Upstream: u, Logger: log,
		Limits: Limits{ReadHeaderTimeout: 10 * time.Second, BodyIdleTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10},
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- e.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
		<-served
	})
	return "http://" + ln.Addr().String()
}

func TestProxyBuildsTheUpstreamURL(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		tests := []struct {
			name, base, target string
			path, rawPath, q   string
		}{
			{"root", "", "/a/b?x=1", "/a/b", "", "x=1"},
			{"base path", "/base", "/a?x=1", "/base/a", "", "x=1"},
			{"base path with slash", "/base/", "/a", "/base/a", "", ""},
			{"base query merged", "/?k=v", "/a?x=1", "/a", "", "k=v&x=1"},
			{"escaped path kept", "/base", "/a%2Fb", "/base/a/b", "/base/a%2Fb", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				up, got := recordingUpstream(t)
				front, _ := frontProxy(t, engine, up.URL+tt.base)
				resp, err := http.Post(front+tt.target, "text/plain", strings.NewReader("the body"))
				require.NoError(t, err)
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				assert.Equal(t, "ok", string(b))
				assert.Equal(t, "yes", resp.Header.Get("X-Upstream"))
				s := <-got
				assert.Equal(t, "POST", s.method)
				assert.Equal(t, tt.path, s.path)
				assert.Equal(t, tt.rawPath, s.rawPath)
				assert.Equal(t, tt.q, s.query)
				assert.Equal(t, "the body", s.body)
				assert.Equal(t, strings.TrimPrefix(up.URL, "http://"), s.host, "Host is the upstream's")
			})
		}
	})
}

func TestProxyRequestHeaders(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		up, got := recordingUpstream(t)
		front, _ := frontProxy(t, engine, up.URL)
		req, err := http.NewRequest(http.MethodGet, front+"/", nil)
		require.NoError(t, err)
		req.Host = "app.example.com"
		for k, v := range map[string]string{
			"Connection":          "keep-alive, X-Listed",
			"X-Listed":            "dropped: named in Connection",
			"Keep-Alive":          "timeout=5",
			"Te":                  "trailers",
			"Proxy-Authorization": "Basic c2VjcmV0",
			"X-Forwarded-For":     "6.6.6.6",
			"X-Forwarded-Host":    "evil.example",
			"X-Forwarded-Proto":   "https",
			"X-Forwarded-Prefix":  "/admin",
			"Forwarded":           "for=6.6.6.6",
			"X-Real-Ip":           "6.6.6.6",
			"X-Kept":              "kept",
			"User-Agent":          "",
		} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		h := (<-got).header
		for _, k := range []string{"Connection", "X-Listed", "Keep-Alive", "Te", "Proxy-Authorization", "X-Forwarded-Prefix", "Forwarded", "X-Real-Ip", "User-Agent"} {
			assert.Empty(t, h.Values(k), "%s reached the upstream", k)
		}
		assert.Equal(t, []string{"127.0.0.1"}, h.Values("X-Forwarded-For"), "the client's address only, never what it claimed")
		assert.Equal(t, []string{"app.example.com"}, h.Values("X-Forwarded-Host"))
		assert.Equal(t, []string{"http"}, h.Values("X-Forwarded-Proto"))
		assert.Equal(t, "kept", h.Get("X-Kept"))
	})
}

func TestProxyResponseHeaders(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h.Set("Connection", "X-Hop")
			h.Set("X-Hop", "hop-by-hop")
			h.Set("Keep-Alive", "timeout=5")
			h.Set("Proxy-Authenticate", "Basic")
			h.Set("X-End", "end-to-end")
			h.Set("Trailer", "X-Checksum")
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, "body")
			h.Set("X-Checksum", "abc")
		}))
		defer up.Close()
		front, _ := frontProxy(t, engine, up.URL)
		resp, err := http.Get(front + "/")
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusTeapot, resp.StatusCode)
		assert.Equal(t, "body", string(b))
		assert.Equal(t, "end-to-end", resp.Header.Get("X-End"))
		for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Authenticate"} {
			assert.Empty(t, resp.Header.Values(k), k)
		}
		assert.Equal(t, "abc", resp.Trailer.Get("X-Checksum"), "trailers pass")
	})
}

func TestProxyConnectionCannotDropProtectedHeaders(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		up, got := recordingUpstream(t)
		front, _ := frontProxy(t, engine, up.URL)
		req, err := http.NewRequest(http.MethodGet, front+"/", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer any") // the middleware sets X-Auth-User-Id: u1
		req.Header.Set("X-Auth-User-Id", "spoofed")
		req.Header.Set("Connection", "x-auth-user-id, X-Other")
		req.Header.Set("X-Other", "dropped")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		h := (<-got).header
		assert.Equal(t, "u1", h.Get("X-Auth-User-Id"))
		assert.Empty(t, h.Get("X-Other"), "other listed headers are still dropped")
	})
}

func TestProxyStreamsEvents(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		release := make(chan struct{})
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			<-release // the client must get the first event before the stream ends
			_, _ = io.WriteString(w, "data: second\n\n")
		}))
		defer up.Close()
		defer close(release)
		front, _ := frontProxy(t, engine, up.URL)
		resp, err := http.Get(front + "/events")
		require.NoError(t, err)
		defer resp.Body.Close()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "data: first\n", line)
	})
}

func TestProxyUpstreamDown(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		front, logs := frontProxy(t, engine, "http://"+addr)
		resp, err := http.Get(front + "/x")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.JSONEq(t, `{"error":"bad_gateway","error_description":"The upstream server did not answer."}`, string(b))
		assert.Len(t, logs.lines("level=WARN", "upstream unreachable", "path=/x"), 1)
	})
}

// Known gap of the fasthttp engine: fasthttp gives a handler no signal
// that its client went away (RequestCtx.Done ends only on shutdown), so the
// upstream call goes on until the upstream answers; TestFastHTTPClientGone
// says so. This test is the net/http engine's.
func TestProxyClientGoneIsNotAnError(t *testing.T) {
	arrived := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // until the proxy gives up on it
	}))
	defer up.Close()
	u, err := url.Parse(up.URL)
	require.NoError(t, err)
	logs := &logBuffer{}
	p := newProxy(u, nil, newLogger(logs))
	defer p.transport.CloseIdleConnections()
	served := make(chan struct{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		p.ServeHTTP(w, r)
	}))
	defer front.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/slow", nil)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	<-served
	assert.Empty(t, logs.lines("level=WARN"), "a client that leaves is no upstream failure")
	assert.Len(t, logs.lines("level=DEBUG", "client went away"), 1)
}

func TestProxyAbortsACutShortResponse(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		for _, tt := range []struct {
			name          string
			contentLength string
		}{
			{"declared length", "100"},
			{"chunked", ""}, // without the abort, the proxy would end the chunks cleanly
		} {
			t.Run(tt.name, func(t *testing.T) {
				up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					if tt.contentLength != "" {
						w.Header().Set("Content-Length", tt.contentLength)
					}
					_, _ = io.WriteString(w, "only ten b")
					w.(http.Flusher).Flush()
					if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
						conn.Close()
					}
				}))
				defer up.Close()
				front, logs := frontProxy(t, engine, up.URL)
				// The client gets an error, before the header (if still
				// buffered when the proxy aborts) or within the body, never a
				// short body that reads as complete.
				resp, err := http.Get(front + "/")
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				assert.Error(t, err, "the client must not take a cut-short body for a whole one")
				assert.Len(t, logs.lines("level=WARN", "cut short"), 1)
			})
		}
	})
}

func TestProxyUpgradesWebSockets(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		got := make(chan http.Header, 1)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got <- r.Header.Clone()
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "websocket")
			w.WriteHeader(http.StatusSwitchingProtocols)
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			line, _ := brw.ReadString('\n')
			_, _ = brw.WriteString("echo: " + line)
			_ = brw.Flush()
		}))
		defer up.Close()
		front, _ := frontProxy(t, engine, up.URL)

		conn, err := net.Dial("tcp", strings.TrimPrefix(front, "http://"))
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"+
			"X-Forwarded-For: 6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\n\r\n")
		require.NoError(t, err)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		_, err = io.WriteString(conn, "hi\n")
		require.NoError(t, err)
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "echo: hi\n", line)

		h := <-got
		assert.Equal(t, []string{"127.0.0.1"}, h.Values("X-Forwarded-For"), "same rules as the plain path")
		assert.Empty(t, h.Values("X-Real-Ip"))
		assert.Equal(t, "app.example.com", h.Get("X-Forwarded-Host"))
	})
}

// An Upgrade other than WebSocket is not honoured: the request reaches the
// upstream as plain HTTP/1.1, without Upgrade, the Connection upgrade or
// what Connection names, and the client gets the upstream's plain answer.
func TestProxyIgnoresOtherUpgrades(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		tests := []struct{ name, upgrade string }{
			{"h2c", "h2c"},
			{"h2c upper case", "H2C"},
			{"a list naming websocket among others", "h2c, websocket"},
			{"unknown protocol", "echo"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				up, got := recordingUpstream(t)
				front, _ := frontProxy(t, engine, up.URL)
				conn, err := net.Dial("tcp", strings.TrimPrefix(front, "http://"))
				require.NoError(t, err)
				defer conn.Close()
				_, err = io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
					"Upgrade: "+tt.upgrade+"\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n")
				require.NoError(t, err)
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				require.NoError(t, err)
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, "ok", string(b))
				h := (<-got).header
				for _, k := range []string{"Upgrade", "Connection", "Http2-Settings"} {
					assert.Empty(t, h.Values(k), "%s reached the upstream", k)
				}
			})
		}
	})
}

// isUpgrade singles out WebSocket, in any case, from every other Upgrade.
func TestIsUpgrade(t *testing.T) {
	tests := []struct {
		name    string
		conn    []string
		upgrade []string
		want    bool
	}{
		{"websocket", []string{"Upgrade"}, []string{"websocket"}, true},
		{"websocket, any case", []string{"keep-alive, UPGRADE"}, []string{" WebSocket "}, true},
		{"h2c", []string{"Upgrade, HTTP2-Settings"}, []string{"h2c"}, false},
		{"two Upgrade headers", []string{"Upgrade"}, []string{"websocket", "h2c"}, false},
		{"a list", []string{"Upgrade"}, []string{"websocket, h2c"}, false},
		{"no Connection upgrade", []string{"keep-alive"}, []string{"websocket"}, false},
		{"no Upgrade", []string{"Upgrade"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Connection": tt.conn}
			if tt.upgrade != nil {
				h["Upgrade"] = tt.upgrade
			}
			assert.Equal(t, tt.want, isUpgrade(h))
		})
	}
}

// A chunked request's trailers never reach the upstream: they arrive after
// the middleware stripped the identity headers, so an X-Auth-User-Id among
// them would otherwise pass as the gateway's.
func TestProxyDropsRequestTrailers(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		got := make(chan http.Header, 1)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body) // trailers are read with the body
			assert.Equal(t, "the body", string(b))
			got <- r.Trailer.Clone()
			_, _ = io.WriteString(w, "ok")
		}))
		defer up.Close()
		front, _ := frontProxy(t, engine, up.URL)

		conn, err := net.Dial("tcp", strings.TrimPrefix(front, "http://"))
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: app.example.com\r\nTransfer-Encoding: chunked\r\n"+
			"Trailer: X-Auth-User-Id, X-Checksum\r\n\r\n"+
			"8\r\nthe body\r\n0\r\nX-Auth-User-Id: evil\r\nX-Checksum: abc\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		tr := <-got
		assert.Empty(t, tr.Values("X-Auth-User-Id"), "a client's trailer reached the upstream as an identity header")
		assert.Empty(t, tr, "request trailers are dropped")
	})
}

// A GET's body goes upstream, repeated Set-Cookie answers of one cookie
// name (different paths) come back as they are, and a HEAD answer keeps
// the upstream's Content-Length.
func TestProxyBodiesAndRepeatedHeaders(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Length", strconv.Itoa(len("got:")+len(b)))
			w.Header().Add("Set-Cookie", "a=1; Path=/x")
			w.Header().Add("Set-Cookie", "a=2; Path=/y")
			if r.Method != http.MethodHead {
				_, _ = io.WriteString(w, "got:"+string(b))
			}
		}))
		defer up.Close()
		front, _ := frontProxy(t, engine, up.URL)
		req, err := http.NewRequest(http.MethodGet, front+"/", strings.NewReader("abc"))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "got:abc", string(b))
		assert.Equal(t, []string{"a=1; Path=/x", "a=2; Path=/y"}, resp.Header.Values("Set-Cookie"))

		resp, err = http.Head(front + "/")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.EqualValues(t, len("got:"), resp.ContentLength)
	})
}
