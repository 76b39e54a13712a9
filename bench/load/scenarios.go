package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// scenario is one kind of load, measured on every system in turn, round by round.
type scenario struct {
	Name  string
	Title string
	About string // one paragraph for the report
	// own, when set, starts instances of this scenario's own that replace the
	// shared ones with the same ids (a different cache TTL); they are stopped
	// when the scenario ends.
	own func(ctx context.Context, h *harness) (map[string]*system, error)
	// prepare runs once per round, before the systems take their turns.
	prepare func(ctx context.Context, h *harness, round int, systems []*system) error
	// run measures one system in one round; failures go into runResult.Err.
	run func(ctx context.Context, h *harness, s *system, round int) runResult
}

var scenarioNames = []string{"hot", "cold", "stampede", "expiry", "junk", "revoke"}

func (h *harness) scenario(name string) *scenario {
	switch name {
	case "hot":
		return h.hotScenario()
	case "cold":
		return h.coldScenario()
	case "stampede":
		return h.stampedeScenario()
	case "expiry":
		return h.expiryScenario()
	case "junk":
		return h.junkScenario()
	case "revoke":
		return h.revokeScenario()
	}
	return nil
}

func (h *harness) mainWrk(s *system, file string, seq bool) wrkRun {
	return wrkRun{URL: s.URL + "/", Threads: h.cfg.threads, Connections: h.cfg.connections,
		Duration: h.cfg.duration, TokenFile: file, Seq: seq}
}

// wrkScenario measures s while the wrk runs go on concurrently; the first
// run's figures are the result's, CPU per request counts every run's requests.
func (h *harness) wrkScenario(ctx context.Context, s *system, runs ...wrkRun) (runResult, []wrkResult) {
	r := runResult{System: s.ID, Extra: map[string]float64{}}
	w := h.begin(ctx, s)
	res := make([]wrkResult, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = runWrk(ctx, h.wrkBin, h.script, run)
		}()
	}
	wg.Wait()
	var total int64
	for _, x := range res {
		total += x.Requests
	}
	up := w.end(&r, total)
	for _, err := range errs {
		if err != nil && r.Err == "" {
			r.Err = err.Error()
		}
	}
	r.fromWrk(res[0])
	if s.Auth {
		r.Extra["anonymous"] = float64(up.Anonymous)
		r.Extra["token_leaked"] = float64(up.WithToken)
	}
	return r, res
}

func (h *harness) hotScenario() *scenario {
	warmed := map[string]bool{}
	return &scenario{
		Name: "hot", Title: "Hot tokens",
		About:   fmt.Sprintf("%d users, one token each, every token cached after a warm-up; wrk picks a token at random per request.", len(h.hot)),
		prepare: func(context.Context, *harness, int, []*system) error { return nil },
		run: func(ctx context.Context, h *harness, s *system, round int) runResult {
			if !warmed[s.ID] {
				if err := h.warm(ctx, s, tokensOf(h.hot)); err != nil {
					return runResult{System: s.ID, Err: err.Error()}
				}
				warmed[s.ID] = true
			}
			r, _ := h.wrkScenario(ctx, s, h.mainWrk(s, h.hotFile, false))
			return r
		},
	}
}

func (h *harness) coldScenario() *scenario {
	var file string
	return &scenario{
		Name: "cold", Title: "Cold tokens",
		About: fmt.Sprintf("Every request carries a token no cache has seen (%d fresh tokens per round, walked in order; "+
			"\"wrapped\" counts reuse when a system outran them). Each miss is a verify_token call with %s of emulated latency.",
			h.cfg.coldTokens, h.cfg.latency),
		prepare: func(ctx context.Context, h *harness, round int, _ []*system) error {
			toks, err := h.freshTokens(h.hot, h.cfg.coldTokens)
			if err != nil {
				return err
			}
			file, err = h.writeTokens(fmt.Sprintf("cold-%d.txt", round), toks)
			return err
		},
		run: func(ctx context.Context, h *harness, s *system, round int) runResult {
			r, res := h.wrkScenario(ctx, s, h.mainWrk(s, file, true))
			r.Extra["wrapped"] = float64(res[0].Wrapped)
			return r
		},
	}
}

