package middleware

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// tokenUsers is a verifier whose tokens are user ids: each id has one
// *User, handed to every request that presents it, as a warm cache does.
func tokenUsers(ids ...string) (verifier.VerifierFunc, map[string]*verifier.User) {
	users := make(map[string]*verifier.User, len(ids))
	for _, id := range ids {
		users[id] = &verifier.User{ID: id, SessionID: "s-" + id}
	}
	return func(_ context.Context, tok string) (*verifier.User, error) {
		if u, ok := users[tok]; ok {
			return u, nil
		}
		return nil, verifier.ErrInvalidToken
	}, users
}

// More users than the memo has slots, so that slots are shared and
// replaced: every request still gets its own user's headers.
func TestIdentityMemoNeverMixesUsers(t *testing.T) {
	ids := make([]string, 2*len(identityMemo{}.slots)+7)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%d", i)
	}
	v, _ := tokenUsers(ids...)
	m := New(v, WithLogger(quiet), WithIdentityHeaders(IdentityHeaders{}))
	ctx := context.Background()
	for round := range 2 { // the second round finds the slots filled by others
		for _, id := range ids {
			d := m.Authenticate(ctx, httpSource{bearerRequest("/", id)})
			require.Equal(t, KindAuthenticated, d.Kind)
			require.Equal(t, id, d.Identity[0].Value, "round %d", round)
			require.Equal(t, "s-"+id, d.Identity[1].Value, "round %d", round)
		}
	}
}

// Concurrent requests of users whose slots collide, under -race.
func TestIdentityMemoConcurrent(t *testing.T) {
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%d", i)
	}
	v, _ := tokenUsers(ids...)
	m := New(v, WithLogger(quiet), WithIdentityHeaders(IdentityHeaders{}))
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFromContext(r.Context())
		if r.Header.Get("X-Auth-User-Id") != u.ID || r.Header.Get("X-Auth-Session-Id") != "s-"+u.ID {
			w.WriteHeader(http.StatusConflict)
		}
	}))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := ids[(g*7+i)%len(ids)]
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, bearerRequest("/", id))
				assert.Equal(t, http.StatusOK, rec.Code, id)
			}
		})
	}
	wg.Wait()
}

// A handler may modify the identity headers of its request: that changes
// neither another header of the same request, nor the next request of the
// same user, nor what IdentityHeaders returns.
func TestIdentityHeadersAreTheRequestsOwn(t *testing.T) {
	m := New(fixedVerifier, WithLogger(quiet), WithIdentityHeaders(IdentityHeaders{}))
	var seen []http.Header
	h := m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Clone())
		id := r.Header["X-Auth-User-Id"]
		id[0] = "mallory"
		r.Header["X-Auth-User-Id"] = append(id, "appended") // must not spill into the next header
		r.Header["X-Auth-Session-Id"][0] = "changed"
	}))
	for range 2 {
		rec := httptest.NewRecorder()
		req := bearerRequest("/", goodToken)
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
	}
	require.Len(t, seen, 2)
	for i, hdr := range seen {
		assert.Equal(t, []string{"user-1"}, hdr["X-Auth-User-Id"], "request %d", i)
		assert.Equal(t, []string{"session-1"}, hdr["X-Auth-Session-Id"], "request %d", i)
		assert.Equal(t, []string{"domain-1"}, hdr["X-Auth-Domain-Id"], "request %d", i)
	}

	// IdentityHeaders returns a copy a caller may change.
	hs := m.IdentityHeaders(testUser)
	hs[0].Value = "mallory"
	d := m.Authenticate(context.Background(), httpSource{bearerRequest("/", goodToken)})
	assert.Equal(t, "user-1", d.Identity[0].Value)
	assert.Equal(t, "user-1", m.IdentityHeaders(testUser)[0].Value)
	assert.Equal(t, len(d.Identity), cap(d.Identity), "an append to Decision.Identity must copy")
}

// With identity headers on the middleware adds 2 allocations to a hit: the
// identity values (one array for all six) and the request's context value
// (requestCtx, which holds Request.WithContext's copy of the request). The identity itself is memoized per
// *User. The gateway (internal/gateway) also turns client addresses on, which
// costs nothing more: the address travels in the same context value as the
// user.
func TestHitPathAllocationsGateway(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	w := nopWriter{h: http.Header{}}
	req := hitRequest()
	measure := func(h http.Handler) float64 {
		return testing.AllocsPerRun(200, func() {
			r := *req
			r.Header = http.Header{"Authorization": req.Header["Authorization"]}
			h.ServeHTTP(w, &r)
		})
	}
	bare := measure(benchNext)
	for _, tc := range []struct {
		name string
		m    *Middleware
		want float64
		why  string
	}{
		{"identity headers", New(fixedVerifier, WithLogger(quiet), WithIdentityHeaders(IdentityHeaders{})),
			2, "identity values, the context value with the request's copy"},
		{"gateway", New(fixedVerifier, WithLogger(quiet), WithIdentityHeaders(IdentityHeaders{}), WithClientAddress()),
			2, "identity values, the context value (user, client address, the request's copy)"},
	} {
		if got := measure(tc.m.Handler(benchNext)) - bare; got != tc.want {
			t.Errorf("%s: %v allocs over the bare handler, want %v (%s)", tc.name, got, tc.want, tc.why)
		}
	}
}
