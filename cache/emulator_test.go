package cache

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

func newEmulated(t *testing.T, opts Options) (*Cache, *appservicestest.Server) {
	t.Helper()
	srv := appservicestest.NewServer()
	t.Cleanup(srv.Close)
	client, err := appservices.NewClient(srv.Config())
	require.NoError(t, err)
	require.NoError(t, client.Login(context.Background()))
	opts.Now = srv.Now
	return New(client, opts), srv
}

// 1,000 concurrent requests with one fresh token make exactly one
// verify_token call: the emulator holds that call until every request has
// joined it.
func TestEmulatorThousandConcurrentMissesOneCall(t *testing.T) {
	const n = 1000
	c, srv := newEmulated(t, Options{})
	joined := joinCounter(c, n)
	userID := srv.AddUser("ada@example.com", "pw")
	token, err := srv.NewAccessToken(userID)
	require.NoError(t, err)
	release := srv.Block()
	defer release()

	var wg sync.WaitGroup
	users := make([]*verifier.User, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { users[i], errs[i] = c.Verify(context.Background(), token) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // deadlock guard
	defer cancel()
	require.NoError(t, srv.WaitBlocked(ctx, 1))
	for range n {
		recv(t, joined)
	}
	release()
	wg.Wait()

	for i := range n {
		require.NoError(t, errs[i], "request %d", i)
		assert.Equal(t, userID, users[i].ID)
	}
	assert.EqualValues(t, 1, srv.Calls(appservicestest.EndpointVerifyToken))
	_, err = c.Verify(context.Background(), token)
	require.NoError(t, err)
	assert.EqualValues(t, 1, srv.Calls(appservicestest.EndpointVerifyToken), "then a hit")
}

// With the emulator stopped (connection refused), a lapsed entry is served
// within the StaleIfError window and refused after it.
func TestEmulatorStaleWhileDown(t *testing.T) {
	c, srv := newEmulated(t, Options{TTL: time.Minute, StaleIfError: time.Minute})
	token, err := srv.NewAccessToken(srv.AddUser("ada@example.com", "pw"))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.Verify(ctx, token)
	require.NoError(t, err)

	srv.Stop()
	srv.Advance(90 * time.Second)
	u, err := c.Verify(ctx, token)
	require.NoError(t, err, "served stale")
	assert.NotEmpty(t, u.ID)

	srv.Advance(30 * time.Second)
	_, err = c.Verify(ctx, token)
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
	assert.NotErrorIs(t, err, verifier.ErrInvalidToken)
}

// The emulator's own refusals: a forged token is refused and negatively
// cached; a refresh token never reaches it.
func TestEmulatorRefusals(t *testing.T) {
	c, srv := newEmulated(t, Options{})
	ctx := context.Background()
	sess, err := srv.LoginUser("ada@example.com", "pw")
	require.Error(t, err) // no such user yet
	srv.AddUser("ada@example.com", "pw")
	sess, err = srv.LoginUser("ada@example.com", "pw")
	require.NoError(t, err)

	forged := sess.AccessToken[:len(sess.AccessToken)-4] + "AAAA"
	for range 2 {
		_, err = c.Verify(ctx, forged)
		assert.ErrorIs(t, err, verifier.ErrInvalidToken)
	}
	assert.EqualValues(t, 1, srv.Calls(appservicestest.EndpointVerifyToken))

	_, err = c.Verify(ctx, sess.RefreshToken)
	assert.ErrorIs(t, err, verifier.ErrInvalidToken)
	assert.EqualValues(t, 1, srv.Calls(appservicestest.EndpointVerifyToken))
}
