package middleware

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/verifier"
)

// The middleware's fast path applies to the cache it is built for.
var _ cachedLookup = (*cache.Cache)(nil)

// lookupVerifier is fakeVerifier behind a cache stand-in: Lookup answers
// for the tokens in held, and every call of either method is recorded.
type lookupVerifier struct {
	held map[string]*verifier.User

	mu       sync.Mutex
	verified []string // tokens sent to Verify, i.e. upstream
	looked   []string // tokens passed to Lookup
}

func (v *lookupVerifier) Verify(ctx context.Context, tok string) (*verifier.User, error) {
	v.mu.Lock()
	v.verified = append(v.verified, tok)
	v.mu.Unlock()
	return fakeVerifier()(ctx, tok)
}

func (v *lookupVerifier) Lookup(tok string) (*verifier.User, bool) {
	v.mu.Lock()
	v.looked = append(v.looked, tok)
	v.mu.Unlock()
	u, ok := v.held[tok]
	return u, ok
}

// countingVerifier is fakeVerifier without a Lookup method, counting calls.
type countingVerifier struct {
	mu       sync.Mutex
	verified []string
}

func (v *countingVerifier) Verify(ctx context.Context, tok string) (*verifier.User, error) {
	v.mu.Lock()
	v.verified = append(v.verified, tok)
	v.mu.Unlock()
	return fakeVerifier()(ctx, tok)
}

// A malformed token is refused with 400 and never sent upstream, whether or
// not the verifier offers the cache fast path.
func TestMalformedTokenNeverReachesVerifier(t *testing.T) {
	malformed := []struct {
		name, authz string
	}{
		{name: "bang", authz: "Bearer tok!"},
		{name: "padding inside", authz: "Bearer ab=c"},
		{name: "only padding", authz: "Bearer ==="},
		{name: "non-ASCII", authz: "Bearer t\xc3\xb6k"},
		{name: "comma after a jwt", authz: "Bearer " + goodToken + ","},
		{name: "bad byte in a later block", authz: "Bearer " + goodToken[:20] + "\"" + goodToken[21:]},
	}
	for _, tt := range malformed {
		t.Run(tt.name+"/plain verifier", func(t *testing.T) {
			v := &countingVerifier{}
			req := bearerRequest("/", "")
			req.Header.Set("Authorization", tt.authz)
			rec, s := serve(New(v, WithLogger(quiet)), req)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.False(t, s.called)
			assert.Empty(t, v.verified, "sent upstream")
		})
		t.Run(tt.name+"/cache verifier", func(t *testing.T) {
			v := &lookupVerifier{held: map[string]*verifier.User{goodToken: testUser}}
			req := bearerRequest("/", "")
			req.Header.Set("Authorization", tt.authz)
			rec, s := serve(New(v, WithLogger(quiet)), req)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.False(t, s.called)
			assert.Empty(t, v.verified, "sent upstream")
		})
	}
}

func TestCachedLookupFastPath(t *testing.T) {
	badUser := &verifier.User{ID: ""}
	tests := []struct {
		name         string
		held         map[string]*verifier.User
		authz        string
		opts         []Option
		wantStatus   int
		wantUser     *verifier.User
		wantVerified int // calls of Verify
		wantLooked   int // calls of Lookup
	}{
		{name: "hit skips Verify", held: map[string]*verifier.User{goodToken: testUser},
			authz: "Bearer " + goodToken, wantStatus: http.StatusOK, wantUser: testUser, wantLooked: 1},
		{name: "miss goes to Verify", held: nil,
			authz: "Bearer " + goodToken, wantStatus: http.StatusOK, wantUser: testUser, wantVerified: 1, wantLooked: 1},
		{name: "miss of a refused token", held: nil,
			authz: "Bearer " + invalidToken, wantStatus: http.StatusUnauthorized, wantVerified: 1, wantLooked: 1},
		{name: "hit with an empty user id fails closed", held: map[string]*verifier.User{goodToken: badUser},
			authz: "Bearer " + goodToken, wantStatus: http.StatusServiceUnavailable, wantLooked: 1},
		{name: "over the length limit is never looked up", held: map[string]*verifier.User{goodToken: testUser},
			authz: "Bearer " + goodToken, opts: []Option{WithMaxTokenLength(len(goodToken) - 1)},
			wantStatus: http.StatusBadRequest},
		{name: "two spaces are never looked up", held: map[string]*verifier.User{" " + goodToken: testUser},
			authz: "Bearer  " + goodToken, wantStatus: http.StatusBadRequest},
		{name: "other lookups do not use the cache", held: map[string]*verifier.User{goodToken: testUser},
			authz: "", opts: []Option{WithLookup(LookupCookie("session"))},
			wantStatus: http.StatusOK, wantUser: testUser, wantVerified: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &lookupVerifier{held: tt.held}
			req := bearerRequest("/", "")
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
			} else {
				req.Header.Set("Cookie", "session="+goodToken)
			}
			rec, s := serve(New(v, append([]Option{WithLogger(quiet)}, tt.opts...)...), req)
			require.Equal(t, tt.wantStatus, rec.Code, "body %s", rec.Body)
			assert.Same(t, tt.wantUser, s.user)
			assert.Len(t, v.verified, tt.wantVerified, "Verify calls")
			assert.Len(t, v.looked, tt.wantLooked, "Lookup calls")
			for _, tok := range v.looked {
				assert.False(t, strings.HasPrefix(tok, " "), "looked up a token with a separator")
			}
		})
	}
}
