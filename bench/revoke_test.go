package bench

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/verifier"
)

// revokeFixture is a cache holding perUser tokens of each of its users. Its
// upstream answers from a table of the emulator's own answers, so that
// re-warming after a revocation is quick and countable.
type revokeFixture struct {
	cache    *cache.Cache
	users    []string
	tokens   [][]string // tokens[i] are users[i]'s
	upstream atomic.Int64
	// at is a revocation time before every token's iat: Revoke drops a
	// user's entries whatever at is, and with it the tokens stay
	// acceptable, so the entries can be stored again.
	at time.Time
}

func newRevokeFixture(tb testing.TB, users, perUser int) *revokeFixture {
	tb.Helper()
	e := getEnv(tb)
	f := &revokeFixture{users: e.newUsers(tb, users), tokens: make([][]string, users)}
	answers := make(map[string]*verifier.User, users*perUser)
	for i, id := range f.users {
		for range perUser {
			tok := e.mint(tb, id)
			u, err := e.client.Verify(context.Background(), tok)
			if err != nil {
				tb.Fatalf("verify: %v", err)
			}
			if f.at.IsZero() || u.IssuedAt.Before(f.at) {
				f.at = u.IssuedAt
			}
			answers[tok] = u
			f.tokens[i] = append(f.tokens[i], tok)
		}
	}
	f.at = f.at.Add(-time.Second)
	upstream := verifier.VerifierFunc(func(_ context.Context, tok string) (*verifier.User, error) {
		f.upstream.Add(1)
		if u, ok := answers[tok]; ok {
			return u, nil
		}
		return nil, verifier.ErrInvalidToken
	})
	f.cache = cache.New(upstream, cache.Options{TTL: tokenTTL, MaxTokenLifetime: tokenTTL, Registerer: prometheus.NewRegistry()})
	for i := range f.users {
		f.warm(tb, i)
	}
	return f
}

// warm verifies every token of user i through the cache.
func (f *revokeFixture) warm(tb testing.TB, i int) {
	for _, tok := range f.tokens[i] {
		if _, err := f.cache.Verify(context.Background(), tok); err != nil {
			tb.Fatalf("warm: %v", err)
		}
	}
}

// revoke revokes user i; n (< 1e9) moves the revocation time forward a
// little each time, so the memory records a later revocation, as it would
// in production, and stays before every token's iat.
func (f *revokeFixture) revoke(i, n int) {
	f.cache.Revoke(context.Background(), f.users[i], f.at.Add(time.Duration(n%1e8)))
}

// BenchmarkRevoke measures Cache.Revoke of a user whose 4 tokens are cached
// (each dropped from its shard, all 32 shards locked in turn) among 1,024
// entries of 256 users. Every revoked user must be verified again before
// the next revocation, which costs several times the revocation, so the
// revocations are timed on their own, in batches of 256 with the heap
// statistics read around each batch, and reported as revoke-ns/op,
// revoke-B/op and revoke-allocs/op; ns/op, B/op and allocs/op are those of
// the whole cycle: revoke plus re-warming the user's 4 entries.
func BenchmarkRevoke(b *testing.B) {
	const users, perUser = 256, 4
	f := newRevokeFixture(b, users, perUser)
	var (
		took          time.Duration
		allocs, bytes uint64
		revokes, i    int
		start         time.Time
		before, after runtime.MemStats
	)
	endBatch := func() {
		took += time.Since(start)
		runtime.ReadMemStats(&after)
		allocs += after.Mallocs - before.Mallocs
		bytes += after.TotalAlloc - before.TotalAlloc
	}
	b.ReportAllocs()
	for b.Loop() {
		if i == 0 {
			runtime.ReadMemStats(&before)
			start = time.Now()
		}
		f.revoke(i, revokes)
		revokes++
		if i++; i == users {
			endBatch()
			calls := f.upstream.Load()
			for u := range users {
				f.warm(b, u)
			}
			if got := f.upstream.Load() - calls; got != users*perUser {
				b.Fatalf("re-warming %d revoked tokens took %d upstream calls", users*perUser, got)
			}
			i = 0
		}
	}
	if i > 0 {
		endBatch()
	}
	b.ReportMetric(float64(took.Nanoseconds())/float64(revokes), "revoke-ns/op")
	b.ReportMetric(float64(bytes)/float64(revokes), "revoke-B/op")
	b.ReportMetric(float64(allocs)/float64(revokes), "revoke-allocs/op")
}
