package middleware

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a revoke webhook's signature:
//
//	X-Tokenguard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
//
// the scheme of Stripe's and Slack's webhooks. The time is signed with the
// body, so a captured call is accepted only within the webhook's tolerance
// of it (WithWebhookTolerance). More than one v1 may be given (a sender
// rotating its secret signs with both); any one that verifies is enough.
const SignatureHeader = "X-Tokenguard-Signature"

// MinWebhookSecretLen is the shortest revoke webhook secret accepted, in
// bytes: 32 bytes, the output size of SHA-256, so that the secret is not the
// weaker half of HMAC-SHA256. `openssl rand -hex 32` makes a 64-byte one.
const MinWebhookSecretLen = 32

// Bounds of a signature header, so that parsing an attacker's header costs
// little: its length, and the v1 values in it.
const (
	maxSignatureHeader = 1024
	maxSignatures      = 4
)

// SignWebhook returns the SignatureHeader value for body under secret at
// time t: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>".
func SignWebhook(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signatureMAC(secret, ts, body))
}

// signatureMAC is HMAC-SHA256(secret, ts + "." + body).
func signatureMAC(secret []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// signature is a parsed SignatureHeader.
type signature struct {
	ts   string // the t value as sent (decimal digits), which is what was signed
	unix int64
	v1   [][]byte // each sha256.Size bytes
}

// parseSignature parses one SignatureHeader value: comma-separated key=value
// items, exactly one t (1 to 18 decimal digits, no sign) and 1 to
// maxSignatures v1 (64 hex digits each). Items of other keys (a future v2,
// Stripe's v0) are ignored, so that a sender can add a scheme before every
// receiver knows it; spaces, empty items and anything over
// maxSignatureHeader bytes are refused. The old "sha256=<hex>" form has no t
// and is refused.
func parseSignature(v string) (signature, bool) {
	if len(v) == 0 || len(v) > maxSignatureHeader {
		return signature{}, false
	}
	var s signature
	seenT := false
	for item := range strings.SplitSeq(v, ",") {
		key, val, ok := strings.Cut(item, "=")
		if !ok || key == "" {
			return signature{}, false
		}
		switch key {
		case "t":
			if seenT || !validUnixSeconds(val) {
				return signature{}, false
			}
			seenT = true
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return signature{}, false
			}
			s.ts, s.unix = val, n
		case "v1":
			if len(s.v1) == maxSignatures || len(val) != 2*sha256.Size {
				return signature{}, false
			}
			b, err := hex.DecodeString(val)
			if err != nil {
				return signature{}, false
			}
			s.v1 = append(s.v1, b)
		default:
			if !validSignatureKey(key) {
				return signature{}, false
			}
		}
	}
	if !seenT || len(s.v1) == 0 {
		return signature{}, false
	}
	return s, true
}

// validUnixSeconds reports whether v is 1 to 18 decimal digits (no sign, no
// spaces), which ParseInt cannot overflow on.
func validUnixSeconds(v string) bool {
	if len(v) == 0 || len(v) > 18 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// validSignatureKey reports whether key is a plausible item key: lower-case
// letters and digits, at most 16 of them.
func validSignatureKey(key string) bool {
	if len(key) > 16 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// verifies reports whether any of s's v1 values is the signature of body
// under any of secrets. Every pair is compared, in constant time, whatever
// matched first, so the time taken tells nothing about which one did.
func (s signature) verifies(secrets [][]byte, body []byte) bool {
	ok := 0
	for _, secret := range secrets {
		want := signatureMAC(secret, s.ts, body)
		for _, got := range s.v1 {
			if hmac.Equal(got, want) {
				ok = 1
			}
		}
	}
	return ok == 1
}

// within reports whether the signed time is at most tolerance away from now,
// in either direction.
func (s signature) within(now time.Time, tolerance time.Duration) bool {
	d := now.Sub(time.Unix(s.unix, 0))
	return d <= tolerance && d >= -tolerance
}
