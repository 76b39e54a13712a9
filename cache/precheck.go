package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/verifier"
)

// maxTokenLen bounds the tokens the cache will hash or parse. App Services
// access tokens are a few hundred bytes, a few KiB with large custom user
// data; anything longer is refused as malformed before any work is done.
const maxTokenLen = 64 << 10

// reason classifies a local refusal, for tokenguard_precheck_rejections_total.
type reason uint8

const (
	reasonMalformed reason = iota
	reasonExpired
	reasonWrongType
	reasonRevoked
	numReasons
)

var reasonNames = [numReasons]string{"malformed", "expired", "wrong_type", "revoked"}

// Pre-check refusals. They are fixed values and never mention the token.
var (
	errEmpty      = fmt.Errorf("cache: empty token: %w", verifier.ErrMalformedToken)
	errTooLong    = fmt.Errorf("cache: token longer than %d bytes: %w", maxTokenLen, verifier.ErrInvalidToken)
	errMalformed  = fmt.Errorf("cache: malformed token: not a JWT of base64url-encoded JSON segments: %w", verifier.ErrInvalidToken)
	errBadAlg     = fmt.Errorf("cache: malformed token: missing, unknown or \"none\" alg: %w", verifier.ErrInvalidToken)
	errNoExp      = fmt.Errorf("cache: malformed token: no exp claim: %w", verifier.ErrInvalidToken)
	errExpired    = fmt.Errorf("cache: %w", verifier.ErrTokenExpired)
	errRefresh    = fmt.Errorf("cache: refresh token where an access token is required: %w", verifier.ErrInvalidToken)
	errWrongType  = fmt.Errorf("cache: token typ is not \"access\": %w", verifier.ErrInvalidToken)
	errRevoked    = fmt.Errorf("cache: token issued before its user's revocation: %w", verifier.ErrRevoked)
	errBelowFloor = fmt.Errorf("cache: token issued before the revocation watermark: %w", verifier.ErrRevoked)
)

// claims are the few claims the cache reads before trusting anything. They
// are unverified until the upstream has accepted the token.
type claims struct {
	sub string
	iat time.Time // zero when absent
	exp time.Time
}

// accessClaims is the JSON shape of the claims precheck reads; pointers
// tell an absent claim from a zero one. It satisfies jwt.Claims only so that
// golang-jwt can decode into it: ParseUnverified validates nothing.
type accessClaims struct {
	Sub string   `json:"sub"`
	Typ typClaim `json:"typ"`
	Exp *float64 `json:"exp"`
	Iat *float64 `json:"iat"`
}

// typClaim records whether typ was present at all (null included) and
// whether it was the string "access" or "refresh".
type typClaim struct {
	present bool
	value   string // "" unless a JSON string
}

func (t *typClaim) UnmarshalJSON(b []byte) error {
	t.present, t.value = true, ""
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &t.value)
	}
	return nil
}

func (*accessClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (*accessClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (*accessClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (*accessClaims) GetIssuer() (string, error)                   { return "", nil }
func (*accessClaims) GetSubject() (string, error)                  { return "", nil }
func (*accessClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// parser is stateless and safe for concurrent use.
var parser = jwt.NewParser()

// precheck refuses, without a network call, a token that cannot be a valid
// App Services access token:
//   - one that fails verifier.CheckSyntax (verifier.ErrMalformedToken:
//     characters outside token68, which the middleware answers 400);
//   - one that is not a well-formed JWT: golang-jwt's ParseUnverified
//     refuses it (three base64url segments, a JSON header whose alg it
//     knows, JSON claims), its alg is "none", or it has no numeric exp;
//   - one whose typ claim is present (null included) and not "access"
//     (refresh tokens carry "refresh");
//   - one that expired at least skew ago (now >= exp + skew). The leeway
//     absorbs clock skew with App Services, which stays the judge of the
//     last seconds of a token's life.
//
// The signature cannot be checked here: the key is App Services' secret.
// Decoding by hand (base64 + encoding/json into the same struct) saves about
// a microsecond of a miss that goes on to an HTTP call; golang-jwt reads the
// header exactly (see doc.go, Performance).
func precheck(token string, now time.Time, skew time.Duration) (claims, reason, error) {
	if err := verifier.CheckSyntax(token); err != nil {
		return claims{}, reasonMalformed, err
	}
	var ac accessClaims
	t, _, err := parser.ParseUnverified(token, &ac)
	switch {
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return claims{}, reasonMalformed, errBadAlg
	case err != nil:
		return claims{}, reasonMalformed, errMalformed
	case t.Method == jwt.SigningMethodNone:
		return claims{}, reasonMalformed, errBadAlg
	case ac.Exp == nil:
		return claims{}, reasonMalformed, errNoExp
	}
	c := claims{sub: ac.Sub, exp: numericDate(*ac.Exp)}
	if ac.Iat != nil {
		c.iat = numericDate(*ac.Iat)
	}
	if ac.Typ.present && ac.Typ.value != "access" {
		if ac.Typ.value == "refresh" {
			return c, reasonWrongType, errRefresh
		}
		return c, reasonWrongType, errWrongType
	}
	if !now.Before(c.exp.Add(skew)) {
		return c, reasonExpired, errExpired
	}
	return c, 0, nil
}

// numericDate converts a JWT NumericDate (seconds, possibly fractional) to a
// time, clamping absurd values into a range time.Time represents exactly.
func numericDate(f float64) time.Time {
	const limit = 1 << 40 // about 34,800 years
	switch {
	case f > limit:
		f = limit
	case f < -limit:
		f = -limit
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9))
}
