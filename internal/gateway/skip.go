package gateway

import (
	"net/http"
	"path"
	"strings"
)

// skipFunc returns the predicate of Config.SkipPaths, or nil when there are
// none. prefixes are cleaned (cleanSkipPaths). p is a request's decoded
// path; escaped says whether its raw form is not the default encoding of p
// (url.URL.RawPath != "").
//
// A request is skipped only when its path is already clean and falls under a
// prefix on a segment boundary: with prefix /healthz, /healthz and
// /healthz/live are skipped, /healthzX is not. A path the upstream might
// read differently from us fails closed, that is, it is authenticated:
//
//   - one with dot segments or doubled slashes (/admin/../healthz), which an
//     upstream router that does not clean paths could send to /admin;
//   - one with escapes that do not decode back to themselves
//     (/healthz%2F..%2Fadmin, /health%7a);
//   - one with any byte outside [A-Za-z0-9._~/-] once decoded: ";" above
//     all, since Tomcat, Jetty and Spring cut matrix parameters out of each
//     segment and route /healthz/..;/admin to /admin, but also spaces,
//     "%", non-ASCII and the like, which some upstream may normalize.
func skipFunc(prefixes []string) func(p string, escaped bool) bool {
	if len(prefixes) == 0 {
		return nil
	}
	return func(p string, escaped bool) bool {
		if escaped || !plainPath(p) || !isClean(p) {
			return false
		}
		for _, pre := range prefixes {
			if p == pre || strings.HasPrefix(p, pre) && p[len(pre)] == '/' {
				return true
			}
		}
		return false
	}
}

// httpSkip adapts a skipFunc to middleware.WithSkip.
func httpSkip(skip func(string, bool) bool) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.URL != nil && skip(r.URL.Path, r.URL.RawPath != "")
	}
}

// isClean reports whether p is an absolute path that path.Clean leaves
// alone, but for one trailing slash.
func isClean(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	return path.Clean(p) == p
}

// plainPath reports whether p consists solely of unreserved characters
// (RFC 3986: ALPHA, DIGIT, "-", ".", "_", "~") and "/".
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '/':
		default:
			return false
		}
	}
	return true
}
