package middleware

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenguard/tokenguard/verifier"
)

var webhookSecret = []byte("s3cret-shared-with-the-revoker-32+bytes")

// otherSecret is a second secret, as during a rotation.
var otherSecret = []byte("the-next-secret-of-the-revoker-32+bytes")

// fixedNow is the webhook tests' clock.
var fixedNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// nowUnix is fixedNow in Unix seconds, as a signature's t.
var nowUnix = strconv.FormatInt(fixedNow.Unix(), 10)

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
	f.calls = append(f.calls, revocation{userID, at.UTC()})
	return f.err
}

func (f *fakeRevoker) all() []revocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]revocation(nil), f.calls...)
}

func newTestWebhook(r verifier.Revoker) http.Handler {
	return NewRevokeWebhook(r, [][]byte{webhookSecret},
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

// sign signs body with webhookSecret at fixedNow, the webhook's clock.
func sign(body string) string { return SignWebhook(webhookSecret, []byte(body), fixedNow) }

// signAt signs body with webhookSecret at t.
func signAt(body string, t time.Time) string { return SignWebhook(webhookSecret, []byte(body), t) }

// v1Of returns the v1 value of a signature made by SignWebhook.
func v1Of(sig string) string { _, v1, _ := strings.Cut(sig, ",v1="); return v1 }

// legacySign is the pre-timestamp form, "sha256=<hex HMAC-SHA256(body)>".
func legacySign(body string) string {
	mac := hmac.New(sha256.New, webhookSecret)
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

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
			want: &revocation{"u2", time.Unix(1900000000, 0).UTC()},
		},
		{
			name: "null revoked_at means the signature's time", body: `{"revoked_at":null,"user_id":"u3"}`,
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
		{name: "signature by another secret", body: valid, sigs: []string{SignWebhook(otherSecret, []byte(valid), fixedNow)}, status: 401},
		{name: "old sha256= form", body: valid, sigs: []string{legacySign(valid)}, status: 401},
		{name: "no t", body: valid, sigs: []string{"v1=" + v1Of(sign(valid))}, status: 401},
		{name: "no v1", body: valid, sigs: []string{"t=" + nowUnix}, status: 401},
		{name: "t in another place is the same signature", body: valid, sigs: []string{"v1=" + v1Of(sign(valid)) + ",t=" + nowUnix}, status: 204, want: &revocation{"user-1", fixedNow}},
		{name: "unknown scheme ignored", body: valid, sigs: []string{sign(valid) + ",v0=abc"}, status: 204, want: &revocation{"user-1", fixedNow}},
		{name: "a second, wrong v1 beside a right one", body: valid, sigs: []string{sign(valid) + ",v1=" + strings.Repeat("00", 32)}, status: 204, want: &revocation{"user-1", fixedNow}},
		{name: "signed at another time than it says", body: valid, sigs: []string{"t=" + nowUnix + ",v1=" + v1Of(signAt(valid, fixedNow.Add(-time.Second)))}, status: 401},
		{name: "truncated signature", body: valid, sigs: []string{sign(valid)[:40]}, status: 401},
		{name: "signature not hex", body: valid, sigs: []string{"t=" + nowUnix + ",v1=" + strings.Repeat("zz", 32)}, status: 401},
		{name: "upper-case hex is still hex", body: valid, sigs: []string{"t=" + nowUnix + ",v1=" + strings.ToUpper(v1Of(sign(valid)))}, status: 204, want: &revocation{"user-1", fixedNow}},
		{name: "space after the comma", body: valid, sigs: []string{strings.Replace(sign(valid), ",", ", ", 1)}, status: 401},
		{name: "signed t with a sign", body: valid, sigs: []string{"t=+" + nowUnix + ",v1=" + v1Of(sign(valid))}, status: 401},
		{name: "two t", body: valid, sigs: []string{"t=" + nowUnix + "," + sign(valid)}, status: 401},
		{name: "5 minutes old", body: valid, sigs: []string{signAt(valid, fixedNow.Add(-5*time.Minute))}, status: 204, want: &revocation{"user-1", fixedNow.Add(-5 * time.Minute)}},
		{name: "5 minutes 1 second old", body: valid, sigs: []string{signAt(valid, fixedNow.Add(-5*time.Minute-time.Second))}, status: 401},
		{name: "5 minutes ahead", body: valid, sigs: []string{signAt(valid, fixedNow.Add(5*time.Minute))}, status: 204, want: &revocation{"user-1", fixedNow}},
		{name: "5 minutes 1 second ahead", body: valid, sigs: []string{signAt(valid, fixedNow.Add(5*time.Minute+time.Second))}, status: 401},
		{name: "t far in the future", body: valid, sigs: []string{"t=999999999999999999,v1=" + v1Of(signAt(valid, time.Unix(999999999999999999, 0)))}, status: 401},
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

// A captured call is accepted again only within the tolerance of its
// signature's time (an injected clock moves past it), and a body without
// revoked_at is dated at the signature's time, so a replay within the window
// revokes nothing more than the original did.
func TestRevokeWebhookReplay(t *testing.T) {
	var r fakeRevoker
	now := fixedNow
	h := NewRevokeWebhook(&r, [][]byte{webhookSecret}, WithWebhookLogger(quiet),
		WithWebhookClock(func() time.Time { return now }))
	body := `{"user_id":"user-1"}`
	sig := sign(body)
	for _, step := range []struct {
		at     time.Duration
		status int
	}{{0, 204}, {4 * time.Minute, 204}, {5*time.Minute + time.Second, 401}} {
		now = fixedNow.Add(step.at)
		rec := postWebhook(h, http.MethodPost, body, sig)
		require.Equal(t, step.status, rec.Code, "replayed %v later", step.at)
	}
	want := revocation{"user-1", fixedNow}
	assert.Equal(t, []revocation{want, want}, r.all(), "the replay revoked the same time, not its own")
}

// WithWebhookTolerance moves the window; a non-positive one is the default.
func TestRevokeWebhookTolerance(t *testing.T) {
	body := `{"user_id":"u"}`
	for _, tc := range []struct {
		tolerance time.Duration
		age       time.Duration
		status    int
	}{
		{time.Minute, time.Minute, 204},
		{time.Minute, time.Minute + time.Second, 401},
		{time.Minute, -time.Minute - time.Second, 401},
		{0, 5 * time.Minute, 204},
		{-time.Second, 5*time.Minute + time.Second, 401},
	} {
		var r fakeRevoker
		h := NewRevokeWebhook(&r, [][]byte{webhookSecret}, WithWebhookLogger(quiet), WithWebhookTolerance(tc.tolerance),
			WithWebhookClock(func() time.Time { return fixedNow }))
		rec := postWebhook(h, http.MethodPost, body, signAt(body, fixedNow.Add(-tc.age)))
		assert.Equal(t, tc.status, rec.Code, "tolerance %v, signed %v ago", tc.tolerance, tc.age)
	}
}

// Any listed secret verifies, so a sender can switch secrets while the
// receivers list both.
func TestRevokeWebhookRotation(t *testing.T) {
	var r fakeRevoker
	h := NewRevokeWebhook(&r, [][]byte{webhookSecret, otherSecret}, WithWebhookLogger(quiet),
		WithWebhookClock(func() time.Time { return fixedNow }))
	body := `{"user_id":"u"}`
	for _, secret := range [][]byte{webhookSecret, otherSecret} {
		rec := postWebhook(h, http.MethodPost, body, SignWebhook(secret, []byte(body), fixedNow))
		assert.Equal(t, http.StatusNoContent, rec.Code)
	}
	rec := postWebhook(h, http.MethodPost, body, SignWebhook([]byte("not-a-listed-secret-but-32-bytes-long"), []byte(body), fixedNow))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Len(t, r.all(), 2)
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
	assert.Equal(t, []revocation{{"user-1", time.Unix(1900000000, 0).UTC()}}, r.all())
}

func TestRevokeWebhookPanics(t *testing.T) {
	short := "middleware: webhook secret shorter than MinWebhookSecretLen (32 bytes)"
	assert.PanicsWithValue(t, "middleware: nil Revoker", func() { NewRevokeWebhook(nil, [][]byte{webhookSecret}) })
	assert.PanicsWithValue(t, "middleware: no webhook secret", func() { NewRevokeWebhook(&fakeRevoker{}, nil) })
	assert.PanicsWithValue(t, short, func() { NewRevokeWebhook(&fakeRevoker{}, [][]byte{{}}) })
	assert.PanicsWithValue(t, short, func() { NewRevokeWebhook(&fakeRevoker{}, [][]byte{webhookSecret, []byte(strings.Repeat("x", 31))}) })
	assert.NotPanics(t, func() { NewRevokeWebhook(&fakeRevoker{}, [][]byte{[]byte(strings.Repeat("x", 32))}) })
}

func TestRevokeWebhookCopiesSecret(t *testing.T) {
	secret := bytes.Clone(webhookSecret)
	var r fakeRevoker
	h := NewRevokeWebhook(&r, [][]byte{secret}, WithWebhookLogger(quiet), WithWebhookClock(func() time.Time { return fixedNow }))
	body := `{"user_id":"u"}`
	sig := SignWebhook(secret, []byte(body), fixedNow)
	secret[0] = 'X' // the caller reuses its buffer
	rec := postWebhook(h, http.MethodPost, body, sig)
	assert.Equal(t, http.StatusNoContent, rec.Code)
}

func TestRevokeWebhookDefaultClock(t *testing.T) {
	var r fakeRevoker
	h := NewRevokeWebhook(&r, [][]byte{webhookSecret}, WithWebhookLogger(quiet), WithWebhookClock(nil))
	before := time.Now().Truncate(time.Second)
	rec := postWebhook(h, http.MethodPost, `{"user_id":"u"}`, signAt(`{"user_id":"u"}`, time.Now()))
	require.Equal(t, http.StatusNoContent, rec.Code)
	calls := r.all()
	require.Len(t, calls, 1)
	assert.False(t, calls[0].at.Before(before), "a nil clock means time.Now")
}

func TestSignWebhook(t *testing.T) {
	// HMAC-SHA256("Jefe", "1700000000.what do ya want for nothing?"), by
	// openssl dgst -sha256 -hmac Jefe.
	got := SignWebhook([]byte("Jefe"), []byte("what do ya want for nothing?"), time.Unix(1700000000, 0))
	assert.Equal(t, "t=1700000000,v1="+opensslHMAC, got)
}

const opensslHMAC = "1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
