package reliability

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tokenguard/tokenguard/cache"
)

// Token classes of the request mix.
const (
	classCached  = "cached"  // verified before the fault, still in the cache
	classFresh   = "fresh"   // issued by the emulator, never seen before
	classForged  = "forged"  // well-formed, unexpired, badly signed: only the upstream can tell
	classJunk    = "junk"    // not a JWT, expired, refresh-typed: refused locally
	classRevoked = "revoked" // issued before its user was revoked or deleted
)

// Phases: three while the fault lasts, one after it is healed.
const (
	phaseWithinTTL = iota // cached entries fresh
	phaseStale            // cached entries past TTL, inside StaleIfError
	phasePastStale        // past TTL + StaleIfError
	phaseHealed           // fault cleared, nothing restarted
)

var phaseNames = [...]string{"within TTL", "stale window", "past stale window", "healed"}

const (
	matrixTTL   = time.Minute
	matrixStale = 2 * time.Minute
)

// phaseAdvance is how far the shared clock moves before each phase.
var phaseAdvance = [...]time.Duration{0, matrixTTL + 30*time.Second, matrixStale, time.Second}

// want is the status a token of class must get in phase under fc.
func want(fc faultCase, class string, phase int) int {
	up := fc.recoverable || phase == phaseHealed // verification works
	switch class {
	case classJunk, classRevoked:
		return 401 // decided locally, whatever the upstream does
	case classForged:
		if up {
			return 401
		}
		return 503 // cannot be judged: never 401 while the upstream is out
	case classFresh:
		if up {
			return 200
		}
		return 503
	}
	if up || phase < phasePastStale {
		return 200
	}
	return 503
}

// matrixRow is one line of the printed matrix.
type matrixRow struct {
	name                           string
	s200, s401, s503, other, stale int
	unverified                     int64
	verify, login, refresh         int64
	recovered                      bool
	elapsed                        time.Duration
}

// TestFaultMatrix drives the whole chain (HTTP -> middleware -> cache ->
// verifier client -> emulator over loopback) through every fault and checks
// that it fails closed, serves known users stale within the window only,
// answers 503 rather than 401 for what it cannot check, and recovers.
func TestFaultMatrix(t *testing.T) {
	n, rounds := 4, 1
	if *soak {
		n, rounds = 48, 4
	}
	// Warm up once, so lazily built globals (HTTP, JWT, metrics) are part
	// of the heap baseline.
	warm := newChain(t, chainOptions{})
	warm.send(t, []string{warm.token(t, warm.newUser())}, nil)
	warm.close()
	base := heapInuse()

	var rows []matrixRow
	for _, fc := range faultCases() {
		t.Run(fc.name, func(t *testing.T) {
			rows = append(rows, runFaultCase(t, fc, n, rounds))
		})
	}
	table := matrixTable(rows)
	t.Log("fault matrix (counts while the fault lasted):\n" + table)
	if out := os.Getenv("TOKENGUARD_MATRIX_OUT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(table), 0o644))
	}
	after := heapInuse()
	t.Logf("heap in use: baseline %.1f MiB, after the matrix %.1f MiB", mib(base), mib(after))
	assert.Less(t, after, base+4<<20, "the heap returns to its baseline")
}

