package appservices

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tokenguard/tokenguard/verifier"
)

// errExpired is verify_token's "token expired" answer.
var errExpired = fmt.Errorf("appservices: %w", verifier.ErrTokenExpired)

// tokenExpired is the JSON string verify_token answers, with status 200, for
// a well-formed token whose lifetime has ended.
const tokenExpired = "token expired"

// Verify implements verifier.Verifier; it is VerifyToken.
func (c *Client) Verify(ctx context.Context, token string) (*verifier.User, error) {
	return c.VerifyToken(ctx, token)
}

// VerifyToken asks App Services to verify a client access token
// (POST /users/verify_token {"token"}) and returns the claims it vouches for.
// The answers map as follows:
//
//   - 200 with a claims object: the *verifier.User. An object without "sub" cannot be
//     trusted and is verifier.ErrUnavailable.
//   - 200 with the JSON string "token expired": verifier.ErrTokenExpired.
//   - 200 with any other JSON string: verifier.ErrInvalidToken. App Services answers
//     strings only to refuse a token, so an unknown one is a refusal too.
//   - 400, or 401 without error_code InvalidSession ("signature is invalid";
//     the docs say 401, the OpenAPI spec 400): verifier.ErrInvalidToken, wrapping the
//     *APIError.
//   - 401 InvalidSession is about the admin session, never the user's token:
//     the session is renewed and the call sent once more; if that fails too,
//     verifier.ErrUnavailable.
//   - Any other status (5xx, 429 with APIError.RetryDelay, 403, 404, ...), a
//     timeout, a connection failure, a body over 1 MiB or one that is not
//     JSON: verifier.ErrUnavailable, wrapping the cause (errors.As finds the *APIError).
//
// An empty token is verifier.ErrInvalidToken without a call. If ctx ends first, the
// error wraps ctx.Err() (and is verifier.ErrUnavailable too). Error messages never
// contain the token.
func (c *Client) VerifyToken(ctx context.Context, token string) (*verifier.User, error) {
	if err := verifier.CheckSyntax(token); err != nil {
		// Junk never leaves the process (and is never put in a body).
		return nil, fmt.Errorf("appservices: verify token: %w", err)
	}
	resp, err := c.call(ctx, "verify token", http.MethodPost, c.verifyURL, verifyBody(token))
	if err != nil {
		return nil, err
	}
	body := resp.body
	if resp.status != http.StatusOK && bytes.Contains(body, []byte(token)) {
		// An upstream that echoes the token must not leak it into logs.
		// Scrub the whole body before any of it is cut to a message, so no
		// part of the token survives the cut either.
		body = bytes.ReplaceAll(body, []byte(token), []byte("[token]"))
	}
	if resp.renewed && resp.status == http.StatusUnauthorized {
		if msg, code := errorFields(body); code == "" && isAdminSessionError(code, msg) {
			// A 401 "invalid session" without a code is both what an
			// expired admin session and what a revoked user session get.
			// The same answer to a fresh admin token is the user's token's.
			ae := (&response{status: resp.status, header: resp.header, body: body}).apiError(c.now())
			return nil, &invalidTokenError{reason: "refused", api: ae}
		}
	}
	return decodeVerifyResponse(resp.status, resp.header, body, c.now())
}

// verifyBody returns {"token":"<token>"}. JWTs are plain ASCII, which is
// written as is; anything else goes through encoding/json.
//
// The body is a fresh slice rather than a pooled buffer: a RoundTripper may
// still read a request body after RoundTrip returns, so returning it to a
// pool would need close tracking to save one small allocation.
func verifyBody(token string) []byte {
	for i := 0; i < len(token); i++ {
		if b := token[i]; b < 0x20 || b >= utf8.RuneSelf || b == '"' || b == '\\' {
			quoted, _ := json.Marshal(token) // cannot fail for a string
			return append(append([]byte(`{"token":`), quoted...), '}')
		}
	}
	b := make([]byte, 0, len(token)+len(`{"token":""}`))
	b = append(b, `{"token":"`...)
	b = append(b, token...)
	return append(b, `"}`...)
}

