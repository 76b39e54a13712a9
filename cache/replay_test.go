package cache

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// A captured, validly signed revoke webhook body replayed over and over
// (here: during every upstream call and between every two requests) does not
// turn caching off for other users: ten requests of one fresh token cost one
// upstream call, and each is answered.
func TestReplayedRevocationKeepsOtherUsersCached(t *testing.T) {
	clk := newFakeClock()
	up := newUpstream(clk.Now)
	secret := []byte("a-revoke-secret-of-at-least-32-bytes!")
	var c *Cache
	var hook http.Handler
	body := `{"user_id":"mallory"}`
	sig := middleware.SignWebhook(secret, []byte(body), t0)
	replay := func() {
		req := httptest.NewRequest(http.MethodPost, "/revoke", strings.NewReader(body))
		req.Header.Set(middleware.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		hook.ServeHTTP(rec, req)
		require.Equal(t, http.StatusNoContent, rec.Code, "the replayed body is accepted")
	}
	counting := verifier.VerifierFunc(func(ctx context.Context, tok string) (*verifier.User, error) {
		replay() // a revocation lands while this call is in flight
		return up.Verify(ctx, tok)
	})
	c = New(counting, Options{Now: clk.Now})
	hook = middleware.NewRevokeWebhook(c, [][]byte{secret}, middleware.WithWebhookClock(clk.Now), middleware.WithWebhookLogger(slog.New(slog.DiscardHandler)))

	tok := newToken(t, clk.Now(), tokenSpec{sub: "alice"})
	for i := range 10 {
		replay()
		u, err := c.Verify(context.Background(), tok)
		require.NoError(t, err, "request %d", i)
		assert.Equal(t, "alice", u.ID)
		clk.Advance(time.Millisecond)
	}
	assert.EqualValues(t, 1, up.calls.Load(), "one upstream call for ten requests")
}
