package middleware

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// kindStatus is the one table from outcome to HTTP status.
var kindStatus = [numKinds]int{
	KindUnavailable:     http.StatusServiceUnavailable,
	KindMissing:         http.StatusUnauthorized,
	KindMalformed:       http.StatusBadRequest,
	KindInvalid:         http.StatusUnauthorized,
	KindAnonymous:       http.StatusOK,
	KindAuthenticated:   http.StatusOK,
	KindTooManyRequests: http.StatusTooManyRequests,
}

// Status returns the HTTP status a request of this kind is answered with:
// 503, 401, 400, 401, 429, and 200 for the two kinds that go on.
func (k Kind) Status() int {
	if k >= numKinds {
		return http.StatusServiceUnavailable
	}
	return kindStatus[k]
}

// Refusal is the answer to a refused request in engine-neutral form. A
// response carries Status, a WWW-Authenticate header with Challenge when that
// is not empty, a Retry-After header with RetryAfter when that is not empty,
// "Content-Type: application/json", "Cache-Control: no-store", and Body.
type Refusal struct {
	// Kind and Err are the Decision's. Err is for logs: it never contains
	// the token, but it may contain upstream detail, so do not send it to
	// the client.
	Kind Kind
	Err  error

	// Status is the HTTP status (Kind.Status).
	Status int
	// Challenge is the WWW-Authenticate value (RFC 6750 section 3), such as
	// `Bearer realm="tokenguard", error="invalid_token", error_description="The access token expired."`;
	// empty for 503 and 429.
	Challenge string
	// RetryAfter is the Retry-After value in whole seconds (at least 1) for
	// 503 and 429; empty otherwise.
	RetryAfter string
	// Body is a small JSON object {"error", "error_description"}. It is
	// shared between requests and must not be modified.
	Body []byte
}

// An ErrorHandler answers a refused request. A custom one can, say, redirect
// a browser to a login page on KindMissing and hand everything else to
// DefaultErrorHandler.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, rf Refusal)

// DefaultErrorHandler writes rf as it is: status, WWW-Authenticate,
// Retry-After, Content-Type, Cache-Control and the JSON body.
func DefaultErrorHandler(w http.ResponseWriter, _ *http.Request, rf Refusal) {
	h := w.Header()
	if rf.Challenge != "" {
		h.Set("WWW-Authenticate", rf.Challenge)
	}
	if rf.RetryAfter != "" {
		h.Set("Retry-After", rf.RetryAfter)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	status := rf.Status
	if status < 400 || status > 599 {
		status = http.StatusServiceUnavailable // a zero Refusal still refuses
	}
	w.WriteHeader(status)
	_, _ = w.Write(rf.Body)
}

// Refusal returns the answer to the refused Decision d. For an allowed d it
// returns the zero Refusal.
func (m *Middleware) Refusal(d Decision) Refusal {
	if d.Allowed() {
		return Refusal{}
	}
	rf := m.refusals.of(d)
	rf.Kind, rf.Err = d.Kind, d.Err
	if d.Kind == KindUnavailable || d.Kind == KindTooManyRequests {
		rf.RetryAfter = retryAfterSeconds(d.RetryAfter)
	}
	return rf
}

// refusals holds the answers of one Middleware, built once by New since the
// realm is fixed.
type refusals struct {
	missing, malformed, invalid, expired, revoked, unavailable, tooMany Refusal
}

// Body error codes and descriptions. RFC 6750 names invalid_request and
// invalid_token; the others follow its style.
const (
	descMissing     = "An access token is required."
	descMalformed   = "The request's credentials are malformed."
	descInvalid     = "The access token is invalid."
	descExpired     = "The access token expired."
	descRevoked     = "The access token was revoked."
	descUnavailable = "Token verification is temporarily unavailable; retry later."
	descTooMany     = "Too many token verifications in progress for this client; retry later."
)

func newRefusals(realm string) refusals {
	challenge := `Bearer realm="` + realm + `"`
	withError := func(code, desc string) string {
		c := challenge + `, error="` + code + `"`
		if desc != "" {
			c += `, error_description="` + desc + `"`
		}
		return c
	}
	body := func(code, desc string) []byte {
		// The codes and descriptions are constants without characters
		// that need escaping in JSON.
		return []byte(`{"error":"` + code + `","error_description":"` + desc + `"}`)
	}
	invalid := func(desc string) Refusal {
		return Refusal{
			Status:    http.StatusUnauthorized,
			Challenge: withError("invalid_token", desc),
			Body:      body("invalid_token", desc),
		}
	}
	return refusals{
		missing: Refusal{
			Status:    http.StatusUnauthorized,
			Challenge: challenge, // RFC 6750 3.1: no error code without credentials
			Body:      body("unauthorized", descMissing),
		},
		malformed: Refusal{
			Status:    http.StatusBadRequest,
			Challenge: withError("invalid_request", ""),
			Body:      body("invalid_request", descMalformed),
		},
		invalid: invalid(descInvalid),
		expired: invalid(descExpired),
		revoked: invalid(descRevoked),
		unavailable: Refusal{
			Status: http.StatusServiceUnavailable,
			Body:   body("temporarily_unavailable", descUnavailable),
		},
		tooMany: Refusal{
			Status: http.StatusTooManyRequests,
			Body:   body("too_many_requests", descTooMany),
		},
	}
}

func (rs *refusals) of(d Decision) Refusal {
	switch d.Kind {
	case KindMissing:
		return rs.missing
	case KindMalformed:
		return rs.malformed
	case KindTooManyRequests:
		return rs.tooMany
	case KindInvalid:
		switch {
		case errors.Is(d.Err, verifier.ErrTokenExpired):
			return rs.expired
		case errors.Is(d.Err, verifier.ErrRevoked):
			return rs.revoked
		}
		return rs.invalid
	}
	return rs.unavailable
}

// retryAfterSeconds formats d as a Retry-After delay: whole seconds, rounded
// up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}
