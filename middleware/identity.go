package middleware

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/textproto"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// DefaultIdentityPrefix starts the names of the identity headers unless
// WithIdentityHeaders says otherwise.
const DefaultIdentityPrefix = "X-Auth-"

// Header is one HTTP header, name in canonical form.
type Header struct {
	Name, Value string
}

// identityNames are the identity header names for one prefix.
type identityNames struct {
	folded                                                   string // prefix folded by foldHeaderByte
	userID, sessionID, domainID, deviceID, expires, userData string
}

func newIdentityNames(prefix string) identityNames {
	name := func(s string) string { return textproto.CanonicalMIMEHeaderKey(prefix + s) }
	folded := []byte(prefix)
	for i, c := range folded {
		folded[i] = foldHeaderByte(c)
	}
	return identityNames{
		folded:    string(folded),
		userID:    name("User-Id"),
		sessionID: name("Session-Id"),
		domainID:  name("Domain-Id"),
		deviceID:  name("Device-Id"),
		expires:   name("Expires"),
		userData:  name("User-Data"),
	}
}

// IsIdentityHeader reports whether name falls under the identity prefix once
// ASCII case is folded and "_" and "." are read as "-", the way CGI, PHP,
// WSGI and some proxies map header names. X-Auth-User-Id, x-auth-user-id,
// X_Auth_User_Id and X.Auth.User.Id all do under the default prefix.
//
// With identity headers on (WithIdentityHeaders), every request loses such
// headers before
// anything else happens, whether it is then authenticated, anonymous or
// skipped: only this middleware may set them. An engine adapter must do the
// same (see Authenticate).
func (m *Middleware) IsIdentityHeader(name string) bool {
	p := m.names.folded
	if len(name) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if foldHeaderByte(name[i]) != p[i] {
			return false
		}
	}
	return true
}

func foldHeaderByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_' || c == '.':
		return '-'
	}
	return c
}

// StripsIdentityHeaders reports whether every request loses the identity
// headers its client sent before anything else happens: true exactly when
// identity headers are on (WithIdentityHeaders). An engine adapter asks it
// instead of knowing the options.
func (m *Middleware) StripsIdentityHeaders() bool { return m.identity }

// stripIdentity deletes every identity header from h. Most names fail the
// cheap test of length and first byte, and skip the full comparison.
func (m *Middleware) stripIdentity(h http.Header) {
	p := m.names.folded
	for k := range h {
		if len(k) < len(p) || len(p) > 0 && foldHeaderByte(k[0]) != p[0] {
			continue
		}
		if m.IsIdentityHeader(k) {
			delete(h, k)
		}
	}
}

// IdentityHeaders returns the identity headers of u under the configured
// prefix: User-Id, Session-Id, Domain-Id, Device-Id, Expires (RFC 3339, UTC;
// empty when unknown) and, when u has custom user data, User-Data (that JSON
// in unpadded base64url, RFC 4648 section 5). A value that could not travel
// in a header (control characters) is sent empty. It returns nil for a nil
// user. The slice is the caller's own.
func (m *Middleware) IdentityHeaders(u *verifier.User) []Header {
	hs := m.identityOf(u)
	if hs == nil {
		return nil
	}
	return append([]Header(nil), hs...)
}

// identityOf is IdentityHeaders without the copy: the slice may be shared
// (served from the memo when identity headers are on) and must not be
// modified.
func (m *Middleware) identityOf(u *verifier.User) []Header {
	if u == nil {
		return nil
	}
	if m.memo != nil {
		return m.memo.get(u, m.computeIdentity)
	}
	return m.computeIdentity(u)
}

// computeIdentity builds the identity headers of u, a non-nil user.
func (m *Middleware) computeIdentity(u *verifier.User) []Header {
	n := &m.names
	var expires string
	if !u.ExpiresAt.IsZero() {
		expires = u.ExpiresAt.UTC().Format(time.RFC3339)
	}
	hs := make([]Header, 5, 6)
	hs[0] = Header{n.userID, fieldValue(u.ID)}
	hs[1] = Header{n.sessionID, fieldValue(u.SessionID)}
	hs[2] = Header{n.domainID, fieldValue(u.DomainID)}
	hs[3] = Header{n.deviceID, fieldValue(u.DeviceID)}
	hs[4] = Header{n.expires, expires}
	if d := bytes.TrimSpace(u.CustomUserData); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		hs = append(hs, Header{n.userData, base64.RawURLEncoding.EncodeToString(d)})
	}
	return hs
}

// setHeaders sets each of hs on h, replacing any value there, with one
// allocation: the values live in one fresh backing array, which each header
// gets a capped one-element window of, so that no two requests share values
// and an append to one header cannot overwrite the next.
func setHeaders(h http.Header, hs []Header) {
	if len(hs) == 0 {
		return
	}
	vals := make([]string, len(hs))
	for i, x := range hs {
		vals[i] = x.Value
		h[x.Name] = vals[i : i+1 : i+1]
	}
}

// blankIdentity returns every identity header with an empty value: what
// ForwardAuth answers for a request without a user, so that a proxy that
// copies the headers onto the request overwrites whatever the client sent.
func (m *Middleware) blankIdentity() []Header {
	n := &m.names
	return []Header{
		{n.userID, ""}, {n.sessionID, ""}, {n.domainID, ""},
		{n.deviceID, ""}, {n.expires, ""}, {n.userData, ""},
	}
}

// fieldValue returns s, or "" if s holds a byte that may not appear in a
// header value.
func fieldValue(s string) string {
	if validFieldValue(s) {
		return s
	}
	return ""
}
