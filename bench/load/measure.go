package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// runResult is one system's figures in one round of one scenario.
type runResult struct {
	Scenario      string             `json:"scenario"`
	System        string             `json:"system"`
	Round         int                `json:"round"`
	Requests      int64              `json:"requests"`
	Seconds       float64            `json:"seconds"`
	RPS           float64            `json:"rps"`
	P50US         float64            `json:"p50_us"`
	P90US         float64            `json:"p90_us"`
	P99US         float64            `json:"p99_us"`
	MaxUS         float64            `json:"max_us"`
	Non2xx        int64              `json:"non2xx"`
	Errors        int64              `json:"errors"`         // no HTTP answer: connect, read, write, timeout
	UpstreamCalls int64              `json:"upstream_calls"` // verify_token calls the emulator served
	CPUUS         float64            `json:"cpu_us"`         // gateway processes' user+system CPU
	CPUPerReqUS   float64            `json:"cpu_per_req_us"`
	RSSPeakKB     int64              `json:"rss_peak_kb"`
	Extra         map[string]float64 `json:"extra,omitempty"`
	Err           string             `json:"error,omitempty"`
}

// window measures a system over one run: gateway CPU, peak RSS, verify calls
// and what reached the upstream.
type window struct {
	h     *harness
	pids  []int
	cpu0  float64
	parts []cpuPart // per program, when the system runs more than one
	self0 float64   // this process's CPU: the upstream application and the emulator
	calls int64
	up    counters
	rss   *rssSampler
}

// cpuPart is the CPU of one program of a system over a window.
type cpuPart struct {
	program string // tokenguard, nginx, redis-server
	pids    []int
	cpu0    float64
}

// harnessCPUKey is the Extra figure of the harness's own CPU per request:
// the upstream application every system forwards to, the emulator, and the
// harness's bookkeeping. A system that sends the upstream more headers
// makes it work more, on the same cores as the system.
const harnessCPUKey = "cpu_harness_per_req_us"

// cpuSplitKey is the Extra figure of a program's CPU per request, as
// tokenguard's and nginx's shares of (d) and (h).
func cpuSplitKey(program string) string {
	return "cpu_" + strings.ReplaceAll(program, "-", "_") + "_per_req_us"
}

func (h *harness) begin(ctx context.Context, s *system) *window {
	w := &window{h: h, pids: s.pids()}
	w.cpu0 = cpuOf(w.pids)
	if progs := s.programs(); len(progs) > 1 {
		for _, prog := range progs {
			pids := s.pidsOf(prog)
			w.parts = append(w.parts, cpuPart{program: prog, pids: pids, cpu0: cpuOf(pids)})
		}
	}
	w.self0 = cpuOf([]int{os.Getpid()})
	w.calls = h.emu.Calls(appservicestest.EndpointVerifyToken)
	w.up = h.up.snapshot()
	w.rss = sampleRSS(ctx, w.pids, 100*time.Millisecond)
	return w
}

// end fills r's CPU, RSS and call figures; requests is what CPU is divided by.
func (w *window) end(r *runResult, requests int64) counters {
	r.RSSPeakKB = w.rss.Stop()
	if len(w.pids) > 0 {
		r.CPUUS = cpuOf(w.pids) - w.cpu0
		if requests > 0 {
			r.CPUPerReqUS = r.CPUUS / float64(requests)
		}
		for _, p := range w.parts {
			if requests > 0 {
				if r.Extra == nil {
					r.Extra = map[string]float64{}
				}
				r.Extra[cpuSplitKey(p.program)] = (cpuOf(p.pids) - p.cpu0) / float64(requests)
			}
		}
	}
	if requests > 0 {
		if r.Extra == nil {
			r.Extra = map[string]float64{}
		}
		r.Extra[harnessCPUKey] = (cpuOf([]int{os.Getpid()}) - w.self0) / float64(requests)
	}
	r.UpstreamCalls = w.h.emu.Calls(appservicestest.EndpointVerifyToken) - w.calls
	return w.h.up.snapshot().sub(w.up)
}

