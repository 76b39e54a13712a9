package verifier

import (
	"errors"
	"time"
)

// Sentinel errors to branch on with errors.Is. Verifiers must never put a
// token in an error message.
var (
	// ErrInvalidToken reports a token that is malformed, badly signed,
	// expired or otherwise refused. The caller should answer 401.
	ErrInvalidToken = errors.New("verifier: invalid token")

	// ErrMalformedToken reports a credential that cannot be a token at all:
	// empty, or with characters outside token68 (see CheckSyntax). It is
	// the request that is malformed, so an HTTP caller answers 400 rather
	// than 401. errors.Is(ErrMalformedToken, ErrInvalidToken) is true.
	ErrMalformedToken error = &kindError{msg: "verifier: malformed token", parent: ErrInvalidToken}

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

	// ErrTooManyRequests reports that the client the verification was
	// made for (ClientFromContext) already has as many verifications in
	// progress as it may: the token was neither verified nor refused. The
	// caller should answer 429 with Retry-After. It is neither
	// ErrInvalidToken nor ErrUnavailable.
	ErrTooManyRequests = errors.New("verifier: too many verifications in progress for this client")
)

// kindError is a sentinel that is also its parent sentinel.
type kindError struct {
	msg    string
	parent error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.parent }

// A RetryAfterError is an error that says how long to wait before trying
// again, as an upstream's Retry-After header does. An HTTP caller answering
// 503 for an ErrUnavailable error finds it with errors.As and passes the
// delay on; zero means none was given.
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}
