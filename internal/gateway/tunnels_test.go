package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// echoTunnelUpstream answers every upgrade with 101 and then echoes lines
// until its connection ends; ended receives once per connection that ended.
func echoTunnelUpstream(t *testing.T) (url string, ended <-chan struct{}) {
	t.Helper()
	done := make(chan struct{}, 16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer func() { conn.Close(); done <- struct{}{} }()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := brw.WriteString("echo: " + line); err != nil || brw.Flush() != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	return up.URL, done
}

// wsClient is the client end of one tunnel, over raw TCP.
type wsClient struct {
	conn net.Conn
	br   *bufio.Reader
}

// openTunnel upgrades a connection to data with token and checks the 101.
func openTunnel(t *testing.T, data, token string) *wsClient {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(data, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Authorization: Bearer "+token+"\r\n\r\n")
	require.NoError(t, err)
	c := &wsClient{conn: conn, br: bufio.NewReader(conn)}
	resp, err := http.ReadResponse(c.br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	c.echoes(t, "hello")
	return c
}

// echoes checks that a line still goes through the tunnel and back.
func (c *wsClient) echoes(t *testing.T, s string) {
	t.Helper()
	require.NoError(t, c.conn.SetDeadline(time.Now().Add(10*time.Second))) // a deadlock guard
	_, err := io.WriteString(c.conn, s+"\n")
	require.NoError(t, err)
	line, err := c.br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "echo: "+s+"\n", line)
}

// closedByGateway checks that the gateway ends the tunnel: the client reads
// EOF (before the deadlock guard), and so does the upstream.
func (c *wsClient) closedByGateway(t *testing.T, upstreamEnded <-chan struct{}) {
	t.Helper()
	require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := c.br.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF, "the gateway closed the client's connection")
	select {
	case <-upstreamEnded:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream connection was not closed")
	}
}

// proxyConfig is a proxy-mode Config against emu and upstream, with the
// revoke webhook on.
func proxyConfig(t *testing.T, upstream string) (Config, func(string) (id, token string)) {
	t.Helper()
	emu, _, _ := newEmulator(t)
	cfg := emulatorConfig(emu, newLogger(io.Discard))
	cfg.Mode, cfg.Upstream = ModeProxy, upstream
	cfg.RevokeSecrets = []string{testRevokeSecret}
	user := func(email string) (string, string) {
		id := emu.AddUser(email, "pw")
		tok, err := emu.NewAccessToken(id)
		require.NoError(t, err)
		return id, tok
	}
	return cfg, user
}

// postRevoke sends a signed revocation of userID to a gateway's admin URL.
func postRevoke(t *testing.T, admin, userID string) {
	t.Helper()
	body := `{"user_id":"` + userID + `"}`
	req, err := http.NewRequest(http.MethodPost, admin+"/revoke", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(middleware.SignatureHeader, middleware.SignWebhook([]byte(testRevokeSecret), []byte(body), time.Now()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

// A revocation through the webhook closes the revoked user's tunnel, both
// ends, and leaves another user's open; the closure is counted.
func TestTunnelClosedOnRevoke(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		up, ended := echoTunnelUpstream(t)
		cfg, user := proxyConfig(t, up)
		cfg.Engine = engine
		r := runGateway(t, cfg)
		<-r.g.Ready()
		alice, aliceTok := user("alice@example.com")
		_, bobTok := user("bob@example.com")
		a, b := openTunnel(t, r.data, aliceTok), openTunnel(t, r.data, bobTok)
		assert.Contains(t, metrics(t, r), "tokenguard_tunnels_open 2")

		postRevoke(t, r.admin, alice)
		a.closedByGateway(t, ended)
		b.echoes(t, "still here")
		m := metrics(t, r)
		assert.Contains(t, m, `tokenguard_tunnels_closed_total{reason="revoked"} 1`)
		assert.Contains(t, m, `tokenguard_tunnels_closed_total{reason="expired"} 0`)
		assert.Contains(t, m, "tokenguard_tunnels_open 1")
	})
}

// When the token's exp passes, its tunnel is closed: the timer is armed for
// exp - now (the gateway's clock) and, fired, closes the tunnel.
func TestTunnelClosedOnExpiry(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		up, ended := echoTunnelUpstream(t)
		cfg, user := proxyConfig(t, up)
		cfg.Engine = engine
		now := cfg.Now()
		cfg.Now = func() time.Time { return now } // the gateway's clock stands still
		g, err := New(cfg)
		require.NoError(t, err)
		type armed struct {
			d    time.Duration
			fire func()
		}
		timers := make(chan armed, 1)
		var stopped sync.WaitGroup
		g.chain.tunnels.afterFunc = func(d time.Duration, f func()) func() bool {
			timers <- armed{d, f}
			stopped.Add(1)
			return func() bool { stopped.Done(); return true }
		}
		r := runBuilt(t, g)
		<-r.g.Ready()
		_, tok := user("alice@example.com")
		u, err := g.chain.cache.Verify(context.Background(), tok)
		require.NoError(t, err)
		c := openTunnel(t, r.data, tok)

		tm := <-timers
		assert.Equal(t, u.ExpiresAt.Sub(now), tm.d, "armed for the token's exp")
		tm.fire() // exp has passed
		c.closedByGateway(t, ended)
		stopped.Wait() // the tunnel's end stopped its timer
		assert.Contains(t, metrics(t, r), `tokenguard_tunnels_closed_total{reason="expired"} 1`)
	})
}

// With revocations shared through Redis, a revoke sent to replica A closes
// the user's tunnel on replica B: the feed applies it to B's cache and
// tunnels alike.
func TestTunnelClosedOnRevokeFromAnotherReplica(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		if testing.Short() {
			t.Skip("runs redis-server; skipped with -short")
		}
		rdb := redistest.Start(t)
		up, ended := echoTunnelUpstream(t)
		cfg, user := proxyConfig(t, up)
		cfg.Engine = engine
		cfg.RedisURL = rdb.URL()
		a, b := runGateway(t, cfg), runGateway(t, cfg)
		<-a.g.Ready()
		<-b.g.Ready()
		alice, tok := user("alice@example.com")
		c := openTunnel(t, b.data, tok)

		postRevoke(t, a.admin, alice)
		c.closedByGateway(t, ended)
		assert.Contains(t, metrics(t, b), `tokenguard_tunnels_closed_total{reason="revoked"} 1`)
	})
}