// fromWrk copies wrk's figures into r.
func (r *runResult) fromWrk(w wrkResult) {
	r.Requests, r.Seconds, r.RPS = w.Requests, float64(w.DurationUS)/1e6, w.RPS()
	r.P50US, r.P90US, r.P99US, r.MaxUS = float64(w.P50US), float64(w.P90US), float64(w.P99US), float64(w.MaxUS)
	r.Non2xx, r.Errors = w.StatusErrors, w.SocketErrors()
}

// fromBurst copies a stampede's figures into r.
func (r *runResult) fromBurst(b burstResult, elapsed time.Duration) {
	r.Requests = int64(len(b.LatUS))
	r.Seconds = elapsed.Seconds()
	r.RPS = float64(r.Requests) / r.Seconds
	r.P50US, r.P90US, r.P99US = percentile(b.LatUS, 50), percentile(b.LatUS, 90), percentile(b.LatUS, 99)
	r.MaxUS = percentile(b.LatUS, 100)
	r.Non2xx, r.Errors = b.non2xx(), int64(b.Errors)
}

// warm sends every token once through s with a few parallel clients, so the
// system's cache holds them; each must be admitted.
func (h *harness) warm(ctx context.Context, s *system, toks []string) error {
	if !s.Auth || len(toks) == 0 {
		return nil
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	var (
		next   atomic.Int64
		mu     sync.Mutex // guards bad
		bad    = map[string]int{}
		wg     sync.WaitGroup
		badAny atomic.Bool
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(toks)) && ctx.Err() == nil; i = next.Add(1) - 1 {
				code, err := get(ctx, client, s.URL+"/", toks[i])
				if err == nil && code == http.StatusOK {
					continue
				}
				key := strconv.Itoa(code)
				if err != nil {
					key = err.Error()
				}
				mu.Lock()
				bad[key]++
				mu.Unlock()
				badAny.Store(true)
			}
		}()
	}
	wg.Wait()
	if badAny.Load() {
		return fmt.Errorf("warm-up of (%s): %d tokens not admitted: %v", s.ID, len(bad), bad)
	}
	return ctx.Err()
}

func get(ctx context.Context, c *http.Client, url, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// revoke calls tokenguard's revoke webhook for uid and returns its status.
// It signs as any sender must, without the middleware package:
// t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>.
func (h *harness) revoke(ctx context.Context, s *system, uid string, at time.Time) (int, error) {
	body, _ := json.Marshal(map[string]any{"user_id": uid, "revoked_at": at.Unix()})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.AdminURL+"/revoke", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tokenguard-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// scrapeMetrics reads chosen samples from tokenguard's /metrics; names are
// matched as written in the exposition format, labels included.
func (h *harness) scrapeMetrics(ctx context.Context, s *system, names ...string) map[string]float64 {
	out := map[string]float64{}
	if s.AdminURL == "" {
		return out
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.AdminURL+"/metrics", nil)
	resp, err := h.client.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out
	}
	return parseMetrics(io.LimitReader(resp.Body, 8<<20), names...)
}

// parseMetrics picks the samples named (metric name plus labels, exactly as
// exposed) out of Prometheus text exposition.
func parseMetrics(r io.Reader, names ...string) map[string]float64 {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || !want[line[:i]] {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// receivedRevocations reads tokenguard_revocations_received_total from the
// admin listener at admin.
func (h *harness) receivedRevocations(ctx context.Context, admin string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "tokenguard_revocations_received_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil
}

// awaitReceived waits until the replica at admin has received at least n
// revocations through the feed; the bound only keeps a broken replica from
// stalling the run.
func (h *harness) awaitReceived(ctx context.Context, admin string, n float64) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := h.receivedRevocations(ctx, admin)
		if err == nil && got >= n {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("replica %s: %v of %v revocations received within 5s (%v)", admin, got, n, err)
		}
	}
}
