package cache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// BenchmarkMissInstantUpstream measures a miss whose upstream answers at
// once: pre-check, the shared flight (its map, goroutine and channel), the
// store. A real miss adds an HTTP round trip to App Services on top.
func BenchmarkMissInstantUpstream(b *testing.B) {
	now := time.Now()
	const n = 4096
	toks := make([]string, n)
	for i := range toks {
		toks[i] = newToken(b, now, tokenSpec{sub: fmt.Sprintf("%024x", i)})
	}
	u := &verifier.User{ID: "u", ExpiresAt: now.Add(time.Hour)}
	up := verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) { return u, nil })
	ctx := context.Background()
	b.ReportAllocs()
	var c *Cache
	for i := 0; b.Loop(); i++ {
		if i%n == 0 {
			b.StopTimer()
			c = New(up, Options{}) // every token a miss again
			b.StartTimer()
		}
		if _, err := c.Verify(ctx, toks[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}
