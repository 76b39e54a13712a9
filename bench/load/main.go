// Command load is tokenguard's load harness (make bench). On loopback only it
// starts the App Services emulator and a hello upstream in this process, and
// each system under test as its own process: (a) the upstream direct, (b) a
// plain httputil.ReverseProxy without auth, (c) tokenguard proxy, (d) nginx
// auth_request to tokenguard forward-auth, (e) nginx auth_request with
// proxy_cache in front of forward-auth with its cache off. It drives the
// scenarios with wrk, interleaving systems round by round, measures gateway
// CPU and RSS from /proc, and writes report.md, results.json and latency.svg
// to bench/results/<date>/.
//
//	go run ./bench/load                       # everything, ~6 minutes on 2 cores
//	go run ./bench/load -quick -only a,b,c    # smoke run
//	go run ./bench/load -scenarios hot,stampede -rounds 5 -duration 10s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

type config struct {
	out           string
	only          []string
	scenarios     []string
	duration      time.Duration
	rounds        int
	latency       time.Duration
	connections   int
	threads       int
	users         int
	coldTokens    int
	junkTokens    int
	stampedeN     int
	stampedeConns int
	expiryTTL     time.Duration
	revokeN       int
	nginxWorkers  int
	timeout       time.Duration
	tokenguardBin string
	quick         bool
	keep          bool
	profile       bool
}

func parseFlags(args []string) (config, error) {
	var c config
	var only, scen string
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&c.out, "out", "", "results directory (default bench/results/<YYYY-MM-DD> under the module root)")
	fs.StringVar(&only, "only", defaultSystems, "systems to run, comma-separated: a direct, b plain proxy, c tokenguard proxy, d nginx+forward-auth, e nginx+proxy_cache+forward-auth, f nginx+2 forward-auth replicas sharing Redis, g tokenguard proxy --engine fasthttp, h nginx+forward-auth --engine fasthttp (c and d run tokenguard's default engine; f, g, h are not run by default)")
	fs.StringVar(&scen, "scenarios", strings.Join(scenarioNames, ","), "scenarios to run, comma-separated")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "length of each wrk run")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds per scenario; systems take turns within each round")
	fs.DurationVar(&c.latency, "latency", 2*time.Millisecond, "emulated latency of each Admin API call (verify_token)")
	fs.IntVar(&c.connections, "connections", 64, "wrk connections")
	fs.IntVar(&c.threads, "threads", 2, "wrk threads")
	fs.IntVar(&c.users, "users", 1000, "users (one hot token each); also users per revoke round")
	fs.IntVar(&c.coldTokens, "cold-tokens", 30000, "fresh tokens minted per cold round")
	fs.IntVar(&c.junkTokens, "junk-tokens", 20000, "distinct junk tokens in the flood")
	fs.IntVar(&c.stampedeN, "stampede", 1000, "requests in a stampede")
	fs.IntVar(&c.stampedeConns, "stampede-conns", 100, "connections the measured stampede is spread over (one more burst always uses one connection per request)")
	fs.DurationVar(&c.expiryTTL, "expiry-ttl", 2*time.Second, "cache TTL of the systems in the expiry scenario")
	fs.IntVar(&c.revokeN, "revoke", 100, "users revoked per revoke round")
	fs.IntVar(&c.nginxWorkers, "nginx-workers", 0, "nginx worker_processes (0: one per CPU)")
	fs.DurationVar(&c.timeout, "timeout", 25*time.Minute, "bound on the whole run")
	fs.StringVar(&c.tokenguardBin, "tokenguard-bin", "", "use this tokenguard binary instead of building ./cmd/tokenguard")
	fs.BoolVar(&c.quick, "quick", false, "smoke run: 1 round of 1s, 100 users, small stampedes (overrides those flags)")
	fs.BoolVar(&c.profile, "profile", true, "after the hot scenario, profile (b), (c), (e) and (g) under the hot load with perf (without perf: go tool pprof from tokenguard's admin listener, if served)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temp dir (logs, nginx configs, token files)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.quick {
		c.duration, c.rounds, c.users, c.coldTokens, c.junkTokens = time.Second, 1, 100, 3000, 2000
		c.stampedeN, c.stampedeConns, c.expiryTTL, c.revokeN = 200, 50, time.Second, 10
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		c.profile = set["profile"] && c.profile
	}
	if c.nginxWorkers <= 0 {
		c.nginxWorkers = runtime.NumCPU()
	}
	c.only = splitList(only)
	c.scenarios = splitList(scen)
	for _, id := range c.only {
		if !known(id) {
			return c, fmt.Errorf("-only: unknown system %q (want one of %s)", id, strings.Join(systemIDs(), ", "))
		}
	}
	for _, s := range c.scenarios {
		if !slices.Contains(scenarioNames, s) {
			return c, fmt.Errorf("-scenarios: unknown scenario %q (want %s)", s, strings.Join(scenarioNames, ", "))
		}
	}
	switch {
	case c.duration < time.Second:
		return c, errors.New("-duration: at least 1s")
	case c.rounds < 1, c.connections < 1, c.threads < 1, c.users < 1, c.stampedeN < 1, c.stampedeConns < 1:
		return c, errors.New("-rounds, -connections, -threads, -users, -stampede and -stampede-conns must be positive")
	case c.revokeN > c.users:
		return c, errors.New("-revoke: more than -users")
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench/load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench/load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	h, err := newHarness(ctx, cfg)
	if h != nil {
		defer h.close()
	}
	if err != nil {
		return err
	}
	h.startSystems(ctx)
	for _, name := range cfg.scenarios {
		if ctx.Err() != nil {
			h.interrupted = true
			break
		}
		h.runScenario(ctx, h.scenario(name))
		// Profile while the caches hold only the hot tokens, as in "hot".
		if name == "hot" && cfg.profile && ctx.Err() == nil {
			h.profileSystems(ctx)
		}
	}
	if ctx.Err() != nil {
		h.interrupted = true
	}
	h.finished = time.Now()
	dir, err := h.writeReport()
	if err != nil {
		return err
	}
	fmt.Printf("results: %s\n", dir)
	return nil
}

