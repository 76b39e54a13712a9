package appservices

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// APIError is an error answer of the App Services Admin API.
//
// errors.Is(err, verifier.ErrUnavailable) holds for 5xx and 429 answers, and
// errors.Is(err, verifier.ErrInvalidToken) for a 401 that is not about the admin
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
	// RetryDelay is the delay asked for by a Retry-After header (429 or 503),
	// zero when there was none. RetryAfter returns it.
	RetryDelay time.Duration
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if e.Code != "" {
		return fmt.Sprintf("appservices: admin API %d %s: %s", e.StatusCode, e.Code, msg)
	}
	return fmt.Sprintf("appservices: admin API %d: %s", e.StatusCode, msg)
}

// RetryAfter returns RetryDelay, so that an APIError is a
// verifier.RetryAfterError.
func (e *APIError) RetryAfter() time.Duration { return e.RetryDelay }

// Is reports whether the answer falls under one of the sentinels above.
func (e *APIError) Is(target error) bool {
	switch target {
	case verifier.ErrUnavailable:
		return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
	case verifier.ErrInvalidToken:
		return e.StatusCode == http.StatusUnauthorized && !isAdminSessionError(e.Code, e.Message)
	}
	return false
}

// isAdminSessionError reports whether a 401 is about the admin session rather
// than the token it was asked about: the code InvalidSession, or no code and
// a message such as "invalid session: valid Issuer required", which App
// Services sends without one (MongoDB's Admin API authentication docs).
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
	CodeInvalidPassword      = "InvalidPassword"
)
