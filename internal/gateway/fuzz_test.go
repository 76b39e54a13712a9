package gateway

import (
	"net/http"
	"net/textproto"
	"path"
	"strings"
	"testing"
)

// FuzzRequestHeaders checks the proxy's header rules on whatever a client
// sends: after sanitizeConnection and copyRequestHeader no hop-by-hop or
// forwarding header is left, an identity header is never dropped, and a
// header the Connection value names is dropped unless it is an identity
// header.
func FuzzRequestHeaders(f *testing.F) {
	f.Add("keep-alive, X-Listed", "X-Listed", "v")
	f.Add("x-auth-user-id", "X-Auth-User-Id", "u1")
	f.Add(",,, upgrade ,X-Forwarded-For", "X-Forwarded-For", "6.6.6.6")
	f.Add("close", "Proxy-Authorization", "Basic x")
	f.Add("X_Auth_User_Id, te", "Te", "trailers")
	protected := func(name string) bool {
		n := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
		return strings.HasPrefix(n, "x-auth-")
	}
	p := &proxy{protected: protected}
	f.Fuzz(func(t *testing.T, conn, name, value string) {
		in := http.Header{
			"Connection":     {conn},
			"X-Auth-User-Id": {"u1"},
		}
		if name != "" {
			name = textproto.CanonicalMIMEHeaderKey(name) // as the server reads it
			in[name] = append(in[name], value)
		}
		p.sanitizeConnection(in)
		out := http.Header{}
		copyRequestHeader(out, in)
		for k := range out {
			if isHopByHop(k) || isForwarded(k) {
				t.Fatalf("%q passed", k)
			}
		}
		if out.Get("X-Auth-User-Id") == "" {
			t.Fatalf("the identity header was dropped (Connection %q)", conn)
		}
		for _, v := range in["Connection"] {
			for _, listed := range strings.Split(v, ",") {
				listed = textproto.TrimString(listed)
				if listed == "" {
					continue
				}
				if protected(listed) {
					t.Fatalf("Connection still names identity header %q", listed)
				}
				if _, ok := out[textproto.CanonicalMIMEHeaderKey(listed)]; ok {
					t.Fatalf("%q is named in Connection but passed", listed)
				}
			}
		}
	})
}

// FuzzSkip checks that a skipped path is clean and under a prefix, so that
// no path an upstream could resolve elsewhere goes unauthenticated.
func FuzzSkip(f *testing.F) {
	for _, s := range []string{"/healthz", "/healthz/", "/healthz/../admin", "/admin/../healthz", "/healthzz", "//healthz", "/public/a/b", "/healthz/..;/admin"} {
		f.Add(s, false)
	}
	prefixes := []string{"/healthz", "/public"}
	skip := skipFunc(prefixes)
	f.Fuzz(func(t *testing.T, p string, escaped bool) {
		if !skip(p, escaped) {
			return
		}
		if escaped {
			t.Fatalf("%q skipped with a raw form of its own", p)
		}
		if i := strings.IndexFunc(p, func(r rune) bool {
			return !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/", r)
		}); i >= 0 {
			t.Fatalf("%q skipped with %q in it", p, p[i:])
		}
		if c := path.Clean(p); c != p && c+"/" != p {
			t.Fatalf("%q skipped but not clean (%q)", p, c)
		}
		for _, pre := range prefixes {
			if p == pre || strings.HasPrefix(p, pre+"/") {
				return
			}
		}
		t.Fatalf("%q skipped outside every prefix", p)
	})
}
