package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// A stampede run sends three bursts of -stampede requests each:
//
//  1. "wide": a fresh token over as many connections as requests, all truly
//     concurrent; only its upstream calls are kept (the singleflight test);
//  2. a second fresh token over -stampede-conns connections: the figures of
//     the run (latency, upstream calls, CPU);
//  3. that token again, now cached: the same burst without the wait.
//
// "added" is burst 2 minus burst 3 over the first request of each connection,
// the requests that were released together and waited for the verification:
// what the stampede cost its waiters, with the queueing that any burst of
// this size causes on a small machine taken out.
func (h *harness) stampedeRun(ctx context.Context, s *system, wideToken, token string) runResult {
	r := runResult{System: s.ID, Extra: map[string]float64{}}
	n, conns := h.cfg.stampedeN, h.cfg.stampedeConns
	if conns < n {
		c0 := h.emu.Calls(appservicestest.EndpointVerifyToken)
		b, err := burst(ctx, hostPort(s.URL), wideToken, n, n)
		if err != nil {
			r.Err = "wide burst: " + err.Error()
			return r
		}
		r.Extra["wide_calls"] = float64(h.emu.Calls(appservicestest.EndpointVerifyToken) - c0)
		r.Extra["wide_non2xx"] = float64(b.non2xx() + int64(b.Errors))
	}
	w := h.begin(ctx, s)
	t0 := time.Now()
	b, err := burst(ctx, hostPort(s.URL), token, n, conns)
	r.fromBurst(b, time.Since(t0))
	w.end(&r, int64(n))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	again, err := burst(ctx, hostPort(s.URL), token, n, conns)
	if err != nil {
		r.Err = "cached burst: " + err.Error()
		return r
	}
	e := r.Extra
	e["wave_p50_us"], e["wave_max_us"] = percentile(b.FirstUS, 50), percentile(b.FirstUS, 100)
	e["cached_wave_p50_us"], e["cached_p99_us"] = percentile(again.FirstUS, 50), percentile(again.LatUS, 99)
	e["added_p50_us"] = e["wave_p50_us"] - e["cached_wave_p50_us"]
	e["added_p99_us"] = r.P99US - e["cached_p99_us"]
	return r
}

func (h *harness) burstShape() string {
	n, conns := h.cfg.stampedeN, min(h.cfg.stampedeN, h.cfg.stampedeConns)
	if conns < n {
		return fmt.Sprintf("%d requests released at once, first over %d connections (all concurrent; upstream calls "+
			"in \"wide calls\"), then with another token over %d established connections (the other figures)", n, n, conns)
	}
	return fmt.Sprintf("%d requests released at once over %d established connections", n, conns)
}

const addedDoc = "The second burst is sent again once the token is cached: \"added\" is the difference in the median " +
	"latency of each connection's first request (the waiters), fresh minus cached, which takes out the queueing any " +
	"burst of this size causes on a small machine; the bar is the upstream's own latency (%s) + 1 ms. " +
	"For (a) and (b), which do not authenticate, it shows the noise."

func (h *harness) stampedeScenario() *scenario {
	return &scenario{
		Name: "stampede", Title: "Stampede of a fresh token",
		About: "Bursts of a token no cache has seen: " + h.burstShape() + ". Upstream calls must be exactly 1 in each. " +
			fmt.Sprintf(addedDoc, h.cfg.latency),
		prepare: func(context.Context, *harness, int, []*system) error { return nil },
		run: func(ctx context.Context, h *harness, s *system, round int) runResult {
			toks, err := h.freshTokens(h.hot[round%len(h.hot):], 2)
			if err != nil {
				return runResult{System: s.ID, Err: err.Error()}
			}
			return h.stampedeRun(ctx, s, toks[0], toks[1])
		},
	}
}

// expiryScenario: each system admits two tokens once, the cache entries
// expire, and then the bursts arrive. It runs its own instances of the
// selected caching systems (c, d, e, g, h) with a short cache TTL
// (tokenguard's --cache-ttl, nginx's proxy_cache_valid).
func (h *harness) expiryScenario() *scenario {
	tokens := map[string][]string{}
	ttl := h.cfg.expiryTTL
	return &scenario{
		Name: "expiry", Title: "Stampede at cache expiry",
		About: fmt.Sprintf("The caching systems run as separate instances with a %s cache TTL. Each round every system "+
			"admits its own fresh tokens once, the harness waits %s (past the TTL), then the bursts come: ", ttl, ttl+time.Second) +
			h.burstShape() + ". Upstream calls must be exactly 1 in each: nginx's proxy_cache_lock does not cover an " +
			"expired entry. " + fmt.Sprintf(addedDoc, h.cfg.latency),
		own: func(ctx context.Context, h *harness) (map[string]*system, error) {
			own := map[string]*system{}
			for _, id := range cachingSystems {
				if _, ok := h.systems[id]; !ok {
					continue // not selected, or could not start
				}
				s, err := h.startSystem(ctx, id, "-expiry", ttl)
				if err != nil {
					for _, o := range own {
						o.stop()
					}
					return nil, err
				}
				own[id] = s
			}
			return own, nil
		},
		prepare: func(ctx context.Context, h *harness, round int, systems []*system) error {
			for i, s := range systems {
				toks, err := h.freshTokens(h.hot[(round*7+i)%len(h.hot):], 2)
				if err != nil {
					return err
				}
				tokens[s.ID] = toks
				if err := h.warm(ctx, s, toks); err != nil {
					return err
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(ttl + time.Second):
				return nil
			}
		},
		run: func(ctx context.Context, h *harness, s *system, round int) runResult {
			return h.stampedeRun(ctx, s, tokens[s.ID][0], tokens[s.ID][1])
		},
	}
}
