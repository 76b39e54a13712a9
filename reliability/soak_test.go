package reliability

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	vt "github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

const (
	soakOutage  = 20 * time.Second
	soakReport  = 30 * time.Second
	soakWorkers = 8
	soakPace    = 40 * time.Millisecond // per worker: 200 requests/s at most
)

// soakSample is one row of the over-time table.
type soakSample struct {
	at                      time.Duration
	outage                  bool
	requests                int
	s200, s401, s503, other int
	stale                   float64 // total so far
	entries                 float64 // verified tokens cached, lapsed ones included
	heapMiB, rssMiB         float64
	goroutines              float64
}

// TestSoak runs mixed load through `tokenguard proxy` as a process for
// -soak-duration (5m), with revokes through its webhook, the admin session
// expired every 30s, and a 20-second App Services outage in the middle. Run
// it with make soak.
func TestSoak(t *testing.T) {
	if !*soak {
		t.Skip("runs with -soak (make soak)")
	}
	dur := *soakDuration
	require.GreaterOrEqual(t, dur, soakOutage+10*time.Second, "-soak-duration must leave room around the outage")
	bin := buildTokenguard(t, t.TempDir())

	srv := vt.NewServer()
	defer srv.Close()
	truth := newSoakTruth()
	hello := httptest.NewServer(truth.hello())
	defer hello.Close()
	secret := []byte(randHex(32))
	g := startGateway(t, bin, []string{
		"--upstream", hello.URL, "--api-url", srv.URL,
		"--group-id", vt.DefaultGroupID, "--app-id", vt.DefaultAppID, "--public-key", vt.DefaultPublicKey,
		"--cache-size", "50000", "--cache-ttl", "10s", "--negative-ttl", "10s", "--stale-if-error", "1m",
		"--verify-timeout", "2s", "--log-format", "json", "--log-level", "info",
	}, []string{ // secrets through the environment, as in production
		"TOKENGUARD_PRIVATE_KEY=" + vt.DefaultPrivateKey,
		"TOKENGUARD_REVOKE_SECRET=" + string(secret),
	})
	adminURL := "http://" + g.admin
	tr := &http.Transport{MaxIdleConnsPerHost: soakWorkers * 2}
	defer tr.CloseIdleConnections()
	load := &soakLoad{srv: srv, truth: truth, target: "http://" + g.listen + "/",
		hc: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
	var initial []string
	for i := range 300 {
		u := srv.AddUser(fmt.Sprintf("soak%d@example.com", i), "pw")
		load.users = append(load.users, u)
		if i < 200 {
			tok, _, err := truth.mint(srv, u)
			require.NoError(t, err)
			load.hot = append(load.hot, &hotToken{user: u, tok: tok})
			initial = append(initial, tok)
		}
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	for range soakWorkers {
		wg.Go(func() {
			pace := time.NewTicker(soakPace) // load pacing, not synchronisation
			defer pace.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-pace.C:
				}
				if err := load.one(ctx); err != nil {
					t.Errorf("load: %v", err)
					return
				}
			}
		})
	}

	var outStart, outEnd time.Time
	outageAt := time.NewTimer(dur/2 - soakOutage/2)
	var restartAt <-chan time.Time
	expire := time.NewTicker(30 * time.Second)
	revoke := time.NewTicker(10 * time.Second)
	report := time.NewTicker(soakReport)
	defer func() { expire.Stop(); revoke.Stop(); report.Stop(); outageAt.Stop() }()
	var samples []soakSample
	reported := 0
	sample := func() {
		s := g.sample(t, load, &reported, time.Since(start), !outStart.IsZero() && outEnd.IsZero())
		samples = append(samples, s)
		t.Logf("t=%-6v requests %-5d 200 %-5d 401 %-4d 503 %-4d other %-3d stale(total) %-5.0f cached %-5.0f heap %4.1f MiB RSS %4.1f MiB goroutines %-3.0f outage=%v",
			s.at.Round(time.Second), s.requests, s.s200, s.s401, s.s503, s.other, s.stale, s.entries, s.heapMiB, s.rssMiB, s.goroutines, s.outage)
	}
	sample()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-outageAt.C:
			outStart = time.Now()
			srv.Stop()
			restartAt = time.After(soakOutage)
		case <-restartAt:
			require.NoError(t, srv.Restart())
			outEnd = time.Now()
		case <-expire.C:
			srv.ExpireAdminSessions()
		case <-revoke.C:
			require.NoError(t, load.revokeOne(adminURL, secret))
		case <-report.C:
			sample()
		}
	}
	wg.Wait()
	require.False(t, outEnd.IsZero(), "the outage ended before the load did")
	sample()
	exitErr := g.stop(t)

	sum := summarize(load.records, outStart, outEnd, truth)
	t.Log("soak summary:\n" + sum.table(samples, truth, exitErr))
	assert.NoError(t, exitErr, "tokenguard exits 0 on SIGTERM")
	assert.Zero(t, truth.violations.Load(), "admitted unverified; first: %s", truth.first)
	assert.Zero(t, sum.serverErrorsOutside, "5xx outside the outage")
	assert.Zero(t, sum.unexpected, "answers other than each class's expected ones (see the summary)")
	logged, err := os.ReadFile(g.log)
	require.NoError(t, err)
	assert.NotRegexp(t, tokenInLog, string(logged), "a JWT or a junk token in the gateway's log")
	for _, tok := range initial {
		payload := strings.Split(tok, ".")[1]
		require.NotContains(t, string(logged), payload, "a token's claims in the gateway's log")
	}
}