func (h *harness) junkScenario() *scenario {
	var junkFile string
	warmed := map[string]bool{}
	return &scenario{
		Name: "junk", Title: "Junk flood",
		About: fmt.Sprintf("The hot load (same wrk settings as \"Hot tokens\") runs while a second wrk (1 thread, %d connections) "+
			"sends random non-JWT strings and expired access tokens at full speed. Latency columns are the hot traffic's; "+
			"upstream calls must stay 0.", max(1, h.cfg.connections/2)),
		prepare: func(ctx context.Context, h *harness, round int, _ []*system) (err error) {
			if junkFile == "" {
				junkFile, err = h.writeTokens("junk.txt", h.junkTokens(h.cfg.junkTokens, h.hot))
			}
			return err
		},
		run: func(ctx context.Context, h *harness, s *system, round int) runResult {
			if !warmed[s.ID] {
				if err := h.warm(ctx, s, tokensOf(h.hot)); err != nil {
					return runResult{System: s.ID, Err: err.Error()}
				}
				warmed[s.ID] = true
			}
			flood := wrkRun{URL: s.URL + "/", Threads: 1, Connections: max(1, h.cfg.connections/2),
				Duration: h.cfg.duration, TokenFile: junkFile}
			heap0, hasHeap := h.scrapeMetrics(ctx, s, "go_memstats_heap_inuse_bytes")["go_memstats_heap_inuse_bytes"]
			r, res := h.wrkScenario(ctx, s, h.mainWrk(s, h.hotFile, false), flood)
			r.Extra["flood_requests"] = float64(res[1].Requests)
			r.Extra["flood_rps"] = res[1].RPS()
			r.Extra["flood_non2xx"] = float64(res[1].StatusErrors)
			m := h.scrapeMetrics(ctx, s, "go_memstats_heap_inuse_bytes",
				`tokenguard_cache_entries{kind="negative"}`, `tokenguard_cache_entries{kind="positive"}`)
			for k, name := range map[string]string{"heap_inuse_bytes": "go_memstats_heap_inuse_bytes",
				"negative_entries": `tokenguard_cache_entries{kind="negative"}`,
				"positive_entries": `tokenguard_cache_entries{kind="positive"}`} {
				if v, ok := m[name]; ok {
					r.Extra[k] = v
				}
			}
			if heap1, ok := r.Extra["heap_inuse_bytes"]; ok && hasHeap {
				r.Extra["heap_growth_bytes"] = heap1 - heap0
			}
			return r
		},
	}
}

func (h *harness) revokeScenario() *scenario {
	var (
		accts []account
		file  string
	)
	return &scenario{
		Name: "revoke", Title: "Revoke under load",
		About: fmt.Sprintf("%d fresh users per round, all cached after a warm-up, under the hot load; half-way through, "+
			"%d of them are revoked through tokenguard's POST /revoke webhook. \"admitted\" counts requests of a revoked "+
			"user (by X-Auth-User-Id) that wrk sent after that user's webhook call returned (wrk stamps each request with "+
			"its send time) and that reached the upstream; the bar is 0. \"in flight\" counts those sent before the "+
			"revoke returned and forwarded after it: already authenticated when the revoke came.",
			h.cfg.users, h.cfg.revokeN),
		prepare: func(ctx context.Context, h *harness, round int, _ []*system) (err error) {
			if accts, err = h.newAccounts(fmt.Sprintf("revoke%d", round), h.cfg.users); err != nil {
				return err
			}
			file, err = h.writeTokens(fmt.Sprintf("revoke-%d.txt", round), tokensOf(accts))
			return err
		},
		run: func(ctx context.Context, h *harness, s *system, round int) runResult {
			if err := h.warm(ctx, s, tokensOf(accts)); err != nil {
				return runResult{System: s.ID, Err: err.Error()}
			}
			if !s.Auth {
				r, _ := h.wrkScenario(ctx, s, h.mainWrk(s, file, false))
				return r
			}
			h.up.startTracking()
			r0Err := ""
			done := make(chan runResult, 1)
			go func() {
				run := h.mainWrk(s, file, false)
				run.Stamp = true
				r, _ := h.wrkScenario(ctx, s, run)
				done <- r
			}()
			var non2xx, status int
			var propagation time.Duration // longest wait for the other replicas
			base := make([]float64, len(s.Peers))
			for i, peer := range s.Peers {
				base[i], _ = h.receivedRevocations(ctx, peer)
			}
			t0 := time.Now()
			select {
			case <-ctx.Done():
			case <-time.After(h.cfg.duration / 2):
				t0 = time.Now()
				for k, a := range accts[:min(h.cfg.revokeN, len(accts))] {
					code, err := h.revoke(ctx, s, a.UserID, time.Now())
					if err != nil || code < 200 || code > 299 {
						non2xx, status = non2xx+1, code
					}
					// Replicas that learn it through Redis: counted from
					// the moment every one of them has it.
					w := time.Now()
					for i, peer := range s.Peers {
						if err := h.awaitReceived(ctx, peer, base[i]+float64(k+1)); err != nil && r0Err == "" {
							r0Err = err.Error()
						}
					}
					propagation = max(propagation, time.Since(w))
					// Counted as revoked whatever the webhook answered:
					// anything admitted from now on is a failure to revoke.
					h.up.markRevoked(a.UserID, time.Now())
				}
			}
			spent := time.Since(t0)
			r := <-done
			rc := h.up.stopTracking()
			r.Extra["admitted_revoked"] = float64(rc.Admitted)
			r.Extra["admitted_max_lag_ms"] = float64(rc.MaxLag.Microseconds()) / 1000
			r.Extra["inflight_at_revoke"] = float64(rc.InFlight)
			r.Extra["revoke_non2xx"] = float64(non2xx)
			if status != 0 {
				r.Extra["revoke_status"] = float64(status)
			}
			r.Extra["revoke_calls_us"] = float64(spent.Microseconds())
			if len(s.Peers) > 0 {
				r.Extra["propagation_max_ms"] = float64(propagation.Microseconds()) / 1000
			}
			if r.Err == "" {
				r.Err = r0Err
			}
			return r
		},
	}
}
