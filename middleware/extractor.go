package middleware

import (
	"errors"
	"fmt"
	"net/textproto"
	"strings"
)

// defaultMaxTokenLength is the longest token accepted unless
// WithMaxTokenLength says otherwise: 8 KiB. A longer credential is a
// malformed request; it is never sent to the verifier.
const defaultMaxTokenLength = 8 << 10

// ErrMalformed reports a request whose credentials cannot be read: two
// Authorization headers, a Bearer credential with no token, a token over the
// length limit, a token the verifier finds malformed
// (verifier.ErrMalformedToken: characters outside token68), and the like.
// The errors of Authenticate for such requests wrap it; their messages never
// contain the token.
var ErrMalformed = errors.New("middleware: malformed credentials")

// ErrMissingToken reports a request that carries no token where one is
// required.
var ErrMissingToken = errors.New("middleware: no access token")

var (
	errEmptyToken      = fmt.Errorf("%w: empty token", ErrMalformed)
	errTokenTooLong    = fmt.Errorf("%w: token too long", ErrMalformed)
	errBearerSeparator = fmt.Errorf("%w: Bearer scheme not followed by exactly one space", ErrMalformed)
	errTwoAuthz        = fmt.Errorf("%w: more than one Authorization header", ErrMalformed)
	errTwoHeaders      = fmt.Errorf("%w: token header sent more than once", ErrMalformed)
	errTwoQuery        = fmt.Errorf("%w: token query parameter sent more than once", ErrMalformed)
	errQueryEscape     = fmt.Errorf("%w: bad escape in token query parameter", ErrMalformed)
)

type lookupKind uint8

const (
	lookupBearer lookupKind = iota + 1
	lookupHeader
	lookupCookie
	lookupQuery
)

// A Lookup names one place a request may carry its access token.
// Middleware.Authenticate runs Lookups over a TokenSource, so any HTTP engine
// shares the same rules. The zero Lookup is not valid; use the constructors.
//
// Every Lookup refuses an empty token and one over the configured maximum
// length. The token's characters are the verifier's to check
// (verifier.CheckSyntax: token68 only), before any upstream call and after a
// cache's hit, so a hit does not pay for the check; a refusal is answered
// 400 as any other malformed credential.
type Lookup struct {
	kind lookupKind
	name string // canonical header name, cookie name or query parameter
}

// LookupBearer reads the Authorization header's Bearer credentials as RFC
// 6750 section 2.1 defines them:
//
//   - no Authorization header, an empty one, or one with another scheme
//     (Basic ..., or a longer scheme name such as "Bearerx"): absent, so that
//     a later Lookup may apply and a lone Bearer lookup answers 401 with a
//     Bearer challenge;
//   - more than one Authorization header: malformed;
//   - the scheme matches "Bearer" case-insensitively and must be followed by
//     exactly one space and a non-empty token68; "Bearer", "Bearer ",
//     "Bearer  tok" (two spaces), "Bearer\ttok", auth-params and trailing
//     blanks are all malformed.
//
// Reading the token allocates nothing.
func LookupBearer() Lookup { return Lookup{kind: lookupBearer, name: "Authorization"} }

// LookupHeader reads the whole value of the named header as the token. A
// header sent twice, or sent empty, is malformed. Use LookupBearer for the
// Authorization header. It panics if name is not a valid header name.
func LookupHeader(name string) Lookup {
	if !validToken(name) {
		panic(fmt.Sprintf("middleware: invalid header name %q", name))
	}
	return Lookup{kind: lookupHeader, name: textproto.CanonicalMIMEHeaderKey(name)}
}

// LookupCookie reads the first cookie with the given name (user agents send
// the most specific path first, and net/http's Request.Cookie also takes the
// first). A cookie with an empty value is absent, since browsers keep
// cleared cookies that way. It panics if name is not a valid cookie name.
func LookupCookie(name string) Lookup {
	if !validToken(name) {
		panic(fmt.Sprintf("middleware: invalid cookie name %q", name))
	}
	return Lookup{kind: lookupCookie, name: name}
}

// LookupQuery reads the named query parameter (RFC 6750 section 2.3 uses
// "access_token"), percent-decoded. A parameter sent twice or sent empty is
// malformed.
//
// Tokens in URLs leak: into access logs, proxies' logs, browser history and
// Referer headers. Prefer a header or a cookie; in front of an upstream,
// WithIdentityHeaders removes it so that at least the upstream never sees
// it. It panics if name is empty.
func LookupQuery(name string) Lookup {
	if name == "" {
		panic("middleware: empty query parameter name")
	}
	return Lookup{kind: lookupQuery, name: name}
}

// String describes the Lookup, such as "cookie session".
func (l Lookup) String() string {
	switch l.kind {
	case lookupBearer:
		return "bearer"
	case lookupHeader:
		return "header " + l.name
	case lookupCookie:
		return "cookie " + l.name
	case lookupQuery:
		return "query " + l.name
	}
	return "invalid lookup"
}

// extract returns the token the Lookup finds in src: "", nil when there is
// none, and an error wrapping ErrMalformed when what is there is not a token.
func (l Lookup) extract(src TokenSource, maxLen int) (string, error) {
	switch l.kind {
	case lookupBearer:
		vals := src.Header("Authorization")
		switch len(vals) {
		case 0:
			return "", nil
		case 1:
			return bearerCredential(vals[0], maxLen)
		}
		return "", errTwoAuthz
	case lookupHeader:
		vals := src.Header(l.name)
		switch len(vals) {
		case 0:
			return "", nil
		case 1:
			return checkToken(vals[0], maxLen)
		}
		return "", errTwoHeaders
	case lookupCookie:
		v, ok := cookieValue(src.Header("Cookie"), l.name)
		if !ok || v == "" {
			return "", nil
		}
		return checkToken(v, maxLen)
	case lookupQuery:
		v, n, err := queryValue(src.RawQuery(), l.name)
		switch {
		case err != nil:
			return "", err
		case n == 0:
			return "", nil
		}
		return checkToken(v, maxLen)
	}
	panic("middleware: zero Lookup; use LookupBearer, LookupHeader, LookupCookie or LookupQuery")
}

// bearerCredential reads the token of one Authorization header value: "", nil
// for another scheme, an error for a malformed Bearer credential or a token
// that is empty or over maxLen, and otherwise the token, whose characters are
// the verifier's to check.
func bearerCredential(v string, maxLen int) (string, error) {
	const scheme = "bearer"
	// The spelling every client sends is compared in two loads; any other
	// has its case folded byte by byte.
	if !strings.HasPrefix(v, "Bearer ") {
		if len(v) < len(scheme) || !asciiEqualFold(v[:len(scheme)], scheme) {
			return "", nil
		}
		if len(v) == len(scheme) {
			return "", errEmptyToken
		}
		switch c := v[len(scheme)]; {
		case c == ' ':
		case isTchar(c):
			return "", nil // another scheme whose name starts with "Bearer"
		default:
			return "", errBearerSeparator
		}
	}
	tok := v[len(scheme)+1:]
	switch {
	case tok == "":
		return "", errEmptyToken
	case tok[0] == ' ':
		return "", errBearerSeparator
	case len(tok) > maxLen:
		return "", errTokenTooLong
	}
	return tok, nil
}

// checkToken returns tok if it is non-empty and at most maxLen bytes long.
func checkToken(tok string, maxLen int) (string, error) {
	if tok == "" {
		return "", errEmptyToken
	}
	if len(tok) > maxLen {
		return "", errTokenTooLong
	}
	return tok, nil
}
