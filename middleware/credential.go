package middleware

import (
	"net/url"
	"strings"
)

// Hide says how to remove the credential a token came from before the
// request goes on, so that the upstream never sees it (WithIdentityHeaders
// without KeepCredential).
// Only the place the token was found is touched. The zero Hide changes
// nothing.
type Hide struct {
	// Header, when not empty, names a request header to delete: the
	// Authorization header or the header of a LookupHeader.
	Header string

	// RewriteCookie reports that every Cookie header must be replaced by a
	// single one whose value is Cookie, the same cookies without the token's;
	// when Cookie is empty, the Cookie header is deleted.
	RewriteCookie bool
	Cookie        string

	// RewriteQuery reports that the request's raw query must be replaced by
	// RawQuery, the same parameters, in the same order and encoding, without
	// the token's.
	RewriteQuery bool
	RawQuery     string
}

// hideFor returns how to remove what l found in src.
func hideFor(l Lookup, src TokenSource) Hide {
	switch l.kind {
	case lookupBearer, lookupHeader:
		return Hide{Header: l.name}
	case lookupCookie:
		return Hide{RewriteCookie: true, Cookie: removeCookie(src.Header("Cookie"), l.name)}
	case lookupQuery:
		return Hide{RewriteQuery: true, RawQuery: removeQuery(src.RawQuery(), l.name)}
	}
	return Hide{}
}

// cookieValue returns the value of the first cookie called name in the
// Cookie header lines, without surrounding double quotes, and whether there
// was one. It allocates nothing.
func cookieValue(lines []string, name string) (string, bool) {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(part, "=")
			if !ok || trimOWS(k) != name {
				continue
			}
			v = trimOWS(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// removeCookie returns the Cookie header lines joined into one value without
// any cookie called name.
func removeCookie(lines []string, name string) string {
	var b strings.Builder
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = trimOWS(part)
			if part == "" {
				continue
			}
			if k, _, _ := strings.Cut(part, "="); trimOWS(k) == name {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
	}
	return b.String()
}

// queryValue returns the decoded value of the query parameter name in raw and
// how many times it occurs (0 or 1; a second occurrence is an error).
// Parameters are separated by "&" only, as net/url does since Go 1.17. It
// allocates only when the value is percent-encoded.
func queryValue(raw, name string) (string, int, error) {
	var val string
	n := 0
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(part, "=")
		if !queryKeyIs(k, name) {
			continue
		}
		if n++; n > 1 {
			return "", n, errTwoQuery
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", n, errQueryEscape
		}
		if dv == "" {
			return "", n, errEmptyToken
		}
		val = dv
	}
	return val, n, nil
}

// removeQuery returns raw without the parameters called name; the others keep
// their order and encoding.
func removeQuery(raw, name string) string {
	var b strings.Builder
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		if k, _, _ := strings.Cut(part, "="); queryKeyIs(k, name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(part)
	}
	return b.String()
}

// queryKeyIs reports whether the raw (encoded) query key k decodes to name.
func queryKeyIs(k, name string) bool {
	if !strings.ContainsAny(k, "%+") {
		return k == name
	}
	dk, err := url.QueryUnescape(k)
	return err == nil && dk == name
}