// Tunnels.Revoke closes only the tunnels the revocation covers: the user's,
// of tokens issued at or before its time; a tunnel that ended on its own is
// neither closed nor counted.
func TestTunnelsRevokeCoversIssueTime(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ts := newTunnels(func() time.Time { return t0 }, nil)
	var closed []string
	open := func(name, user string, iat time.Time) func() {
		return ts.Open(&verifier.User{ID: user, IssuedAt: iat}, func() { closed = append(closed, name) })
	}
	open("old", "alice", t0.Add(-time.Minute))
	open("new", "alice", t0.Add(time.Minute))
	open("bob", "bob", t0.Add(-time.Minute))
	release := open("gone", "alice", t0.Add(-time.Minute))
	release()
	require.NoError(t, ts.Revoke(context.Background(), "alice", t0))
	assert.Equal(t, []string{"old"}, closed)
	require.NoError(t, ts.Revoke(context.Background(), "alice", t0))
	assert.Equal(t, []string{"old"}, closed, "closed once")
}

// metrics scrapes a running gateway's /metrics.
func metrics(t *testing.T, r *running) string {
	t.Helper()
	status, _, body := get(t, r.admin+"/metrics", "")
	require.Equal(t, http.StatusOK, status)
	return body
}

// An upgrade whose Connection header also says close is tunnelled like any
// other, and when the client hangs up the upstream's connection ends too
// (none is left open behind a tunnel that never started).
func TestTunnelWithConnectionClose(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		up, ended := echoTunnelUpstream(t)
		cfg, user := proxyConfig(t, up)
		cfg.Engine = engine
		r := runGateway(t, cfg)
		_, tok := user("alice@example.com")
		conn, err := net.Dial("tcp", strings.TrimPrefix(r.data, "http://"))
		require.NoError(t, err)
		_, err = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n"+
			"Authorization: Bearer "+tok+"\r\n\r\n")
		require.NoError(t, err)
		c := &wsClient{conn: conn, br: bufio.NewReader(conn)}
		resp, err := http.ReadResponse(c.br, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		c.echoes(t, "hello")
		require.NoError(t, conn.Close())
		select {
		case <-ended:
		case <-time.After(10 * time.Second): // a deadlock guard
			t.Fatal("the upstream connection was left open")
		}
	})
}
