package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// forgedToken returns a well-formed, unexpired access token signed with a
// key App Services does not have: it passes the pre-check and costs an
// upstream call to refuse.
func forgedToken(t *testing.T, now time.Time) string {
	key, iss := make([]byte, 32), make([]byte, 12)
	_, _ = rand.Read(key)
	_, _ = rand.Read(iss)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "forger", "typ": "access", "iss": hex.EncodeToString(iss),
		"iat": now.Unix(), "exp": now.Add(30 * time.Minute).Unix(),
	}).SignedString(key)
	require.NoError(t, err)
	return tok
}

// clientFrom returns an HTTP client whose connections leave from the
// loopback address local, so the gateway sees a client of its own.
func clientFrom(local string, conns int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns},
		Timeout:   10 * time.Second,
	}
}

// The bar: with the upstream at 200 ms and 16 verification slots,
// one address flooding 2,000 forged tokens at concurrency 200 does not keep
// another address's fresh valid token out: it takes a free slot at once (so
// it is admitted in about one upstream latency; the test logs the figure),
// and the flood gets 429s, not the slots.
func TestFloodFromOneAddressDoesNotStarveAnother(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine EngineFunc) {
		const latency = 200 * time.Millisecond
		emu, id, tok := newEmulator(t)
		cfg := emulatorConfig(emu, newLogger(io.Discard))
		cfg.Engine = engine
		cfg.MaxInflight = 16
		r := runGateway(t, cfg)
		<-r.g.Ready()
		emu.SetLatency(latency, 0)

		forged := make([]string, 2000)
		for i := range forged {
			forged[i] = forgedToken(t, emu.Now())
		}
		// The flood cycles through its tokens until the victim is done,
		// bounded in count.
		tokens := make(chan string)
		ctx, stop := context.WithCancel(context.Background())
		go func() {
			defer close(tokens)
			for i := range 40000 {
				select {
				case tokens <- forged[i%len(forged)]:
				case <-ctx.Done():
					return
				}
			}
		}()
		flood := clientFrom("127.0.0.2", 200)
		var wg sync.WaitGroup
		var tooMany, other atomic.Int64
		limited := make(chan struct{})
		var once sync.Once
		for range 200 {
			wg.Go(func() {
				for tk := range tokens {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.data+"/", nil)
					req.Header.Set("Authorization", "Bearer "+tk)
					resp, err := flood.Do(req)
					if err != nil {
						return // stopped
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusTooManyRequests:
						tooMany.Add(1)
						assert.Empty(t, resp.Header.Get("WWW-Authenticate"))
						assert.NotEmpty(t, resp.Header.Get("Retry-After"))
						once.Do(func() { close(limited) })
					case http.StatusUnauthorized:
					default:
						other.Add(1)
					}
				}
			})
		}
		select {
		case <-limited: // the flood is in full swing: its address is at its cap
		case <-time.After(2 * time.Second): // without a limit: by now surely in full swing
		}

		victim := clientFrom("127.0.0.3", 1)
		req, _ := http.NewRequest(http.MethodGet, r.data+"/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		before := emu.Calls(appservicestest.EndpointVerifyToken)
		start := time.Now()
		resp, err := victim.Do(req)
		took := time.Since(start)
		during := emu.Calls(appservicestest.EndpointVerifyToken) - before
		require.NoError(t, err)
		resp.Body.Close()
		stop()
		wg.Wait()

		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, id, resp.Header.Get("X-Auth-User-Id"))
		// Counted against the flood's own pace, not timed. Held to its 8 slots,
		// the flood finishes at most 8 calls per upstream latency, plus the 8
		// in flight when the victim arrived, however long a busy machine makes
		// the victim's request take. Had the victim queued behind the flood
		// for one of the 16 slots, the flood would have had all 16 meanwhile,
		// twice that pace, for the many rounds the victim waited (with the
		// per-client cap off, ~2.4 s: dozens of calls over this bound).
		rounds := float64(took) / float64(latency)
		bound := int64(float64(DefaultMaxInflightPerClient)*(rounds+1)) + 1
		assert.LessOrEqual(t, during, bound, "the other address waited for the flood (%.1f upstream latencies)", rounds)
		assert.Zero(t, other.Load(), "the flood got only 401s and 429s")
		assert.NotZero(t, tooMany.Load(), "the flood was limited")
		t.Logf("victim admitted in %v (upstream latency %v), %d verify_token calls meanwhile; flood: %d answered 429", took, latency, during, tooMany.Load())
	})
}
