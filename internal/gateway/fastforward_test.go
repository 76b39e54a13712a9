package gateway

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// TestHitPathAllocationsFastForwardAuth pins what an allowed nginx auth
// subrequest costs the fasthttp engine's forward-auth handler: the forward
// source DecideForwardAuth hands Authenticate (1), the verifier's client
// address context (1), the empty user data header appended to the identity
// (1), and the copies of the Authorization value, the X-Original-Uri value
// and the X-Forwarded-For value (3). Copying the request into an
// *http.Request, as this engine did, cost 40 per hit (BenchmarkForwardAuthHit).
func TestHitPathAllocationsFastForwardAuth(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	log := slog.New(slog.DiscardHandler)
	user := &verifier.User{ID: "u1"}
	v := verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) { return user, nil })
	m := middleware.New(v,
		middleware.WithIdentityHeaders(middleware.IdentityHeaders{KeepCredential: true}),
		middleware.WithClientAddress(),
		middleware.WithLogger(log))
	e, err := FastHTTP(DataPath{Mode: ModeForwardAuth, Auth: m, Logger: log})
	require.NoError(t, err)
	fe := e.(*fastEngine)

	var req fasthttp.Request
	require.NoError(t, req.Header.Read(bufio.NewReader(strings.NewReader(
		"GET /auth HTTP/1.1\r\nHost: auth\r\nAuthorization: Bearer a-token-of-typical-length-0123456789abcdef\r\n"+
			"X-Original-Uri: /api/items?page=2\r\nX-Original-Method: GET\r\nX-Forwarded-For: 203.0.113.7\r\n"+
			"X-Auth-User-Id: spoofed\r\n\r\n"))))
	var fc fasthttp.RequestCtx
	fc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4711}, nil)
	serve := func() {
		fc.Response.Reset()
		fe.handler(&fc)
	}
	serve()
	require.Equal(t, fasthttp.StatusOK, fc.Response.StatusCode())
	require.Equal(t, "u1", string(fc.Response.Header.Peek("X-Auth-User-Id")))
	if got := testing.AllocsPerRun(200, serve); got != 6 {
		t.Errorf("%v allocs per forward-auth hit, want 6", got)
	}
}
