package cache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/verifier"
)

// benchTokens returns n distinct ~405-byte access tokens, each verified once
// into c.
func benchTokens(b *testing.B, c *Cache, n int) []string {
	b.Helper()
	now := time.Now()
	toks := make([]string, n)
	for i := range toks {
		toks[i] = newToken(b, now, tokenSpec{sub: fmt.Sprintf("%024x", i)})
		if _, err := c.Verify(context.Background(), toks[i]); err != nil {
			b.Fatal(err)
		}
	}
	return toks
}

// BenchmarkHit measures Verify on a cached token: the whole hit path.
func BenchmarkHit(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		b.Run(map[bool]string{false: "metrics=off", true: "metrics=on"}[withMetrics], func(b *testing.B) {
			opts := Options{}
			if withMetrics {
				opts.Registerer = prometheus.NewRegistry()
			}
			c := New(newUpstream(time.Now), opts)
			tok := benchTokens(b, c, 1)[0]
			ctx := context.Background()
			b.SetBytes(int64(len(tok)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHitParallel measures hit throughput over 1,024 cached tokens
// (spread over the shards as real traffic is). Compare ns/op at -cpu 1,2.
// It also reports cpu-ns/op, the process CPU time per hit: if goroutines on
// different cores contended, it would grow with -cpu; when other processes
// take CPU from the benchmark, ns/op degrades but cpu-ns/op does not.
func BenchmarkHitParallel(b *testing.B) {
	c := New(newUpstream(time.Now), Options{Registerer: prometheus.NewRegistry()})
	toks := benchTokens(b, c, 1024)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	defer func() {
		if cpu := processCPU() - cpu0; cpu > 0 {
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(toks))
		for pb.Next() {
			if _, err := c.Verify(ctx, toks[i%len(toks)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkKey compares ways of keying the table for a ~405-byte token, each
// measured as key computation plus a hit in a map of 100,000 entries: the
// chosen maphash-128 key, a sha256 key (truncated to 128 bits, as the
// smallest collision-resistant alternative) and the raw token as key.
func BenchmarkKey(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(1, 1))
	toks := make([]string, n)
	buf := make([]byte, 405)
	for i := range toks {
		for j := range buf {
			buf[j] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[rng.IntN(64)]
		}
		toks[i] = string(buf)
	}
	probe := toks[n/2]
	e := &entry{}

	b.Run("maphash128", func(b *testing.B) {
		kr := newKeyer()
		m := make(map[uint64]*entry, n)
		for _, t := range toks {
			k := kr.key(t)
			m[k.lo] = &entry{key: k}
		}
		b.ReportAllocs()
		for b.Loop() {
			k := kr.key(probe)
			if e, ok := m[k.lo]; !ok || e.key.hi != k.hi {
				b.Fatal("miss")
			}
		}
	})
	b.Run("sha256", func(b *testing.B) {
		m := make(map[[16]byte]*entry, n)
		sum := func(t string) [16]byte {
			s := sha256.Sum256(append(buf[:0], t...))
			return [16]byte(s[:16])
		}
		for _, t := range toks {
			m[sum(t)] = e
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := m[sum(probe)]; !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		m := make(map[string]*entry, n)
		for _, t := range toks {
			m[t] = e
		}
		p := strings.Clone(probe) // not pointer-equal to the stored key
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := m[p]; !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkClock compares the clock reads a hit could use.
func BenchmarkClock(b *testing.B) {
	base := time.Now()
	var sink int64
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			sink += time.Now().UnixNano()
		}
	})
	b.Run("time.Since", func(b *testing.B) {
		for b.Loop() {
			sink += int64(time.Since(base))
		}
	})
	_ = sink
}

// BenchmarkPrecheck compares the pre-check as written (golang-jwt
// ParseUnverified into a struct) with golang-jwt into MapClaims and with
// decoding the segments by hand into the same struct.
func BenchmarkPrecheck(b *testing.B) {
	now := time.Now()
	tok := newToken(b, now, tokenSpec{})
	b.Run("jwt-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := precheck(tok, now, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jwt-MapClaims", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var mc jwt.MapClaims
			if _, _, err := parser.ParseUnverified(tok, &mc); err != nil {
				b.Fatal(err)
			}
			if _, err := mc.GetExpirationTime(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("manual-struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h, rest, _ := strings.Cut(tok, ".")
			p, _, _ := strings.Cut(rest, ".")
			var hd struct {
				Alg string `json:"alg"`
			}
			var ac accessClaims
			hb, err1 := base64.RawURLEncoding.DecodeString(h)
			pb, err2 := base64.RawURLEncoding.DecodeString(p)
			if err1 != nil || err2 != nil || json.Unmarshal(hb, &hd) != nil || json.Unmarshal(pb, &ac) != nil || ac.Exp == nil {
				b.Fatal("decode")
			}
		}
	})
}

// BenchmarkMemoryPerEntry fills a Cache with 1,000,000 verified entries, each
// for a distinct user (the user index's worst case) whose *verifier.User
// takes 256 B of heap, and reports the live heap per entry: B/entry in all,
// overhead-B/entry for the cache's own structures. It runs one fill whatever
// b.N is; run it with -benchtime=1x.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 1_000_000
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for b.Loop() {
		h0 := heap()
		users := make([]*verifier.User, n)
		for i := range users {
			// 208 B struct + two 24 B strings = 256 B; the domain and
			// device ids are shared constants.
			users[i] = &verifier.User{
				ID:        fmt.Sprintf("%024x", i),
				SessionID: fmt.Sprintf("%024x", n+i),
				DomainID:  "5cdb12408e232ac4f9587fe8",
				DeviceID:  "000000000000000000000000",
				IssuedAt:  t0,
				ExpiresAt: t0.Add(time.Hour),
			}
		}
		h1 := heap()
		clk := newFakeClock()
		c := New(newUpstream(clk.Now), Options{Size: n, Now: clk.Now})
		h2 := heap()
		rng := rand.New(rand.NewPCG(3, 4))
		gen := c.gen.Load()
		for _, u := range users {
			c.storePositive(key128{lo: rng.Uint64(), hi: rng.Uint64()}, u, u.IssuedAt, u.ExpiresAt, gen)
		}
		h3 := heap()
		// Shards fill unevenly: a few of the 1M entries went to make room.
		stored := c.pos.len()
		if stored < n*99/100 {
			b.Fatalf("stored %d entries", stored)
		}
		payload := float64(h1-h0-8*n) / n // minus the users slice
		overhead := float64(h3-h2) / float64(stored)
		b.ReportMetric(payload, "payload-B/entry")
		b.ReportMetric(overhead, "overhead-B/entry")
		b.ReportMetric(payload+overhead, "B/entry")
		runtime.KeepAlive(users)
		runtime.KeepAlive(c)
	}
}
