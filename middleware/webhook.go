package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// maxWebhookBody is the largest revoke webhook body accepted, in bytes.
const maxWebhookBody = 4 << 10

// defaultWebhookTolerance is how far a signature's time may be from now.
const defaultWebhookTolerance = 5 * time.Minute

// A WebhookOption configures NewRevokeWebhook.
type WebhookOption func(*webhook)

// WithWebhookClock sets the clock that dates a revocation whose body names no
// time, and bounds one dated in the future.
//
// Default: time.Now.
func WithWebhookClock(now func() time.Time) WebhookOption {
	return func(h *webhook) { h.now = now }
}

// WithWebhookTolerance sets how far from now, in either direction, the time
// of a signature may be: a call signed longer ago (a replay) or further in
// the future is refused with 401. It is the window in which a captured call
// can be replayed; it must cover the clock skew between sender and receiver
// and the time a call may take to arrive (retries included). A tolerance
// <= 0 means the default.
//
// Default: 5 minutes.
func WithWebhookTolerance(d time.Duration) WebhookOption {
	return func(h *webhook) { h.tolerance = d }
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
// and a SignatureHeader made by SignWebhook with one of secrets (more than
// one lets a secret be rotated without downtime: any listed one verifies).
// It is answered:
//
//   - 405 for any other method;
//   - 400 for a body over 4 KiB (checked before the signature,
//     which needs the whole body);
//   - 401 for a missing, malformed or wrong signature (HMACs compared in
//     constant time, before the JSON is parsed), for the pre-timestamp
//     "sha256=<hex>" form, and for a signature whose time is more than the
//     tolerance (WithWebhookTolerance, 5 minutes) from now either way;
//   - 400 for a body that is not one JSON object with a non-empty user_id and
//     at most a positive integer revoked_at: unknown, repeated or
//     differently cased fields and trailing data are refused;
//   - 204 once r.Revoke returned nil. A missing revoked_at means the
//     signature's time, so that a replay of the same call revokes nothing
//     more; revoked_at (or the signature's time) in the future (clock skew)
//     means now;
//   - 503 with Retry-After when r.Revoke returned an error: the revocation
//     may be in force here but not everywhere it should be (a shared store
//     could not be written), so the sender retries.
//
// A captured call can be replayed only within the tolerance, and a replay
// only revokes the same user's tokens of the same time again. Use TLS all
// the same: the body names a user id.
//
// It panics if r is nil, if secrets is empty, or if a secret is shorter than
// MinWebhookSecretLen: leaving the webhook off when there is no secret is the
// caller's decision. The secrets are copied.
func NewRevokeWebhook(r verifier.Revoker, secrets [][]byte, opts ...WebhookOption) http.Handler {
	if r == nil {
		panic("middleware: nil Revoker")
	}
	if len(secrets) == 0 {
		panic("middleware: no webhook secret")
	}
	h := &webhook{r: r, now: time.Now}
	for _, s := range secrets {
		if len(s) < MinWebhookSecretLen {
			panic("middleware: webhook secret shorter than MinWebhookSecretLen (32 bytes)")
		}
		h.secrets = append(h.secrets, bytes.Clone(s))
	}
	for _, opt := range opts {
		opt(h)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.tolerance <= 0 {
		h.tolerance = defaultWebhookTolerance
	}
	return h
}

type webhook struct {
	r         verifier.Revoker
	secrets   [][]byte
	now       func() time.Time
	tolerance time.Duration
	log       *slog.Logger // nil: slog.Default()
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
	// Refusals that need no body come before reading it, so that a sender
	// without a signature cannot hold the listener by sending the body
	// slowly.
	sig, ok := oneSignature(req.Header[SignatureHeader])
	if !ok {
		h.refuseOwed(w, req, http.StatusUnauthorized, "missing or bad signature")
		return
	}
	if req.ContentLength > maxWebhookBody {
		h.refuseOwed(w, req, http.StatusBadRequest, "body too large")
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
	now := h.now()
	if !sig.verifies(h.secrets, body) {
		h.refuse(w, req, http.StatusUnauthorized, "missing or bad signature")
		return
	}
	if !sig.within(now, h.tolerance) {
		h.refuse(w, req, http.StatusUnauthorized, "signature time outside the tolerance")
		return
	}
	rb, ok := parseRevokeBody(body)
	if !ok {
		h.refuse(w, req, http.StatusBadRequest, "bad body")
		return
	}
	at := time.Unix(sig.unix, 0)
	if rb.RevokedAt != nil {
		at = time.Unix(*rb.RevokedAt, 0)
	}
	if at.After(now) {
		at = now
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

// refuseOwed is refuse for a request whose body has not been read: when
// body bytes are still owed, the answer carries Connection: close and the
// read deadline is cut, as Middleware refusals do.
func (h *webhook) refuseOwed(w http.ResponseWriter, req *http.Request, status int, msg string) {
	answerUnread(w, req, func() { h.refuse(w, req, status, msg) })
}

// oneSignature parses the request's one signature header value.
func oneSignature(values []string) (signature, bool) {
	if len(values) != 1 {
		return signature{}, false
	}
	return parseSignature(values[0])
}

func (h *webhook) logger() *slog.Logger {
	if h.log != nil {
		return h.log
	}
	return slog.Default()
}
