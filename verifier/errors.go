package verifier

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors to branch on with errors.Is. Error messages produced by this
// package never contain a token.
var (
	// ErrInvalidToken reports a token that is malformed, badly signed,
	// expired or otherwise refused. The caller should answer 401.
	ErrInvalidToken = errors.New("verifier: invalid token")

	// ErrTokenExpired reports a well-formed token whose lifetime has ended.
	// errors.Is(ErrTokenExpired, ErrInvalidToken) is true.
	ErrTokenExpired error = &kindError{msg: "verifier: token expired", parent: ErrInvalidToken}

	// ErrRevoked reports a token issued before its user's sessions were
	// revoked (or the user disabled or deleted). App Services itself keeps
	// such tokens valid until they expire; a revocation-aware layer such as
	// package cache returns this error instead.
	// errors.Is(ErrRevoked, ErrInvalidToken) is true.
	ErrRevoked error = &kindError{msg: "verifier: token revoked", parent: ErrInvalidToken}

	// ErrUnavailable reports that the token could not be verified: the
	// upstream failed, timed out, rate limited the call or answered
	// something that could not be understood. The caller should answer 503
	// and must not treat the token as either valid or invalid.
	ErrUnavailable = errors.New("verifier: verification unavailable")
)

// kindError is a sentinel that is also its parent sentinel.
type kindError struct {
	msg    string
	parent error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.parent }

// APIError is an error answer of the App Services Admin API.
//
// errors.Is(err, ErrUnavailable) holds for 5xx and 429 answers, and
// errors.Is(err, ErrInvalidToken) for a 401 that is not about the admin
// session (code InvalidSession, or no code and an "invalid session: ..."
// message): those concern the gateway's own session, not the user's token.
type APIError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Code is the "error_code" field, such as "InvalidSession" or
	// "UserNotFound"; it is empty when the body carried none.
	Code string
	// Message is the "error" field, or the status text when the body was empty.
	Message string
	// RetryAfter is the delay asked for by a Retry-After header (429 or 503),
	// zero when there was none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if e.Code != "" {
		return fmt.Sprintf("verifier: admin API %d %s: %s", e.StatusCode, e.Code, msg)
	}
	return fmt.Sprintf("verifier: admin API %d: %s", e.StatusCode, msg)
}

// Is reports whether the answer falls under one of the sentinels above.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnavailable:
		return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
	case ErrInvalidToken:
		return e.StatusCode == http.StatusUnauthorized && !isAdminSessionError(e.Code, e.Message)
	}
	return false
}

// isAdminSessionError reports whether a 401 is about the admin session rather
// than the token it was asked about: the code InvalidSession, or no code and
// a message such as "invalid session: valid Issuer required", which App
// Services sends without one (APPSERVICES.md, Admin authentication).
func isAdminSessionError(code, message string) bool {
	if code == CodeInvalidSession {
		return true
	}
	const prefix = "invalid session"
	return code == "" && len(message) >= len(prefix) && strings.EqualFold(message[:len(prefix)], prefix)
}

// Error codes ("error_code") used by the App Services backend.
const (
	CodeInvalidSession       = "InvalidSession"
	CodeUserNotFound         = "UserNotFound"
	CodeUserDisabled         = "UserDisabled"
	CodeUserAlreadyConfirmed = "UserAlreadyConfirmed"
	CodeAccountNameInUse     = "AccountNameInUse"
	CodeBadRequest           = "BadRequest"
	CodeAuthError            = "AuthError"
	CodeInvalidEmailPassword = "InvalidEmailPassword"
)
