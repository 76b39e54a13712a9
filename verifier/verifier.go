package verifier

import (
	"context"
	"encoding/json"
	"time"
)

// A Verifier checks a client access token and returns the user it was issued to.
//
// Verify must be safe for concurrent use by multiple goroutines. The returned
// *User may be shared between callers (a cache hands the same value to every
// request that presents the token) and must not be modified.
//
// A token that is not valid yields an error for which errors.Is(err,
// ErrInvalidToken) holds; a verification that could not be carried out
// (network failure, upstream 5xx or 429, timeout) yields one for which
// errors.Is(err, ErrUnavailable) holds. Callers must treat any other error as
// a failure to authenticate, never as success.
type Verifier interface {
	Verify(ctx context.Context, token string) (*User, error)
}

// VerifierFunc adapts an ordinary function to the Verifier interface, like
// http.HandlerFunc.
type VerifierFunc func(ctx context.Context, token string) (*User, error)

// Verify calls f(ctx, token).
func (f VerifierFunc) Verify(ctx context.Context, token string) (*User, error) {
	return f(ctx, token)
}

// User is the decoded answer of the Admin API's verify_token endpoint: the
// claims App Services vouches for once it has checked the token's signature
// and expiry.
//
// A *User returned by a Verifier is read-only: it may be shared.
type User struct {
	// ID is the App Services user id (claim "sub").
	ID string
	// SessionID identifies the login session the token belongs to (claim "iss").
	SessionID string
	// DomainID is the app's domain id (claim "domain_id").
	DomainID string
	// DeviceID is the device the session was opened from (claim "device_id").
	DeviceID string
	// IssuedAt and ExpiresAt are the token's "iat" and "exp" claims.
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Audience is the "aud" claim, when present. App Services may send it as
	// a single string or as an array; both decode to a slice.
	Audience []string
	// Data is the "data" claim, when present.
	Data string
	// CustomUserData is the "custom_user_data" object, when present, as raw JSON.
	CustomUserData json.RawMessage
	// Raw is the whole verify_token response body.
	Raw json.RawMessage
}

// A Revoker makes a user's tokens issued at or before at refused from now on,
// wherever it keeps that knowledge: a cache of verified tokens (package cache)
// applies it in memory; a shared store applies it on every replica. A zero at
// means now.
//
// Revoke must be safe for concurrent use and must not block for long. An error
// means the revocation may not be in force everywhere it should be: the caller
// should report it (a webhook answers 503) and retry.
type Revoker interface {
	Revoke(ctx context.Context, userID string, at time.Time) error
}

// RevokerFunc adapts an ordinary function to the Revoker interface.
type RevokerFunc func(ctx context.Context, userID string, at time.Time) error

// Revoke calls f(ctx, userID, at).
func (f RevokerFunc) Revoke(ctx context.Context, userID string, at time.Time) error {
	return f(ctx, userID, at)
}
