package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/tokenguard/tokenguard/verifier"
)

// DefaultMaxTokenLength is the longest token accepted unless
// WithMaxTokenLength says otherwise: 8 KiB. A longer credential is a
// malformed request; it is never sent to the verifier.
const DefaultMaxTokenLength = 8 << 10

// ErrMalformed reports a request whose credentials cannot be read: two
// Authorization headers, a Bearer credential with no token or with characters
// outside token68, a token over the length limit, and the like. Errors of the
// extractors and of Authenticate wrap it; their messages never contain the
// token.
var ErrMalformed = errors.New("middleware: malformed credentials")

// ErrMissingToken reports a request that carries no token where one is
// required.
var ErrMissingToken = errors.New("middleware: no access token")

var (
	errEmptyToken      = fmt.Errorf("%w: empty token", ErrMalformed)
	errTokenTooLong    = fmt.Errorf("%w: token too long", ErrMalformed)
	errTokenChars      = fmt.Errorf("%w: token has characters outside token68", ErrMalformed)
	errBearerSeparator = fmt.Errorf("%w: Bearer scheme not followed by exactly one space", ErrMalformed)
	errTwoAuthz        = fmt.Errorf("%w: more than one Authorization header", ErrMalformed)
	errTwoHeaders      = fmt.Errorf("%w: token header sent more than once", ErrMalformed)
	errTwoQuery        = fmt.Errorf("%w: token query parameter sent more than once", ErrMalformed)
	errQueryEscape     = fmt.Errorf("%w: bad escape in token query parameter", ErrMalformed)
)

// An Extractor finds the access token of a net/http request. It returns "",
// nil when the request carries none, and an error wrapping ErrMalformed when
// what it carries cannot be a token.
//
// The extractors of this package are the net/http form of a Lookup, which is
// what the Middleware itself is configured with (see WithLookup); they are
// useful on their own, in handlers that read a token without the middleware.
// They apply DefaultMaxTokenLength.
type Extractor func(r *http.Request) (string, error)

// FromBearer returns an Extractor for the Authorization header's Bearer
// credentials (RFC 6750 section 2.1). See LookupBearer for the rules.
func FromBearer() Extractor { return LookupBearer().extractor() }

// FromHeader returns an Extractor that reads the whole value of the named
// header as the token. See LookupHeader.
func FromHeader(name string) Extractor { return LookupHeader(name).extractor() }

// FromCookie returns an Extractor that reads the named cookie. See
// LookupCookie.
func FromCookie(name string) Extractor { return LookupCookie(name).extractor() }

// FromQuery returns an Extractor that reads the named query parameter. See
// LookupQuery, and mind that URLs, and so tokens in them, end up in access
// logs, browser history and Referer headers.
func FromQuery(name string) Extractor { return LookupQuery(name).extractor() }

// FirstOf returns an Extractor that tries each extractor in turn and returns
// the first token found. An error stops the search: a malformed Authorization
// header does not fall through to a cookie.
func FirstOf(extractors ...Extractor) Extractor {
	return func(r *http.Request) (string, error) {
		for _, e := range extractors {
			if tok, err := e(r); err != nil || tok != "" {
				return tok, err
			}
		}
		return "", nil
	}
}

type lookupKind uint8

const (
	lookupBearer lookupKind = iota + 1
	lookupHeader
	lookupCookie
	lookupQuery
)

// A Lookup names one place a request may carry its access token. It is the
// engine-neutral form of an Extractor: Middleware.Authenticate runs Lookups
// over a TokenSource, so any HTTP engine shares the same rules. The zero
// Lookup is not valid; use the constructors.
//
// Every Lookup accepts only token68 characters (ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/", then any number of "=") and at most the configured
// maximum length; App Services access tokens, being JWTs, always qualify.
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
// Referer headers. Prefer a header or a cookie; use WithHideCredentials so
// that at least the upstream never sees it. It panics if name is empty.
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
//
// With hits non-nil (the verifier is a cache), a Bearer token that passed the
// structural checks (one Authorization header, the Bearer scheme and its one
// space, a non-empty token within maxLen) is first looked up in the cache,
// and on a fresh hit it comes back with its user and without the per-byte
// token68 check. That check guards what is sent upstream, and a token the
// cache holds as verified was accepted upstream: App Services accepts only
// its own JWTs, three base64url segments joined by ".", which are token68.
// So the check could not refuse it, and skipping it changes no answer. A
// token that misses the cache gets the full check before anything else
// happens, so a malformed token is still refused (400) and never reaches the
// verifier's Verify.
func (l Lookup) extract(src TokenSource, maxLen int, hits cachedLookup) (string, *verifier.User, error) {
	switch l.kind {
	case lookupBearer:
		vals := src.Header("Authorization")
		switch len(vals) {
		case 0:
			return "", nil, nil
		case 1:
			tok, err := bearerCredential(vals[0], maxLen)
			if err != nil || tok == "" {
				return "", nil, err
			}
			if hits != nil {
				if u, ok := hits.Lookup(tok); ok {
					return tok, u, nil
				}
			}
			if !validToken68(tok) {
				return "", nil, errTokenChars
			}
			return tok, nil, nil
		}
		return "", nil, errTwoAuthz
	case lookupHeader:
		vals := src.Header(l.name)
		switch len(vals) {
		case 0:
			return "", nil, nil
		case 1:
			tok, err := checkToken(vals[0], maxLen)
			return tok, nil, err
		}
		return "", nil, errTwoHeaders
	case lookupCookie:
		v, ok := cookieValue(src.Header("Cookie"), l.name)
		if !ok || v == "" {
			return "", nil, nil
		}
		tok, err := checkToken(v, maxLen)
		return tok, nil, err
	case lookupQuery:
		v, n, err := queryValue(src.RawQuery(), l.name)
		switch {
		case err != nil:
			return "", nil, err
		case n == 0:
			return "", nil, nil
		}
		tok, err := checkToken(v, maxLen)
		return tok, nil, err
	}
	panic("middleware: zero Lookup; use LookupBearer, LookupHeader, LookupCookie or LookupQuery")
}

// extractor adapts l to net/http.
func (l Lookup) extractor() Extractor {
	return func(r *http.Request) (string, error) {
		tok, _, err := l.extract(httpSource{r}, DefaultMaxTokenLength, nil)
		return tok, err
	}
}

// parseBearer reads the token of one Authorization header value.
func parseBearer(v string, maxLen int) (string, error) {
	tok, err := bearerCredential(v, maxLen)
	if err != nil || tok == "" {
		return "", err
	}
	if !validToken68(tok) {
		return "", errTokenChars
	}
	return tok, nil
}

// bearerCredential is parseBearer without the token68 check of the token's
// bytes: it returns "", nil for another scheme, an error for a malformed
// Bearer credential or a token that is empty or over maxLen, and otherwise
// the token, whose characters are still to be checked.
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

// checkToken returns tok if it is a non-empty token68 of at most maxLen bytes.
func checkToken(tok string, maxLen int) (string, error) {
	if tok == "" {
		return "", errEmptyToken
	}
	if len(tok) > maxLen {
		return "", errTokenTooLong
	}
	if !validToken68(tok) {
		return "", errTokenChars
	}
	return tok, nil
}

// cachedLookup is what a verifier that caches (a *cache.Cache) offers on top
// of Verify: its answer for a token it holds as verified and fresh, without
// calling upstream. The middleware uses it to skip the token68 check on a
// hit; see Lookup.extract.
type cachedLookup interface {
	Lookup(token string) (*verifier.User, bool)
}
