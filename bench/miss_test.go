package bench

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkMiss sends a token the cache has never seen on every request, so
// each one is pre-checked and verified by the emulator over loopback
// (HTTP/1.1, kept-alive connections) before it is stored. The figure is
// dominated by that round trip, the emulator's share included: both run in
// this process. Tokens are minted before the timer starts.
func BenchmarkMiss(b *testing.B) {
	e := getEnv(b)
	users := e.newUsers(b, 64)
	bearer := make([]string, b.N)
	for i := range bearer {
		bearer[i] = "Bearer " + e.mint(b, users[i%len(users)])
	}
	h := newMiddleware(e.newCache()).Handler(app)
	r := newRequest("")
	auth := []string{""}
	r.Header["Authorization"] = auth
	w := newRecorder()
	calls := e.verifyCalls()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		auth[0] = bearer[i]
		w.reset()
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
	b.StopTimer()
	if got := e.verifyCalls() - calls; got != int64(b.N) {
		b.Fatalf("%d upstream calls for %d fresh tokens", got, b.N)
	}
}

// rejection is a token the cache's pre-check refuses locally.
type rejection struct {
	name  string
	token string
}

// rejections returns a ~405-byte token that is not a JWT, an expired access
// token and a refresh token, all signed by the emulator where signed.
func rejections(tb testing.TB, e *env) []rejection {
	tb.Helper()
	email := fmt.Sprintf("bench-refresh-%d@example.com", time.Now().UnixNano())
	user := e.srv.AddUser(email, "password")
	now := e.srv.Now()
	expired := e.srv.Sign(jwt.MapClaims{
		"sub":            user,
		"typ":            "access",
		"iat":            now.Add(-2 * time.Hour).Unix(),
		"exp":            now.Add(-time.Hour).Unix(),
		"iss":            "64b7f0c2a1b2c3d4e5f60718",
		"baas_device_id": "000000000000000000000000",
		"baas_domain_id": "5cdb12408e232ac4f9587fe8",
	})
	sess, err := e.srv.LoginUser(email, "password")
	if err != nil {
		tb.Fatalf("login: %v", err)
	}
	return []rejection{
		{"malformed", strings.Repeat("Zm9vYmFy", 51)[:405]},
		{"expired", expired},
		{"refresh", sess.RefreshToken},
	}
}

// BenchmarkPrecheckRejection sends tokens the cache refuses without asking
// the upstream: 401, and no verify_token call (checked after the loop).
// Pre-check refusals are not cached, so every request pays the local parse.
func BenchmarkPrecheckRejection(b *testing.B) {
	e := getEnv(b)
	h := newMiddleware(e.newCache()).Handler(app)
	for _, rj := range rejections(b, e) {
		b.Run(rj.name, func(b *testing.B) {
			r, w := newRequest(rj.token), newRecorder()
			calls := e.verifyCalls()
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, r)
				if w.code != http.StatusUnauthorized {
					b.Fatalf("status %d", w.code)
				}
			}
			if got := e.verifyCalls() - calls; got != 0 {
				b.Fatalf("%d upstream calls", got)
			}
		})
	}
}