// runScenario takes every selected system through the scenario's rounds,
// A B C D E A B C D E ..., so drift in the machine hits all of them alike.
func (h *harness) runScenario(ctx context.Context, sc *scenario) {
	logf("scenario %s", sc.Name)
	h.ran = append(h.ran, sc)
	own := map[string]*system{}
	if sc.own != nil {
		var err error
		if own, err = sc.own(ctx, h); err != nil {
			h.scenarioErr[sc.Name] = err.Error()
			logf("  %v", err)
			return
		}
		defer func() {
			for _, s := range own {
				s.stop()
			}
		}()
	}
	var systems []*system
	for _, id := range h.cfg.only {
		if s, ok := own[id]; ok {
			systems = append(systems, s)
		} else if s, ok := h.systems[id]; ok {
			systems = append(systems, s)
		}
	}
	for round := 1; round <= h.cfg.rounds && ctx.Err() == nil; round++ {
		if err := sc.prepare(ctx, h, round, systems); err != nil {
			h.scenarioErr[sc.Name] = fmt.Sprintf("round %d: %v", round, err)
			logf("  round %d: %v", round, err)
			return
		}
		for _, s := range systems {
			if ctx.Err() != nil {
				return
			}
			r := sc.run(ctx, h, s, round)
			r.Scenario, r.System, r.Round = sc.Name, s.ID, round
			h.results = append(h.results, r)
			logf("  round %d (%s): %s", round, s.ID, oneLine(r))
			h.settle(ctx)
		}
	}
}

// settle waits (up to 3s) until the emulator has seen no verify call for
// 300ms, so that requests still in flight when a run ended are not counted
// in the next.
func (h *harness) settle(ctx context.Context) {
	last, quiet := h.emu.Calls(appservicestest.EndpointVerifyToken), 0
	for i := 0; i < 30 && quiet < 3; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		now := h.emu.Calls(appservicestest.EndpointVerifyToken)
		if now == last {
			quiet++
		} else {
			last, quiet = now, 0
		}
	}
}

func oneLine(r runResult) string {
	if r.Err != "" {
		return "ERROR " + r.Err
	}
	return fmt.Sprintf("%.0f req/s p50 %s p99 %s max %s non2xx %d err %d calls %d cpu/req %.1fµs rss %.1fMiB",
		r.RPS, fmtUS(r.P50US), fmtUS(r.P99US), fmtUS(r.MaxUS), r.Non2xx, r.Errors, r.UpstreamCalls, r.CPUPerReqUS,
		float64(r.RSSPeakKB)/1024)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// moduleRoot walks up from the working directory to the go.mod of tokenguard.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/tokenguard/tokenguard\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the tokenguard module (no go.mod found above the working directory)")
		}
		dir = parent
	}
}
