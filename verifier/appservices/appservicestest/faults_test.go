package appservicestest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// verifyReq builds a verify_token request bound to ctx.
func verifyReq(t *testing.T, ctx context.Context, s *Server, admin, token string) *http.Request {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"token": token})
	req, err := http.NewRequestWithContext(ctx, "POST", appURL(s)+"/users/verify_token", bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+admin)
	return req
}

// fixture is a server with an admin session and a valid user token.
func fixture(t *testing.T, opts ...Option) (s *Server, admin, token string) {
	t.Helper()
	s = newTestServer(t, opts...)
	uid := s.AddUser("ada@example.com", "password1")
	token, err := s.NewAccessToken(uid)
	require.NoError(t, err)
	admin, _ = adminTokens(t, s)
	return s, admin, token
}

func TestFaultStatus(t *testing.T) {
	tests := []struct {
		name       string
		f          Fault
		status     int
		retryAfter string
		body       string
	}{
		{"default 503", Fault{Kind: FaultStatus}, 503, "", `{"error":"Service Unavailable","error_code":"ServiceUnavailable"}`},
		{"429 with Retry-After rounded up", Fault{Status: 429, RetryAfter: 1500 * time.Millisecond}, 429, "2", `{"error":"Too Many Requests","error_code":"TooManyRequests"}`},
		{"custom body", Fault{Status: 500, Body: `{"error":"boom"}`}, 500, "", `{"error":"boom"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, admin, token := fixture(t)
			s.FailNext(1, tt.f)
			r := verify(t, s, admin, token)
			assert.Equal(t, tt.status, r.status)
			assert.Equal(t, tt.retryAfter, r.header.Get("Retry-After"))
			assert.JSONEq(t, tt.body, string(r.body))
			assert.Equal(t, 200, verify(t, s, admin, token).status, "only the next call fails")
		})
	}
}

func TestFailNextTargetsAndCounts(t *testing.T) {
	s, admin, token := fixture(t)
	s.FailNext(2, Fault{Endpoint: EndpointVerifyToken, Status: 502})
	uid := s.AddUser("bob@example.com", "password1")
	assert.Equal(t, 200, do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil).status, "other endpoints are not affected")
	assert.Equal(t, 502, verify(t, s, admin, token).status)
	assert.Equal(t, 502, verify(t, s, admin, token).status)
	assert.Equal(t, 200, verify(t, s, admin, token).status)
	assert.Equal(t, int64(3), s.Calls(EndpointVerifyToken), "failed calls are counted")
	assert.Equal(t, int64(1), s.Calls(EndpointGetUser))
	assert.Equal(t, int64(0), s.Calls("nonsense"))

	// Faults queue; "" matches every endpoint.
	s.FailNext(1, Fault{Status: 500})
	s.FailNext(1, Fault{Status: 503})
	assert.Equal(t, 500, do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil).status)
	assert.Equal(t, 503, verify(t, s, admin, token).status)
	assert.Equal(t, 200, verify(t, s, admin, token).status)

	s.FailNext(5, Fault{Status: 500})
	s.ClearFaults()
	assert.Equal(t, 200, verify(t, s, admin, token).status)
}

func TestFailFraction(t *testing.T) {
	s, admin, token := fixture(t)
	s.FailFraction(0, Fault{Status: 500})
	for range 20 {
		require.Equal(t, 200, verify(t, s, admin, token).status)
	}
	s.FailFraction(1, Fault{Endpoint: EndpointVerifyToken, Status: 503})
	for range 5 {
		require.Equal(t, 503, verify(t, s, admin, token).status)
	}
	s.ClearFaults()
	assert.Equal(t, 200, verify(t, s, admin, token).status)
}

func TestFaultReset(t *testing.T) {
	s, admin, token := fixture(t)
	s.FailNext(1, Fault{Kind: FaultReset})
	_, err := s.Client().Do(verifyReq(t, context.Background(), s, admin, token))
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF), "err: %v", err)
	assert.Equal(t, 200, verify(t, s, admin, token).status)
}

func TestFaultStall(t *testing.T) {
	t.Run("until the client gives up", func(t *testing.T) {
		s, admin, token := fixture(t)
		s.FailNext(1, Fault{Kind: FaultStall})
		in := arrivals(s)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-in; cancel() }()
		_, err := s.Client().Do(verifyReq(t, ctx, s, admin, token))
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("until the server stops", func(t *testing.T) {
		s, admin, token := fixture(t)
		s.FailNext(1, Fault{Kind: FaultStall})
		in := arrivals(s)
		go func() { <-in; s.Stop() }()
		_, err := s.Client().Do(verifyReq(t, context.Background(), s, admin, token))
		assert.Error(t, err)
	})
}

func TestFaultSlowBody(t *testing.T) {
	t.Run("complete body, a byte at a time", func(t *testing.T) {
		s, admin, token := fixture(t)
		want := verify(t, s, admin, token)
		s.FailNext(1, Fault{Kind: FaultSlowBody, Delay: time.Microsecond})
		got := verify(t, s, admin, token)
		assert.Equal(t, want.status, got.status)
		assert.Equal(t, string(want.body), string(got.body))
	})
	t.Run("headers come, the body does not", func(t *testing.T) {
		s, admin, token := fixture(t)
		s.FailNext(1, Fault{Kind: FaultSlowBody, Delay: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := s.Client().Do(verifyReq(t, ctx, s, admin, token))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		cancel()
		_, err = io.ReadAll(resp.Body)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestFaultBadBodies(t *testing.T) {
	s, admin, token := fixture(t)

	s.FailNext(1, Fault{Kind: FaultMalformedJSON})
	r := verify(t, s, admin, token)
	assert.Equal(t, 200, r.status)
	assert.False(t, json.Valid(r.body))

	s.FailNext(1, Fault{Kind: FaultOversized})
	r = verify(t, s, admin, token)
	assert.Equal(t, 200, r.status)
	assert.Len(t, r.body, OversizedBodyLen)
	assert.Greater(t, len(r.body), 1<<20)
	assert.True(t, json.Valid(r.body))
}

func TestLatency(t *testing.T) {
	t.Run("interrupted by the client", func(t *testing.T) {
		s, admin, token := fixture(t)
		s.SetLatency(time.Hour, 0)
		in := arrivals(s)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-in; cancel() }()
		_, err := s.Client().Do(verifyReq(t, ctx, s, admin, token))
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("interrupted by Close", func(t *testing.T) {
		s, admin, token := fixture(t)
		s.SetLatency(time.Hour, time.Hour)
		in := arrivals(s)
		go func() { <-in; s.Close() }()
		_, err := s.Client().Do(verifyReq(t, context.Background(), s, admin, token))
		assert.Error(t, err)
	})
	t.Run("client API is not delayed", func(t *testing.T) {
		s := newTestServer(t, WithLatency(time.Hour, 0))
		s.AddUser("ada@example.com", "password1")
		r := do(t, s, "POST", clientLoginURL(s, DefaultClientAppID), "", map[string]string{"username": "ada@example.com", "password": "password1"})
		assert.Equal(t, 200, r.status)
	})
	t.Run("small jitter", func(t *testing.T) {
		s, admin, token := fixture(t)
		s.SetLatency(0, time.Millisecond)
		assert.Equal(t, 200, verify(t, s, admin, token).status)
	})
}

func TestBlock(t *testing.T) {
	s, admin, token := fixture(t)
	release := s.Block()
	type result struct {
		status int
		err    error
	}
	results := make(chan result, 3)
	for range 2 {
		go func() {
			resp, err := s.Client().Do(verifyReq(t, context.Background(), s, admin, token))
			if err != nil {
				results <- result{err: err}
				return
			}
			resp.Body.Close()
			results <- result{status: resp.StatusCode}
		}()
	}
	require.NoError(t, s.WaitBlocked(context.Background(), 2))

	// Other endpoints pass; WaitBlocked gives up with its context.
	uid := s.AddUser("bob@example.com", "password1")
	assert.Equal(t, 200, do(t, s, "GET", appURL(s)+"/users/"+uid, admin, nil).status)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.WaitBlocked(ctx, 3), context.DeadlineExceeded)

	// A blocked call leaves when its client gives up.
	cctx, ccancel := context.WithCancel(context.Background())
	go func() {
		_, err := s.Client().Do(verifyReq(t, cctx, s, admin, token))
		results <- result{err: err}
	}()
	require.NoError(t, s.WaitBlocked(context.Background(), 3))
	ccancel()
	r := <-results
	assert.ErrorIs(t, r.err, context.Canceled)

	select {
	case r := <-results:
		t.Fatalf("a blocked call returned before release: %+v", r)
	default:
	}
	release()
	release() // idempotent
	for range 2 {
		r := <-results
		require.NoError(t, r.err)
		assert.Equal(t, 200, r.status)
	}
	assert.Equal(t, 200, verify(t, s, admin, token).status, "released for good")
}

func TestBlockEndedByClose(t *testing.T) {
	s, admin, token := fixture(t)
	s.Block()
	done := make(chan error, 1)
	go func() {
		_, err := s.Client().Do(verifyReq(t, context.Background(), s, admin, token))
		done <- err
	}()
	require.NoError(t, s.WaitBlocked(context.Background(), 1))
	s.Close()
	assert.Error(t, <-done)
}
