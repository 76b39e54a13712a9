package bench

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/middleware"
)

func TestMain(m *testing.M) {
	defer closeEnv()
	m.Run()
}

// TestBenchSetup checks that each benchmark's fixture does what the
// benchmark says it measures, so a figure never comes from a request that
// was refused or that reached the upstream when it should not have.
func TestBenchSetup(t *testing.T) {
	h := getHit(t, 2)

	t.Run("bare handler answers 200 without a user", func(t *testing.T) {
		w := newRecorder()
		app.ServeHTTP(w, h.reqs[0])
		assert.Equal(t, http.StatusOK, w.code)
		assert.Equal(t, anonymousID, string(w.body))
		for _, u := range h.users {
			assert.Len(t, u, len(anonymousID), "the bare answer is as long as a user's")
		}
	})

	t.Run("hit answers 200 with the user from the cache", func(t *testing.T) {
		calls := h.verifyCalls()
		w := newRecorder()
		for i, r := range h.reqs {
			w.reset()
			h.library.ServeHTTP(w, r)
			assert.Equal(t, http.StatusOK, w.code)
			assert.Equal(t, h.users[i], string(w.body))
		}
		assert.Zero(t, h.verifyCalls()-calls, "upstream calls on the hit path")
	})

	t.Run("the floor answers 200 with the user, and 401 without a known token", func(t *testing.T) {
		fl := newFloor(t, h)
		w := newRecorder()
		for i, r := range h.reqs {
			w.reset()
			fl.ServeHTTP(w, r)
			assert.Equal(t, http.StatusOK, w.code)
			assert.Equal(t, h.users[i], string(w.body))
		}
		w.reset()
		fl.ServeHTTP(w, newRequest("made-up-token-1x"))
		assert.Equal(t, http.StatusUnauthorized, w.code)
	})

	t.Run("gateway sets identity headers and hides the token, again after restore", func(t *testing.T) {
		var got http.Header
		var user string
		gw := newMiddleware(h.cache, middleware.WithIdentityHeaders(middleware.IdentityHeaders{})).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r.Header.Clone()
			u, _ := middleware.UserFromContext(r.Context())
			user = u.ID
		}))
		r, restore := gatewayRequest(h.reqs[0])
		for range 2 {
			restore()
			require.NotEmpty(t, r.Header.Get("Authorization"))
			got, user = nil, ""
			gw.ServeHTTP(newRecorder(), r)
			require.NotNil(t, got, "the handler ran")
			assert.Equal(t, h.users[0], user)
			assert.Equal(t, h.users[0], got.Get("X-Auth-User-Id"))
			assert.NotEmpty(t, got.Get("X-Auth-Expires"))
			assert.Empty(t, got.Values("Authorization"))
		}
		restore()
		assert.Equal(t, h.reqs[0].Header, r.Header, "restored")
	})

	t.Run("precheck rejections answer 401 with no upstream call", func(t *testing.T) {
		mw := newMiddleware(h.newCache()).Handler(app)
		for _, rj := range rejections(t, h.env) {
			calls := h.verifyCalls()
			w := newRecorder()
			mw.ServeHTTP(w, newRequest(rj.token))
			assert.Equal(t, http.StatusUnauthorized, w.code, rj.name)
			assert.Zero(t, h.verifyCalls()-calls, rj.name)
		}
	})

	t.Run("miss asks the emulator once, then hits", func(t *testing.T) {
		mw := newMiddleware(h.newCache()).Handler(app)
		user := h.newUsers(t, 1)[0]
		r := newRequest(h.mint(t, user))
		calls := h.verifyCalls()
		for range 2 {
			w := newRecorder()
			mw.ServeHTTP(w, r)
			assert.Equal(t, http.StatusOK, w.code)
			assert.Equal(t, user, string(w.body))
		}
		assert.Equal(t, int64(1), h.verifyCalls()-calls)
	})

	t.Run("revoke drops the user's entries, and only them", func(t *testing.T) {
		f := newRevokeFixture(t, 2, 2)
		calls := f.upstream.Load()
		f.warm(t, 0)
		f.warm(t, 1)
		require.Zero(t, f.upstream.Load()-calls, "warm before the revocation")
		f.revoke(0, 1)
		f.warm(t, 1)
		assert.Zero(t, f.upstream.Load()-calls, "the other user's entries stay")
		f.warm(t, 0)
		assert.Equal(t, int64(2), f.upstream.Load()-calls, "the revoked user's entries are gone, its tokens still valid")
	})
}

// TestHitPathAllocations: a hit costs 1 allocation over the bare handler
// (the context value, which holds the request's copy), the floor 2. It skips under -race, whose instrumentation allocates;
// make test runs it again without -race (make test-allocs).
func TestHitPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	h := getHit(t, 2)
	w, r := newRecorder(), h.reqs[0]
	measure := func(h http.Handler) float64 {
		return testing.AllocsPerRun(100, func() { w.reset(); h.ServeHTTP(w, r) })
	}
	assert.Zero(t, measure(app), "bare handler")
	assert.Equal(t, 1.0, measure(h.library)-measure(app), "the context value, holding WithContext's copy")
	assert.Equal(t, 2.0, measure(newFloor(t, h))-measure(app), "the floor's own")
}
