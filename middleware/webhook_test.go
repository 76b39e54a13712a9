package middleware

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenguard/tokenguard/verifier"
)

var webhookSecret = []byte("s3cret-shared-with-the-revoker")

// fixedNow is the webhook tests' clock.
var fixedNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// revocation is one Revoke call.
type revocation struct {
	userID string
	at     time.Time
}

// fakeRevoker records Revoke calls and answers err.
type fakeRevoker struct {
	err   error
	mu    sync.Mutex // guards calls
	calls []revocation
}

func (f *fakeRevoker) Revoke(_ context.Context, userID string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, revocation{userID, at})
	return f.err
}

func (f *fakeRevoker) all() []revocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]revocation(nil), f.calls...)
}

func newTestWebhook(r verifier.Revoker) http.Handler {
	return NewRevokeWebhook(r, webhookSecret,
		WithWebhookClock(func() time.Time { return fixedNow }), WithWebhookLogger(quiet))
}

// postWebhook sends body with the given signature header values.
func postWebhook(h http.Handler, method, body string, sigs ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/revoke", strings.NewReader(body))
	if sigs != nil {
		req.Header[SignatureHeader] = sigs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func sign(body string) string { return SignWebhook(webhookSecret, []byte(body)) }

func TestRevokeWebhook(t *testing.T) {
	const valid = `{"user_id":"user-1"}`
	padded := `{"user_id":"user-1"}` + strings.Repeat(" ", maxWebhookBody-len(valid))
	oversized := padded + " "
	cases := []struct {
		name   string
		method string
		body   string
		sigs   []string
		status int
		want   *revocation
	}{
		{name: "revoke now", body: valid, sigs: []string{sign(valid)}, status: 204, want: &revocation{"user-1", fixedNow}},
		{
			name: "revoke at a time", body: `{"user_id":"u2","revoked_at":1900000000}`,
			sigs: []string{sign(`{"user_id":"u2","revoked_at":1900000000}`)}, status: 204,
			want: &revocation{"u2", time.Unix(1900000000, 0)},
		},
		{
			name: "null revoked_at means now", body: `{"revoked_at":null,"user_id":"u3"}`,
			sigs: []string{sign(`{"revoked_at":null,"user_id":"u3"}`)}, status: 204,
			want: &revocation{"u3", fixedNow},
		},
		{
			name: "future revoked_at is bounded by now", body: `{"user_id":"u4","revoked_at":4000000000}`,
			sigs: []string{sign(`{"user_id":"u4","revoked_at":4000000000}`)}, status: 204,
			want: &revocation{"u4", fixedNow},
		},
		{name: "exactly the size limit", body: padded, sigs: []string{sign(padded)}, status: 204, want: &revocation{"user-1", fixedNow}},
		{name: "GET", method: http.MethodGet, body: valid, sigs: []string{sign(valid)}, status: 405},
		{name: "PUT", method: http.MethodPut, body: valid, sigs: []string{sign(valid)}, status: 405},
		{name: "missing signature", body: valid, status: 401},
		{name: "empty signature", body: valid, sigs: []string{""}, status: 401},
		{name: "signature by another secret", body: valid, sigs: []string{SignWebhook([]byte("other"), []byte(valid))}, status: 401},
		{name: "signature without prefix", body: valid, sigs: []string{strings.TrimPrefix(sign(valid), "sha256=")}, status: 401},
		{name: "truncated signature", body: valid, sigs: []string{sign(valid)[:40]}, status: 401},
		{name: "signature not hex", body: valid, sigs: []string{"sha256=" + strings.Repeat("zz", 32)}, status: 401},
		{name: "upper-case hex is still hex", body: valid, sigs: []string{"sha256=" + strings.ToUpper(strings.TrimPrefix(sign(valid), "sha256="))}, status: 204, want: &revocation{"user-1", fixedNow}},
		{name: "two signatures", body: valid, sigs: []string{sign(valid), sign(valid)}, status: 401},
		{name: "tampered body under a captured signature", body: `{"user_id":"admin"}`, sigs: []string{sign(valid)}, status: 401},
		{name: "bad JSON with a bad signature is 401 first", body: `{`, sigs: []string{sign(valid)}, status: 401},
		{name: "oversized", body: oversized, sigs: []string{sign(oversized)}, status: 400},
		{name: "bad JSON", body: `{"user_id":`, sigs: []string{sign(`{"user_id":`)}, status: 400},
		{name: "empty body", body: ``, sigs: []string{sign(``)}, status: 400},
		{name: "null", body: `null`, sigs: []string{sign(`null`)}, status: 400},
		{name: "array", body: `[{"user_id":"u"}]`, sigs: []string{sign(`[{"user_id":"u"}]`)}, status: 400},
		{name: "unknown field", body: `{"user_id":"u","scope":"all"}`, sigs: []string{sign(`{"user_id":"u","scope":"all"}`)}, status: 400},
		{name: "differently cased field", body: `{"USER_ID":"u"}`, sigs: []string{sign(`{"USER_ID":"u"}`)}, status: 400},
		{name: "repeated field", body: `{"user_id":"a","user_id":"b"}`, sigs: []string{sign(`{"user_id":"a","user_id":"b"}`)}, status: 400},
		{name: "trailing data", body: valid + `{}`, sigs: []string{sign(valid + `{}`)}, status: 400},
		{name: "trailing garbage", body: valid + `x`, sigs: []string{sign(valid + `x`)}, status: 400},
		{name: "empty user_id", body: `{"user_id":""}`, sigs: []string{sign(`{"user_id":""}`)}, status: 400},
		{name: "no user_id", body: `{"revoked_at":1}`, sigs: []string{sign(`{"revoked_at":1}`)}, status: 400},
		{name: "user_id not a string", body: `{"user_id":7}`, sigs: []string{sign(`{"user_id":7}`)}, status: 400},
		{name: "user_id with newline", body: `{"user_id":"a\nb"}`, sigs: []string{sign(`{"user_id":"a\nb"}`)}, status: 400},
		{name: "negative revoked_at", body: `{"user_id":"u","revoked_at":-5}`, sigs: []string{sign(`{"user_id":"u","revoked_at":-5}`)}, status: 400},
		{name: "fractional revoked_at", body: `{"user_id":"u","revoked_at":1.5}`, sigs: []string{sign(`{"user_id":"u","revoked_at":1.5}`)}, status: 400},
		{name: "string revoked_at", body: `{"user_id":"u","revoked_at":"1"}`, sigs: []string{sign(`{"user_id":"u","revoked_at":"1"}`)}, status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r fakeRevoker
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			rec := postWebhook(newTestWebhook(&r), method, tc.body, tc.sigs...)
			require.Equal(t, tc.status, rec.Code, "body %q", rec.Body.String())
			if tc.status == http.StatusMethodNotAllowed {
				assert.Equal(t, "POST", rec.Header().Get("Allow"))
			}
			if tc.want == nil {
				assert.Empty(t, r.all(), "no revocation on a refused call")
				return
			}
			assert.Equal(t, []revocation{*tc.want}, r.all())
			assert.Empty(t, rec.Body.String())
		})
	}
}

// TestRevokeWebhookReplay documents the known limit: an identical signed
// body sent again is accepted and only revokes the same user again.
func TestRevokeWebhookReplay(t *testing.T) {
	var r fakeRevoker
	h := newTestWebhook(&r)
	body := `{"user_id":"user-1","revoked_at":1900000000}`
	for range 2 {
		rec := postWebhook(h, http.MethodPost, body, sign(body))
		require.Equal(t, http.StatusNoContent, rec.Code)
	}
	want := revocation{"user-1", time.Unix(1900000000, 0)}
	assert.Equal(t, []revocation{want, want}, r.all())
}

// A Revoker that fails (a shared store that cannot be written) makes the
// webhook answer 503 with Retry-After, so the sender retries; the Revoker was
// still asked, so it can apply what it can locally.
func TestRevokeWebhookRevokerFails(t *testing.T) {
	r := fakeRevoker{err: fmt.Errorf("store down: %w", verifier.ErrUnavailable)}
	h := newTestWebhook(&r)
	body := `{"user_id":"user-1","revoked_at":1900000000}`
	rec := postWebhook(h, http.MethodPost, body, sign(body))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "2", rec.Header().Get("Retry-After"))
	assert.JSONEq(t, `{"error":"revocation not applied everywhere; retry"}`, rec.Body.String())
	assert.Equal(t, []revocation{{"user-1", time.Unix(1900000000, 0)}}, r.all())
}

