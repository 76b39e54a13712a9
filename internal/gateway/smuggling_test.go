package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smuggled is the request a framing disagreement would let through: it
// carries no token, so it may only ever reach the upstream inside another
// request's body, never as a request of its own.
const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

// smugglingCases are requests, sent over raw TCP with a valid token ({auth}),
// whose framing or header names parsers read differently. Each is followed
// by smuggled and the end of the client's writes.
var smugglingCases = []struct{ name, raw string }{
	{"CL then TE", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{"TE then CL", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n"},
	{"duplicate Content-Length", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 0\r\nContent-Length: 35\r\n\r\n"},
	{"Content-Length list", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: 0, 35\r\n\r\n"},
	{"signed Content-Length", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Length: +35\r\n\r\n"},
	{"bad chunk size", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
	{"chunk size overflow", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\nabc\r\n0\r\n\r\n"},
	{"chunk without CRLF", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n"},
	{"TE not chunked", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: gzip\r\nContent-Length: 35\r\n\r\n"},
	{"TE list", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 35\r\n\r\n"},
	{"TE obs-fold", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
	{"space before colon", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
	{"HTTP/1.0 with TE", "POST /a HTTP/1.0\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
	{"identity obs-fold", "GET /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nX-Auth-User-Id: a\r\n spoofed\r\n\r\n"},
	{"identity lower case", "GET /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nx-auth-user-id: spoofed\r\n\r\n"},
	{"identity upper case", "GET /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nX-AUTH-USER-ID: spoofed\r\n\r\n"},
	{"identity with _", "GET /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nX_Auth_User_Id: spoofed\r\n\r\n"},
	{"identity with .", "GET /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nX.Auth.User.Id: spoofed\r\n\r\n"},
	{"identity with a tab before the colon", "GET /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nX-Auth-User-Id\t: spoofed\r\n\r\n"},
	{"identity with an odd byte", "GET /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nX-Auth-User-Id\x7f: spoofed\r\n\r\n"},
	{"identity after a bare LF", "GET /a HTTP/1.1\nHost: x\n{auth}\nX-Auth-User-Id: spoofed\n\n"},
	{"identity in a trailer", "POST /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nTransfer-Encoding: chunked\r\nTrailer: X-Auth-User-Id\r\n\r\n1\r\na\r\n0\r\nX-Auth-User-Id: spoofed\r\n\r\n"},
	{"identity named in Connection", "GET /a HTTP/1.1\r\nHost: x\r\n{auth}\r\nConnection: X-Auth-User-Id\r\nX-Auth-User-Id: spoofed\r\n\r\n"},
}

// On both engines, in proxy and forward-auth mode, none of smugglingCases
// gets a request to the upstream that the gateway did not authenticate,
// and no client-chosen identity header passes (to the upstream, or back in
// a forward-auth answer).
func TestSmugglingAndParsing(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		for _, mode := range []Mode{ModeProxy, ModeForwardAuth} {
			t.Run(mode.String(), func(t *testing.T) {
				emu, _, tok := newEmulator(t)
				up, got := recordingUpstream(t)
				cfg := emulatorConfig(emu, newLogger(io.Discard))
				cfg.Mode, cfg.Engine = mode, engine
				if mode == ModeProxy {
					cfg.Upstream = up.URL
				}
				r := runGateway(t, cfg)
				for _, tc := range smugglingCases {
					t.Run(tc.name, func(t *testing.T) {
						raw := strings.ReplaceAll(tc.raw, "{auth}", "Authorization: Bearer "+tok)
						answers := exchange(t, r.data, raw+smuggled)
						ok := 0
						for _, a := range answers {
							if a.StatusCode == http.StatusOK {
								ok++
							}
							for k, vv := range a.Header {
								for _, v := range vv {
									assert.NotContains(t, v, "spoofed", "answer header %s", k)
								}
							}
						}
						assert.LessOrEqual(t, ok, 1, "only the authenticated request may pass")
						for {
							select {
							case s := <-got:
								assert.NotEqual(t, "/smuggled", s.path, "a request the gateway did not authenticate reached the upstream")
								for k, vv := range s.header {
									for _, v := range vv {
										assert.NotContains(t, v, "spoofed", "upstream header %s", k)
									}
								}
								continue
							default:
							}
							break
						}
					})
				}
			})
		}
	})
}

// exchange writes raw to base over one connection, ends its writes, and
// returns every answer read until the gateway closes it.
func exchange(t *testing.T, base, raw string) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second))) // a deadlock guard
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	br := bufio.NewReader(c)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			if ok := asNetError(err, &ne); ok && ne.Timeout() {
				t.Fatal("the gateway neither answered nor closed the connection")
			}
			return out
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp)
	}
}

func asNetError(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}