// tokenInLog matches any JWT (a base64url JSON header starts "eyJ") and the
// load's junk tokens.
var tokenInLog = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}|junk-[0-9a-f]{8}`)

// sample takes one over-time row: the requests since the previous one,
// the gateway's stale answers, RSS and goroutines.
func (g *gatewayProc) sample(t *testing.T, l *soakLoad, from *int, at time.Duration, outage bool) soakSample {
	s := soakSample{at: at, outage: outage}
	l.mu.Lock()
	recs := l.records[*from:]
	*from = len(l.records)
	l.mu.Unlock()
	s.requests = len(recs)
	for _, r := range recs {
		switch r.status {
		case 200:
			s.s200++
		case 401:
			s.s401++
		case 503:
			s.s503++
		default:
			s.other++
		}
	}
	const (
		stale   = `tokenguard_cache_lookups_total{result="stale"}`
		entries = `tokenguard_cache_entries{kind="positive"}`
		heap    = "go_memstats_heap_inuse_bytes"
		gor     = "go_goroutines"
	)
	m, err := scrape("http://"+g.admin+"/metrics", stale, entries, heap, gor)
	if err != nil {
		t.Errorf("metrics: %v", err)
	}
	s.stale, s.entries, s.heapMiB, s.goroutines = m[stale], m[entries], m[heap]/(1<<20), m[gor]
	s.rssMiB = float64(rssKiB(g.cmd.Process.Pid)) / 1024
	return s
}

// soakSummary counts the load's answers by class, inside and outside the
// outage, against what each class must get.
type soakSummary struct {
	counts              [numSoakClasses][2]map[int]int // class, in outage -> status -> n
	unexpected          int
	serverErrorsOutside int
	total               int
}

// soakWant lists the statuses a class may get, outside and inside the
// outage. A request counts as inside when its lifetime overlaps it.
var soakWant = [numSoakClasses][2][]int{
	soakHot:      {{200}, {200}}, // inside: served stale
	soakFresh:    {{200}, {200, 503}},
	soakForged:   {{401}, {401, 503}},
	soakJunk:     {{401}, {401}},
	soakRevoked:  {{401}, {401}},
	soakRevoking: {{200, 401}, {200, 401, 503}},
}

func summarize(recs []soakRecord, outStart, outEnd time.Time, truth *soakTruth) soakSummary {
	var s soakSummary
	for c := range s.counts {
		s.counts[c] = [2]map[int]int{{}, {}}
	}
	for _, r := range recs {
		class := r.class
		switch {
		case r.tok != nil:
			if rv := r.tok.revoking.Load(); rv != 0 && r.end >= rv {
				class = soakRevoking
			}
		case class == soakFresh:
			class = truth.freshClass(r.fresh, r.start, r.end)
		}
		in := 0
		if r.end >= outStart.UnixNano() && r.start <= outEnd.UnixNano() {
			in = 1
		}
		s.total++
		s.counts[class][in][r.status]++
		if in == 0 && r.status >= 500 {
			s.serverErrorsOutside++
		}
		ok := false
		for _, w := range soakWant[class][in] {
			ok = ok || r.status == w
		}
		if !ok {
			s.unexpected++
		}
	}
	return s
}

func (s soakSummary) table(samples []soakSample, truth *soakTruth, exitErr error) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "class\toutside the outage (status: n)\tduring the outage\t")
	for c := range numSoakClasses {
		fmt.Fprintf(w, "%s\t%v\t%v\t\n", soakClassNames[c], s.counts[c][0], s.counts[c][1])
	}
	_ = w.Flush()
	var rssMax, heapMax, gorMax float64
	for _, x := range samples {
		rssMax, heapMax, gorMax = max(rssMax, x.rssMiB), max(heapMax, x.heapMiB), max(gorMax, x.goroutines)
	}
	first, last := samples[0], samples[len(samples)-1]
	fmt.Fprintf(&b, "requests %d, admitted by the upstream %d, admitted unverified %d, unexpected answers %d, 5xx outside the outage %d\n",
		s.total, truth.admitted.Load(), truth.violations.Load(), s.unexpected, s.serverErrorsOutside)
	fmt.Fprintf(&b, "RSS MiB first %.1f, max %.1f, last %.1f; heap in use MiB first %.1f, max %.1f, last %.1f (%.0f tokens cached at the end)\n",
		first.rssMiB, rssMax, last.rssMiB, first.heapMiB, heapMax, last.heapMiB, last.entries)
	fmt.Fprintf(&b, "goroutines first %.0f, max %.0f, last %.0f; stale answers %.0f; exit on SIGTERM: %v\n",
		first.goroutines, gorMax, last.goroutines, last.stale, exitErr)
	return b.String()
}
