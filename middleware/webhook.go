package middleware

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// SignatureHeader carries a revoke webhook's signature:
// "sha256=" followed by the hex HMAC-SHA256 of the raw body.
const SignatureHeader = "X-Tokenguard-Signature"

// maxWebhookBody is the largest revoke webhook body accepted, in bytes.
const maxWebhookBody = 4 << 10

// SignWebhook returns the SignatureHeader value for body under secret:
// "sha256=<hex HMAC-SHA256>".
func SignWebhook(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// A WebhookOption configures NewRevokeWebhook.
type WebhookOption func(*webhook)

// WithWebhookClock sets the clock that dates a revocation whose body names no
// time, and bounds one dated in the future.
//
// Default: time.Now.
func WithWebhookClock(now func() time.Time) WebhookOption {
	return func(h *webhook) { h.now = now }
}

// WithWebhookLogger sets the logger of revocations (info) and of refused
// calls (warn).
//
// Default: nil, meaning slog.Default() at the time of each line.
func WithWebhookLogger(l *slog.Logger) WebhookOption {
	return func(h *webhook) { h.log = l }
}

// NewRevokeWebhook returns a handler through which a trusted party (the
// service that revokes sessions through App Services, say) tells this
// process that a user's sessions were revoked, so that r (a cache, or a
// store shared by every replica) refuses the user's earlier tokens at once
// instead of when its cache entries expire.
//
// The call is POST with a JSON body
//
//	{"user_id": "<id>", "revoked_at": <unix seconds, optional>}
//
// and a SignatureHeader made by SignWebhook with the shared secret. It is
// answered:
//
//   - 405 for any other method;
//   - 400 for a body over 4 KiB (checked before the signature,
//     which needs the whole body);
//   - 401 for a missing or wrong signature (compared in constant time, before
//     the JSON is parsed);
//   - 400 for a body that is not one JSON object with a non-empty user_id and
//     at most a positive integer revoked_at: unknown, repeated or
//     differently cased fields and trailing data are refused;
//   - 204 once r.Revoke returned nil. A revoked_at missing or in the future
//     (clock skew) means now;
//   - 503 with Retry-After when r.Revoke returned an error: the revocation
//     may be in force here but not everywhere it should be (a shared store
//     could not be written), so the sender retries.
//
// There is no replay protection: anyone who captured a signed body can send
// it again, which only revokes the same user's tokens again (up to the time
// of the replay when the body names no revoked_at). Use TLS, and name
// revoked_at in bodies, to limit that.
//
// It panics if r is nil or secret is empty: leaving the webhook off when
// there is no secret is the caller's decision.
func NewRevokeWebhook(r verifier.Revoker, secret []byte, opts ...WebhookOption) http.Handler {
	if r == nil {
		panic("middleware: nil Revoker")
	}
	if len(secret) == 0 {
		panic("middleware: empty webhook secret")
	}
	h := &webhook{r: r, secret: bytes.Clone(secret), now: time.Now}
	for _, opt := range opts {
		opt(h)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

type webhook struct {
	r      verifier.Revoker
	secret []byte
	now    func() time.Time
	log    *slog.Logger // nil: slog.Default()
}

// revokeBody is a parsed revoke webhook body.
type revokeBody struct {
	UserID    string
	RevokedAt *int64 // nil: now
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, req, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxWebhookBody+1))
	switch {
	case err != nil:
		h.refuse(w, req, http.StatusBadRequest, "cannot read body")
		return
	case len(body) > maxWebhookBody:
		h.refuse(w, req, http.StatusBadRequest, "body too large")
		return
	}
	if !h.signedBy(req.Header[SignatureHeader], body) {
		h.refuse(w, req, http.StatusUnauthorized, "missing or bad signature")
		return
	}
	rb, ok := parseRevokeBody(body)
	if !ok {
		h.refuse(w, req, http.StatusBadRequest, "bad body")
		return
	}
	now := h.now()
	at := now
	if rb.RevokedAt != nil {
		if t := time.Unix(*rb.RevokedAt, 0); t.Before(now) {
			at = t
		}
	}
	if err := h.r.Revoke(req.Context(), rb.UserID, at); err != nil {
		// Applied where it could be (the Revoker's doc), but maybe not
		// everywhere: the sender must know, and retry.
		h.logger().LogAttrs(req.Context(), slog.LevelWarn, "tokenguard: revocation not applied everywhere",
			slog.String("user_id", rb.UserID), slog.Time("revoked_at", at), slog.Any("error", err))
		w.Header().Set("Retry-After", retryAfterSeconds(defaultRetryAfter))
		h.refuse(w, req, http.StatusServiceUnavailable, "revocation not applied everywhere; retry")
		return
	}
	h.logger().LogAttrs(req.Context(), slog.LevelInfo, "tokenguard: sessions revoked",
		slog.String("user_id", rb.UserID), slog.Time("revoked_at", at))
	w.WriteHeader(http.StatusNoContent)
}

// signedBy reports whether the one signature header value is a valid
// signature of body.
func (h *webhook) signedBy(values []string, body []byte) bool {
	if len(values) != 1 {
		return false
	}
	hexSig, ok := strings.CutPrefix(values[0], "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// parseRevokeBody decodes one JSON object with a non-empty string user_id and
// an optional (or null) positive integer revoked_at, and nothing else. It
// walks the tokens itself because encoding/json matches field names without
// regard to case and lets a repeated key win silently; here a key must be
// spelled exactly and appear once.
func parseRevokeBody(body []byte) (revokeBody, bool) {
	var rb revokeBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return revokeBody{}, false
	}
	var seenUser, seenAt bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return revokeBody{}, false
		}
		key, _ := t.(string)
		if t, err = dec.Token(); err != nil {
			return revokeBody{}, false
		}
		switch {
		case key == "user_id" && !seenUser:
			seenUser = true
			if rb.UserID, _ = t.(string); !validUserID(rb.UserID) {
				return revokeBody{}, false
			}
		case key == "revoked_at" && !seenAt:
			seenAt = true
			if t == nil {
				continue // null: now
			}
			n, isNum := t.(json.Number)
			at, err := n.Int64()
			if !isNum || err != nil || at <= 0 {
				return revokeBody{}, false
			}
			rb.RevokedAt = &at
		default:
			return revokeBody{}, false // unknown or repeated field
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return revokeBody{}, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return revokeBody{}, false // trailing data
	}
	return rb, seenUser
}

func (h *webhook) refuse(w http.ResponseWriter, req *http.Request, status int, msg string) {
	h.logger().LogAttrs(req.Context(), slog.LevelWarn, "tokenguard: revoke webhook refused",
		slog.Int("status", status), slog.String("reason", msg))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"error":"`+msg+`"}`)
}

func (h *webhook) logger() *slog.Logger {
	if h.log != nil {
		return h.log
	}
	return slog.Default()
}
