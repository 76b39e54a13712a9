package appservicestest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerURLsAndConfig(t *testing.T) {
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newTestServer(t, WithIDs("aaaaaaaaaaaaaaaaaaaaaaaa", "", "my-app"), WithKeys("p", "q"), WithClock(func() time.Time { return base }))
	assert.True(t, strings.HasPrefix(s.URL, "http://127.0.0.1:"), s.URL)
	assert.Equal(t, s.URL+"/api/admin/v3.0", s.AdminURL())
	assert.Equal(t, s.URL+"/api/client/v2.0", s.ClientURL())

	cfg := s.Config()
	assert.Equal(t, s.URL, cfg.BaseURL)
	assert.Equal(t, "aaaaaaaaaaaaaaaaaaaaaaaa", cfg.GroupID)
	assert.Equal(t, DefaultAppID, cfg.AppID)
	assert.Equal(t, "p", cfg.PublicKey)
	assert.Equal(t, "q", cfg.PrivateKey)
	assert.Same(t, s.Client(), cfg.HTTPClient)

	assert.Equal(t, base, cfg.Now())
	s.Advance(time.Hour)
	assert.Equal(t, base.Add(time.Hour), s.Now())
	assert.Equal(t, base.Add(time.Hour), cfg.Now(), "the config shares the server's clock")
}

func TestStopRestart(t *testing.T) {
	s := newTestServer(t)
	uid := s.AddUser("ada@example.com", "password1")
	admin, _ := adminTokens(t, s)
	url := s.URL

	s.Stop()
	s.Stop() // idempotent
	_, err := s.Client().Get(appURL(s) + "/users/" + uid)
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "err: %v", err)

	require.NoError(t, s.Restart())
	require.NoError(t, s.Restart(), "restart of a running server does nothing")
	assert.Equal(t, url, s.URL)
	r := do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil)
	assert.Equal(t, http.StatusOK, r.status, "state and admin session survive a restart")

	s.Close()
	s.Close() // idempotent
	assert.Error(t, s.Restart())
}

func TestCloseWithIdleAndActiveConnections(t *testing.T) {
	s, admin, token := fixture(t)
	// Leave an idle keep-alive connection behind and stall another request.
	assert.Equal(t, 200, verify(t, s, admin, token).status)
	s.FailNext(1, Fault{Kind: FaultStall, Endpoint: EndpointVerifyToken})
	in := arrivals(s)
	errc := make(chan error, 1)
	go func() {
		resp, err := s.Client().Do(verifyReq(t, context.Background(), s, admin, token))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-in
	s.Close() // must end the stall and wait for it; goleak checks the rest
	assert.Error(t, <-errc)
}

func TestIDsGrow(t *testing.T) {
	var g idGen
	g.init()
	now := time.Unix(1_700_000_000, 0)
	prev := g.next(now)
	for i := range 1000 {
		at := now
		if i%100 == 0 {
			at = now.Add(-time.Hour) // a clock going back must not break the order
		}
		id := g.next(at)
		require.True(t, validID(id), id)
		require.Greater(t, id, prev)
		prev = id
	}
	assert.Equal(t, "6553f100", prev[:8], "the id starts with the creation second")
	assert.False(t, validID("6553F1000000000000000000"))
	assert.False(t, validID("abc"))
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	s := newTestServer(t)
	_, err := Start(WithAddr(strings.TrimPrefix(s.URL, "http://")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "appservicestest: failed to listen")
	assert.Panics(t, func() { NewServer(WithAddr(strings.TrimPrefix(s.URL, "http://"))) })
}