func runFaultCase(t *testing.T, fc faultCase, n, rounds int) matrixRow {
	start := time.Now()
	ignore := goleak.IgnoreCurrent()
	row := matrixRow{name: fc.name, recovered: true}
	c := newChain(t, chainOptions{
		cache: cache.Options{
			TTL: matrixTTL, StaleIfError: matrixStale, VerifyTimeout: fc.verifyTimeout,
		},
		clientTimeout: fc.clientTimeout,
	})
	ctx := context.Background()

	cached := make([]string, n)
	fresh := make([]string, n)
	for i := range n {
		cached[i] = c.token(t, c.newUser())
		fresh[i] = c.newUser()
	}
	// Three revoked users, each verified (and cached) first: revoked
	// through the client (OnRevoke), in the cache directly (the webhook's
	// path), and deleted.
	byClient, direct, deleted := c.newUser(), c.newUser(), c.newUser()
	revoked := []string{c.token(t, byClient), c.token(t, direct), c.token(t, deleted)}
	for _, r := range c.send(t, append(append([]string{}, cached...), revoked...), nil) {
		require.Equal(t, 200, r.status, "warm-up")
	}
	require.NoError(t, c.client.RevokeSessions(ctx, byClient))
	c.revoke(direct, c.clk.Now())
	require.NoError(t, c.client.DeleteUser(ctx, deleted))
	c.truth.deleteUser(deleted)

	at0 := c.attempts()
	stale0 := metric(t, c.reg, "tokenguard_cache_lookups_total", "result", "stale")
	fc.inject(c)
	for phase := range phaseHealed + 1 {
		if phase == phaseHealed {
			d := c.attempts().minus(at0)
			row.verify, row.login, row.refresh = d.verify, d.login, d.refresh
			row.stale = int(metric(t, c.reg, "tokenguard_cache_lookups_total", "result", "stale") - stale0)
			if fc.check != nil {
				fc.check(t, d)
			}
			if fc.heal != nil {
				fc.heal(c)
			} else {
				c.srv.ClearFaults()
			}
		}
		c.clk.Advance(phaseAdvance[phase])
		for range rounds {
			batch, classes := c.mix(t, phase, cached, fresh, revoked, byClient, direct)
			var midway func()
			if phase != phaseHealed {
				if fc.eachBatch != nil {
					fc.eachBatch(c)
				}
				if fc.midway != nil {
					midway = func() { fc.midway(c) }
				}
			}
			ok := true
			for i, r := range c.send(t, batch, midway) {
				if phase != phaseHealed {
					row.count(r.status)
				}
				w := want(fc, classes[i], phase)
				if r.status != w {
					ok = false
					t.Errorf("%s: %s token #%d: status %d, want %d", phaseNames[phase], classes[i], i, r.status, w)
				}
				if r.status == 503 && r.retryAfter != orDefault(fc.retryAfter, "2") {
					t.Errorf("%s: %s token: Retry-After %q, want %q", phaseNames[phase], classes[i], r.retryAfter, orDefault(fc.retryAfter, "2"))
				}
			}
			if phase == phaseHealed && !ok {
				row.recovered = false
			}
		}
	}
	wantStale := 0
	if !fc.recoverable {
		wantStale = n * rounds
	}
	assert.Equal(t, wantStale, row.stale, "answers served stale")

	row.unverified = c.truth.violations.Load()
	assert.Zero(t, row.unverified, "admitted without a verified, unrevoked identity; first: %s", c.truth.firstViolation())
	c.close()
	goleak.VerifyNone(t, ignore)
	row.elapsed = time.Since(start)
	return row
}

// mix builds one batch of the request mix for phase, classes interleaved so
// that a midway fault hits every class.
func (c *chain) mix(t *testing.T, phase int, cached, freshUsers, revoked []string, byClient, direct string) (tokens, classes []string) {
	now := c.clk.Now()
	add := func(class, tok string) {
		tokens = append(tokens, tok)
		classes = append(classes, class)
	}
	for i := range cached {
		add(classCached, cached[i])
		add(classFresh, c.token(t, freshUsers[i]))
		add(classForged, forged(freshUsers[i], now))
		switch i % 3 {
		case 0:
			add(classJunk, "junk-"+randHex(16))
		case 1:
			add(classJunk, c.srv.Sign(map[string]any{"sub": freshUsers[i], "typ": "access", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-30 * time.Minute).Unix()}))
		default:
			add(classJunk, c.srv.Sign(map[string]any{"sub": freshUsers[i], "typ": "refresh", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}))
		}
	}
	for _, tok := range revoked {
		add(classRevoked, tok)
	}
	if phase == phaseHealed {
		// Users revoked earlier log in again: their new tokens are good.
		add(classFresh, c.token(t, byClient))
		add(classFresh, c.token(t, direct))
	}
	return tokens, classes
}

func (c *chain) attempts() attempts {
	return attempts{c.rt.verify.Load(), c.rt.login.Load(), c.rt.refresh.Load()}
}

func (a attempts) minus(b attempts) attempts {
	return attempts{a.verify - b.verify, a.login - b.login, a.refresh - b.refresh}
}

func (r *matrixRow) count(status int) {
	switch status {
	case 200:
		r.s200++
	case 401:
		r.s401++
	case 503:
		r.s503++
	default:
		r.other++
	}
}

func matrixTable(rows []matrixRow) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "fault\t200\t401\t503\tother\tstale 200\tadmitted unverified\tverify calls\tadmin login\tadmin refresh\trecovered\ttime\t")
	for _, r := range rows {
		rec := "yes"
		if !r.recovered {
			rec = "NO"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%v\t\n", r.name, r.s200, r.s401, r.s503, r.other,
			r.stale, r.unverified, r.verify, r.login, r.refresh, rec, r.elapsed.Round(time.Millisecond))
	}
	_ = w.Flush()
	return b.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
