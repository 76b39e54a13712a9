package reliability

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// truth is the ground truth the next handler checks admitted requests
// against: which tokens the emulator issued to whom and when, which users
// exist, and when each user's sessions were revoked. It is kept beside the
// emulator by the helpers that create users, mint tokens and revoke.
type truth struct {
	mu      sync.Mutex // guards tokens, users, revoked, first
	tokens  map[string]issued
	users   map[string]bool
	revoked map[string]time.Time
	first   string // the first violation seen

	admitted   atomic.Int64 // requests that reached the next handler
	violations atomic.Int64 // of which without a verified, unrevoked identity
}

type issued struct {
	user string
	iat  time.Time // whole seconds, as in the token
}

func newTruth() *truth {
	return &truth{tokens: map[string]issued{}, users: map[string]bool{}, revoked: map[string]time.Time{}}
}

func (g *truth) addUser(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.users[id] = true
}

func (g *truth) addToken(tok, user string, iat time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tokens[tok] = issued{user: user, iat: iat.Truncate(time.Second)}
}

// revoke records that user's tokens issued at or before at are revoked.
func (g *truth) revoke(user string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if prev, ok := g.revoked[user]; !ok || at.After(prev) {
		g.revoked[user] = at
	}
}

func (g *truth) deleteUser(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.users, user)
}

// check says why a request carrying tok must not have been admitted as u,
// or returns "" when the emulator issued tok to u, u exists and tok was
// issued after any revocation of u.
func (g *truth) check(tok string, u *verifier.User, ok bool) string {
	if !ok {
		return "no user in the request context"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	is, known := g.tokens[tok]
	switch {
	case !known:
		return fmt.Sprintf("token never issued by the emulator admitted as user %s", u.ID)
	case is.user != u.ID:
		return fmt.Sprintf("token of user %s admitted as user %s", is.user, u.ID)
	case !g.users[u.ID]:
		return fmt.Sprintf("deleted user %s admitted", u.ID)
	}
	if at, rev := g.revoked[u.ID]; rev && !is.iat.After(at) {
		return fmt.Sprintf("token of user %s issued %v, revoked at %v, admitted", u.ID, is.iat, at)
	}
	return ""
}

// next is the handler behind the middleware: it admits the request only in
// the sense of counting it, and records every request that reached it
// without a verified, unrevoked identity.
func (g *truth) next() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.admitted.Add(1)
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		u, ok := middleware.UserFromContext(r.Context())
		if why := g.check(tok, u, ok); why != "" {
			g.violations.Add(1)
			g.mu.Lock()
			if g.first == "" {
				g.first = why
			}
			g.mu.Unlock()
		}
		_, _ = w.Write([]byte("ok"))
	})
}

func (g *truth) firstViolation() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.first
}

// The ground truth behind the fault matrix catches every way a broken
// verifier could let a request through: here one that believes any token's
// claims without asking anyone.
func TestGroundTruthCatchesAnOpenDoor(t *testing.T) {
	g := newTruth()
	valid, revokedUser, deletedUser := "user-valid", "user-revoked", "user-deleted"
	for _, u := range []string{valid, revokedUser, deletedUser} {
		g.addUser(u)
	}
	now := epoch
	sign := func(sub string, iat time.Time) string {
		tok := forged(sub, iat)
		g.addToken(tok, sub, iat)
		return tok
	}
	good := sign(valid, now)
	oldRevoked := sign(revokedUser, now)
	g.revoke(revokedUser, now.Add(time.Second))
	newRevoked := sign(revokedUser, now.Add(2*time.Second))
	ofDeleted := sign(deletedUser, now)
	g.deleteUser(deletedUser)
	stolen := sign(valid, now)

	believer := verifier.VerifierFunc(func(_ context.Context, tok string) (*verifier.User, error) {
		var c jwt.MapClaims
		if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
			return nil, verifier.ErrInvalidToken
		}
		sub, _ := c["sub"].(string)
		if tok == stolen {
			sub = revokedUser // a token answered with another user's identity
		}
		iat, _ := c.GetIssuedAt()
		return &verifier.User{ID: sub, IssuedAt: iat.Time}, nil
	})
	m := middleware.New(believer, middleware.WithLogger(slog.New(slog.DiscardHandler)))
	front := httptest.NewServer(m.Handler(g.next()))
	defer front.Close()

	tests := []struct {
		name      string
		tok       string
		violation bool
	}{
		{"issued, user exists", good, false},
		{"issued after the revocation", newRevoked, false},
		{"never issued (forged)", forged(valid, now), true},
		{"issued before the revocation", oldRevoked, true},
		{"user deleted", ofDeleted, true},
		{"answered as another user", stolen, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.violations.Load()
			req, _ := http.NewRequest(http.MethodGet, front.URL, nil)
			req.Header.Set("Authorization", "Bearer "+tt.tok)
			resp, err := front.Client().Do(req)
			if !assert.NoError(t, err) {
				return
			}
			resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode, "the open door admits it")
			assert.Equal(t, tt.violation, g.violations.Load() > before, "violation recorded")
		})
	}
}