// decodeVerifyResponse maps a verify_token answer to its outcome, as
// documented on VerifyToken. It never returns (nil, nil) nor both values.
func decodeVerifyResponse(status int, header http.Header, body []byte, now time.Time) (*verifier.User, error) {
	if status == http.StatusOK {
		return decodeClaims(body)
	}
	ae := (&response{status: status, header: header, body: body}).apiError(now)
	if status == http.StatusBadRequest || (status == http.StatusUnauthorized && !isAdminSessionError(ae.Code, ae.Message)) {
		return nil, &invalidTokenError{reason: "refused", api: ae}
	}
	return nil, &unavailableError{op: "verify token", err: ae}
}

// verifyClaims is the claims object of a 200 answer.
type verifyClaims struct {
	Sub            string          `json:"sub"`
	Iss            string          `json:"iss"`
	DomainID       string          `json:"domain_id"`
	DeviceID       string          `json:"device_id"`
	Iat            unixTime        `json:"iat"`
	Exp            unixTime        `json:"exp"`
	Aud            audience        `json:"aud"`
	Data           flexString      `json:"data"`
	CustomUserData json.RawMessage `json:"custom_user_data"`
}

// decodeClaims decodes the body of a 200 answer: a claims object or a string.
func decodeClaims(body []byte) (*verifier.User, error) {
	switch firstByte(body) {
	case '{':
		var cl verifyClaims
		if err := json.Unmarshal(body, &cl); err != nil {
			return nil, &unavailableError{op: "verify token", err: fmt.Errorf("decoding claims: %w", err)}
		}
		if cl.Sub == "" {
			return nil, &unavailableError{op: "verify token", err: errors.New(`claims without "sub"`)}
		}
		u := &verifier.User{
			ID:        cl.Sub,
			SessionID: cl.Iss,
			DomainID:  cl.DomainID,
			DeviceID:  cl.DeviceID,
			IssuedAt:  time.Time(cl.Iat),
			ExpiresAt: time.Time(cl.Exp),
			Audience:  cl.Aud,
			Data:      string(cl.Data),
			Raw:       body,
		}
		if string(cl.CustomUserData) != "null" {
			u.CustomUserData = cl.CustomUserData
		}
		return u, nil
	case '"':
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			return nil, &unavailableError{op: "verify token", err: fmt.Errorf("decoding answer: %w", err)}
		}
		if s == tokenExpired {
			return nil, errExpired
		}
		// The string is not quoted back: it might echo the token.
		return nil, &invalidTokenError{reason: "verify_token answered a string other than claims"}
	}
	return nil, &unavailableError{op: "verify token", err: errors.New("200 answer is neither a claims object nor a string")}
}

// firstByte returns the first byte of b that is not JSON white space, or 0.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// invalidTokenError reports a token App Services refused. It is
// verifier.ErrInvalidToken and, when there is one, the *APIError of the answer.
type invalidTokenError struct {
	reason string
	api    *APIError // nil for a 200 string answer or an empty token
}

func (e *invalidTokenError) Error() string {
	if e.api != nil {
		return "appservices: invalid token: " + e.api.Error()
	}
	return "appservices: invalid token: " + e.reason
}

func (e *invalidTokenError) Unwrap() []error {
	if e.api != nil {
		return []error{verifier.ErrInvalidToken, e.api}
	}
	return []error{verifier.ErrInvalidToken}
}

// unixTime decodes integer (or fractional) Unix seconds; null, absent or 0
// is the zero time.Time.
type unixTime time.Time

// maxUnixSeconds keeps conversions well inside int64 nanoseconds' range.
const maxUnixSeconds = 1 << 40

func (t *unixTime) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	var sec, nsec int64
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		sec = n
	} else {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("appservices: %.40q is not Unix seconds", s)
		}
		if math.Abs(f) > maxUnixSeconds {
			return fmt.Errorf("appservices: Unix seconds %g out of range", f)
		}
		whole, frac := math.Modf(f)
		sec, nsec = int64(whole), int64(frac*1e9)
	}
	if sec > maxUnixSeconds || sec < -maxUnixSeconds {
		return fmt.Errorf("appservices: Unix seconds %d out of range", sec)
	}
	if sec == 0 && nsec == 0 {
		*t = unixTime{}
		return nil
	}
	*t = unixTime(time.Unix(sec, nsec))
	return nil
}

// audience decodes an "aud" claim sent as a single string or an array.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case 'n':
		*a = nil
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	*a = ss
	return nil
}

// flexString decodes a JSON string, or keeps any other JSON value as its text
// ("data" is documented as a string; an object is kept rather than refused).
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case 'n':
		*s = ""
		return nil
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	*s = flexString(b)
	return nil
}