func TestRevokeWebhookPanics(t *testing.T) {
	assert.PanicsWithValue(t, "middleware: nil Revoker", func() { NewRevokeWebhook(nil, webhookSecret) })
	assert.PanicsWithValue(t, "middleware: empty webhook secret", func() { NewRevokeWebhook(&fakeRevoker{}, nil) })
	assert.PanicsWithValue(t, "middleware: empty webhook secret", func() { NewRevokeWebhook(&fakeRevoker{}, []byte{}) })
}

func TestRevokeWebhookCopiesSecret(t *testing.T) {
	secret := []byte("secret")
	var r fakeRevoker
	h := NewRevokeWebhook(&r, secret, WithWebhookLogger(quiet))
	body := `{"user_id":"u"}`
	sig := SignWebhook(secret, []byte(body))
	secret[0] = 'X' // the caller reuses its buffer
	rec := postWebhook(h, http.MethodPost, body, sig)
	assert.Equal(t, http.StatusNoContent, rec.Code)
}

func TestRevokeWebhookDefaultClock(t *testing.T) {
	var r fakeRevoker
	h := NewRevokeWebhook(&r, webhookSecret, WithWebhookLogger(quiet), WithWebhookClock(nil))
	before := time.Now()
	rec := postWebhook(h, http.MethodPost, `{"user_id":"u"}`, sign(`{"user_id":"u"}`))
	require.Equal(t, http.StatusNoContent, rec.Code)
	calls := r.all()
	require.Len(t, calls, 1)
	assert.False(t, calls[0].at.Before(before), "a nil clock means time.Now")
}

func TestSignWebhook(t *testing.T) {
	// HMAC-SHA256 test case 2 of RFC 4231.
	got := SignWebhook([]byte("Jefe"), []byte("what do ya want for nothing?"))
	assert.Equal(t, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", got)
}
