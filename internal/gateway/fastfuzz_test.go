package gateway

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// FuzzFastRequest checks the fasthttp request adapter on whatever header
// fasthttp's parser accepts: the TokenSource never reads a client's
// identity header and owns the Authorization values it hands out; the
// skip decision on the raw path is the net/http engine's on the parsed
// URL; and the upstream request carries no identity header but the
// middleware's, no hop-by-hop or forwarding header of the client's, the
// proxy's X-Forwarded-For, and the upstream's host.
func FuzzFastRequest(f *testing.F) {
	for _, seed := range []string{
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /healthz/../admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n",
		"GET /health%7a?access_token=t HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://evil/healthz?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nX_Auth_User_Id: spoofed\r\nx-auth-user-id: spoofed\r\nX.AUTH.USER.ID: spoofed\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Auth-User-Id, X-Listed\r\nX-Listed: v\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\nTe: trailers\r\nProxy-Authorization: x\r\n\r\n",
		"GET /healthz;x HTTP/1.1\r\nHost: x\r\nForwarded: for=1.2.3.4\r\nX-Original-Url: /admin\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	v := verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) {
		return &verifier.User{ID: "u1"}, nil
	})
	m := middleware.New(v, middleware.WithIdentityHeaders(middleware.IdentityHeaders{}), middleware.WithClientAddress())
	target, _ := url.Parse("http://upstream.example:8080/base")
	p := newFastProxy(DataPath{Mode: ModeProxy, Auth: m, Upstream: target}, nil)
	skip := skipFunc([]string{"/healthz"})
	peer := netip.MustParseAddr("192.0.2.1")

	f.Fuzz(func(t *testing.T, raw []byte) {
		var req fasthttp.Request
		if err := req.Header.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return // fasthttp refuses it: the server answers 400
		}
		target := req.Header.RequestURI()

		// The skip decision agrees with net/http's reading of the target.
		path, _ := splitTarget(target)
		if path != nil && path[0] != '/' {
			t.Fatalf("path %q of %q", path, target)
		}
		if u, err := url.ParseRequestURI(string(target)); err == nil && path != nil && target[0] == '/' {
			if got, want := fastSkipped(skip, path), skip(u.Path, u.RawPath != ""); got != want {
				t.Fatalf("skip %q: fasthttp %v, net/http %v", target, got, want)
			}
		}

		var src fastSource
		src.reset(&req, peer, m.IsIdentityHeader)
		for k := range req.Header.All() {
			if m.IsIdentityHeader(string(k)) && src.Header(string(k)) != nil {
				t.Fatalf("the TokenSource read the client's %q", k)
			}
		}
		var authz []string // deep copies, to compare against
		for _, a := range src.Header("Authorization") {
			authz = append(authz, strings.Clone(a))
		}
		d := m.Authenticate(context.Background(), &src)

		var c fastCall
		out := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(out)
		p.outRequest(out, &req, &c, &d, peer, false)
		// fasthttp reuses its buffers: parse into req again the same request
		// with every letter and digit after its request line a 'Z', which
		// overwrites the bytes of each header value in place. What the
		// source handed out must not change.
		req.Reset()
		line, rest, _ := bytes.Cut(raw, []byte("\n"))
		z := append(append(append([]byte(nil), line...), '\n'), bytes.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Y' || '0' <= r && r <= '9' {
				return 'Z'
			}
			return r
		}, rest)...)
		_ = req.Header.Read(bufio.NewReader(bytes.NewReader(z)))
		for i, a := range src.Header("Authorization") {
			if a != authz[i] {
				t.Fatalf("an Authorization value aliased the request: %q became %q", authz[i], a)
			}
		}

		if h := string(out.Host()); h != "upstream.example:8080" {
			t.Fatalf("Host %q", h)
		}
		for k, val := range out.Header.All() {
			ks := string(k)
			switch {
			case m.IsIdentityHeader(ks):
				if ks != "X-Auth-User-Id" && ks != "X-Auth-Session-Id" && ks != "X-Auth-Domain-Id" &&
					ks != "X-Auth-Device-Id" && ks != "X-Auth-Expires" || strings.Contains(string(val), "spoofed") {
					t.Fatalf("identity header %q: %q passed", ks, val)
				}
			case ks == "X-Forwarded-For":
				if string(val) != "192.0.2.1" {
					t.Fatalf("X-Forwarded-For %q", val)
				}
			case ks == "X-Forwarded-Proto", ks == "X-Forwarded-Host", ks == "Host":
			case isHopByHop(ks), isForwarded(ks), isOverride(ks):
				t.Fatalf("%q passed", ks)
			}
		}
		if d.Allowed() && d.User != nil && string(out.Header.Peek("X-Auth-User-Id")) != "u1" {
			t.Fatalf("the identity header is %q", out.Header.Peek("X-Auth-User-Id"))
		}
	})
}
