package reliability

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/verifier"
	vt "github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// junkKinds are the shares of the flood, by how the cache must refuse them.
var junkKinds = []struct {
	name     string
	per1000  int  // share of the flood
	upstream bool // only the upstream can refuse it
}{
	{"random bytes", 250, false},
	{"three segments, not a JWT", 240, false},
	{"expired JWT", 250, false},
	{"refresh-typed JWT", 250, false},
	{"access JWT, bad signature", 10, true},
}

// A flood of 200,000 distinct junk tokens against a warm cache reaches the
// upstream only for the badly signed ones, keeps the negative table within
// its bound, and evicts none of the 1,000 hot users.
func TestJunkFlood(t *testing.T) {
	const (
		total        = 200_000
		hot          = 1000
		negativeSize = 1024
		workers      = 4
	)
	c := newChain(t, chainOptions{cache: cache.Options{
		Size: 4096, NegativeSize: negativeSize, NegativeTTL: time.Hour, MaxInflight: 16,
	}})
	defer c.close()
	ctx := context.Background()

	hotTokens := make([]string, hot)
	for i := range hot {
		hotTokens[i] = c.token(t, c.newUser())
	}
	parallel(t, hot, workers, func(i int) error {
		_, err := c.cache.Verify(ctx, hotTokens[i])
		return err
	})
	warmCalls := c.srv.Calls(vt.EndpointVerifyToken)
	require.EqualValues(t, hot, warmCalls)

	flood := junkTokens(c, total)
	var maxNeg atomic.Int64
	var sampleMu sync.Mutex // one Gather at a time
	refused := make([]atomic.Int64, len(junkKinds))
	parallel(t, total, workers, func(i int) error {
		k := flood.kind[i]
		_, err := c.cache.Verify(ctx, flood.tokens[i])
		switch {
		case err == nil:
			return fmt.Errorf("junk token %d (%s) accepted", i, junkKinds[k].name)
		case !errors.Is(err, verifier.ErrInvalidToken) || errors.Is(err, verifier.ErrUnavailable):
			return fmt.Errorf("junk token %d (%s): %w, want an invalid-token refusal", i, junkKinds[k].name, err)
		}
		refused[k].Add(1)
		if i%2000 == 0 {
			sampleMu.Lock()
			n := int64(metric(t, c.reg, "tokenguard_cache_entries", "kind", "negative"))
			sampleMu.Unlock()
			for m := maxNeg.Load(); n > m && !maxNeg.CompareAndSwap(m, n); m = maxNeg.Load() {
			}
		}
		return nil
	})
	maxNeg.Store(max(maxNeg.Load(), int64(metric(t, c.reg, "tokenguard_cache_entries", "kind", "negative"))))

	floodCalls := c.srv.Calls(vt.EndpointVerifyToken) - warmCalls
	assert.EqualValues(t, flood.count[len(junkKinds)-1], floodCalls, "upstream calls only for the badly signed tokens")
	assert.LessOrEqual(t, maxNeg.Load(), int64(negativeSize), "negative table within its bound")
	for k, jk := range junkKinds {
		assert.EqualValues(t, flood.count[k], refused[k].Load(), "%s refused", jk.name)
		t.Logf("%-26s %7d tokens, %7d refused", jk.name, flood.count[k], refused[k].Load())
	}
	t.Logf("upstream calls during the flood: %d; negative entries, highest sampled: %d (bound %d)",
		floodCalls, maxNeg.Load(), negativeSize)

	// Every hot user is still a hit, without a call.
	hits := metric(t, c.reg, "tokenguard_cache_lookups_total", "result", "hit")
	calls := c.srv.Calls(vt.EndpointVerifyToken)
	for _, tok := range hotTokens {
		_, err := c.cache.Verify(ctx, tok)
		require.NoError(t, err)
	}
	assert.EqualValues(t, hot, metric(t, c.reg, "tokenguard_cache_lookups_total", "result", "hit")-hits)
	assert.Equal(t, calls, c.srv.Calls(vt.EndpointVerifyToken))
}

type flood struct {
	tokens []string
	kind   []int
	count  []int
}

// junkTokens builds n distinct junk tokens in the junkKinds shares. A few
// of the expired and refresh-typed ones are signed by the emulator (srv.Sign),
// the rest are assembled by hand: the pre-check never looks at signatures.
func junkTokens(c *chain, n int) flood {
	now := c.clk.Now()
	f := flood{tokens: make([]string, 0, n), kind: make([]int, 0, n), count: make([]int, len(junkKinds))}
	b64 := base64.RawURLEncoding
	header := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	handMade := func(claims string) string {
		return header + "." + b64.EncodeToString([]byte(claims)) + ".c2lnbmF0dXJl"
	}
	expired := now.Add(-time.Hour).Unix()
	for i := 0; len(f.tokens) < n; i++ {
		k := 0
		for slot, acc := i%1000, 0; k < len(junkKinds); k++ {
			if acc += junkKinds[k].per1000; slot < acc {
				break
			}
		}
		id := strconv.Itoa(i)
		var tok string
		switch k {
		case 0:
			tok = randHex(24)
		case 1:
			tok = "junk" + id + ".bm90.anNvbg"
		case 2:
			if i%100 == 0 {
				tok = c.srv.Sign(map[string]any{"sub": id, "typ": "access", "iat": expired - 1800, "exp": expired})
			} else {
				tok = handMade(`{"sub":"` + id + `","typ":"access","exp":` + strconv.FormatInt(expired, 10) + `}`)
			}
		case 3:
			if i%100 == 0 {
				tok = c.srv.Sign(map[string]any{"sub": id, "typ": "refresh", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
			} else {
				tok = handMade(`{"sub":"` + id + `","typ":"refresh","exp":` + strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + `}`)
			}
		default:
			tok = forged(id, now)
		}
		f.tokens = append(f.tokens, tok)
		f.kind = append(f.kind, k)
		f.count[k]++
	}
	return f
}

// parallel runs f(0..n-1) on workers goroutines and fails the test on the
// first error.
func parallel(t *testing.T, n, workers int, f func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					errs <- err
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
