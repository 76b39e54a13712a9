package gateway

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// FuzzFastForward checks the fasthttp forward-auth adapter (fastForward)
// on whatever header fasthttp's parser accepts: a target is refused (400)
// exactly when net/http's url.ParseRequestURI refuses it; DecideForwardAuth
// over the adapter gives the answer it gives over a full *http.Request copy
// of the same request (the net/http handler's source), so the two engines
// read the forwarded method and URI, their ambiguity, the skip and preflight
// rules and the token alike; and the token the verifier is handed does not
// change when fasthttp's buffers are overwritten in place, so it never
// aliases them.
func FuzzFastForward(f *testing.F) {
	for _, seed := range []string{
		"GET /auth HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\nX-Original-Uri: /api?page=2\r\nX-Original-Method: GET\r\n\r\n",
		"GET /auth HTTP/1.1\r\nHost: x\r\nX-Forwarded-Uri: /healthz\r\nX-Forwarded-Method: GET\r\n\r\n",
		"GET /auth HTTP/1.1\r\nHost: x\r\nX-Forwarded-Uri: /healthz\r\nX-Forwarded-Uri: /admin\r\n\r\n",
		"GET /auth HTTP/1.1\r\nHost: x\r\nX-Forwarded-Uri: /healthz\r\nX-Original-Uri: /admin\r\n\r\n",
		"GET /auth HTTP/1.1\r\nHost: x\r\nX-Forwarded-Uri: /api?access_token=good\r\nX-Original-Method: POST\r\nX-Forwarded-Method: POST\r\n\r\n",
		"GET /auth HTTP/1.1\r\nHost: x\r\nX-Forwarded-Uri: /a\r\nX-Forwarded-Method: OPTIONS\r\nAccess-Control-Request-Method: PUT\r\n\r\n",
		"GET /healthz?access_token=bad HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a%zz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n\r\n",
		"GET http://evil/healthz?access_token=down HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /auth HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nAuthorization: Bearer bad\r\nAuthorization: Bearer good\r\nX-Auth-User-Id: spoofed\r\n\r\n",
		"GET /auth HTTP/1.1\r\nHost: x\r\nx_forwarded_uri: /healthz\r\nX-Forwarded-Host: h\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	var mu sync.Mutex // guards seen
	var seen []string
	v := verifier.VerifierFunc(func(_ context.Context, tok string) (*verifier.User, error) {
		mu.Lock()
		seen = append(seen, tok)
		mu.Unlock()
		switch {
		case strings.HasPrefix(tok, "bad"):
			return nil, verifier.ErrInvalidToken
		case strings.HasPrefix(tok, "down"):
			return nil, verifier.ErrUnavailable
		}
		return &verifier.User{ID: "u1", CustomUserData: []byte(`{"plan":"pro"}`)}, nil
	})
	m := middleware.New(v,
		middleware.WithIdentityHeaders(middleware.IdentityHeaders{KeepCredential: true}),
		middleware.WithLookup(middleware.LookupBearer(), middleware.LookupQuery("access_token")),
		middleware.WithSkip(httpSkip(skipFunc([]string{"/healthz"}))),
		middleware.WithPreflight(true),
		middleware.WithTrustForwardedRequest(true),
		middleware.WithClientAddress(),
		middleware.WithLogger(slog.New(slog.DiscardHandler)))
	peer := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4711}

	f.Fuzz(func(t *testing.T, raw []byte) {
		var req fasthttp.Request
		if err := req.Header.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return // fasthttp refuses it: the server answers 400
		}
		var fc fasthttp.RequestCtx
		fc.Init(&req, peer, nil)
		target := fc.Request.Header.RequestURI()
		_, perr := url.ParseRequestURI(string(target))
		if got := validTarget(target); got != (perr == nil) {
			t.Fatalf("validTarget(%q) = %v, url.ParseRequestURI: %v", target, got, perr)
		}
		if perr != nil {
			return
		}

		r, err := fastRequest(&fc)
		if err != nil {
			t.Fatalf("fastRequest: %v", err)
		}
		want := m.DecideForwardAuth(context.Background(), forwardOracle{r})
		mu.Lock()
		seen = seen[:0]
		mu.Unlock()

		var fw fastForward
		fw.reset(&fc, peerAddr(peer))
		got := fw.decide(m)
		if got.Allowed() != want.Allowed() || got.Decision.Kind != want.Decision.Kind ||
			!slices.Equal(got.Identity, want.Identity) || got.Refusal.Status != want.Refusal.Status ||
			got.Refusal.Challenge != want.Refusal.Challenge || !bytes.Equal(got.Refusal.Body, want.Refusal.Body) {
			t.Fatalf("%q:\nfasthttp %+v\nnet/http %+v", raw, got, want)
		}
		mu.Lock()
		toks := slices.Clone(seen)
		copies := make([]string, len(toks))
		for i, s := range toks {
			copies[i] = strings.Clone(s)
		}
		mu.Unlock()

		// Overwrite fasthttp's buffers in place: parse the same request
		// again with every letter and digit of each header value a 'Z'
		// (names kept, so each value lands where it was). The tokens must
		// not change.
		fc.Request.Reset()
		line, rest, _ := bytes.Cut(raw, []byte("\n"))
		z := append(append([]byte(nil), line...), '\n')
		for _, l := range bytes.SplitAfter(rest, []byte("\n")) {
			name, value, ok := bytes.Cut(l, []byte(":"))
			if !ok {
				z = append(z, l...)
				continue
			}
			z = append(append(append(z, name...), ':'), bytes.Map(func(r rune) rune {
				if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Y' || '0' <= r && r <= '9' {
					return 'Z'
				}
				return r
			}, value)...)
		}
		_ = fc.Request.Header.Read(bufio.NewReader(bytes.NewReader(z)))
		for i := range toks {
			if toks[i] != copies[i] {
				t.Fatalf("a token aliased the request: %q became %q", copies[i], toks[i])
			}
		}
	})
}

// decide runs DecideForwardAuth over f and clears f, as serveForwardAuth does.
func (f *fastForward) decide(m *middleware.Middleware) middleware.ForwardAnswer {
	defer f.clear()
	return m.DecideForwardAuth(context.Background(), f)
}

// forwardOracle is the middleware's net/http ForwardRequest over an
// *http.Request, rebuilt here (it is unexported there) as the reference the
// fasthttp adapter is compared with.
type forwardOracle struct{ r *http.Request }

func (s forwardOracle) Header(name string) []string { return s.r.Header[name] }
func (s forwardOracle) RawQuery() string            { return s.r.URL.RawQuery }
func (s forwardOracle) Method() string              { return s.r.Method }
func (s forwardOracle) Path() string                { return s.r.URL.Path }
func (s forwardOracle) RequestURI() string          { return s.r.URL.RequestURI() }
func (s forwardOracle) HTTPRequest() *http.Request  { return s.r }

func (s forwardOracle) Peer() netip.Addr {
	ap, err := netip.ParseAddrPort(s.r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}
