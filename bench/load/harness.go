package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// harness holds everything a run shares: the in-process emulator and
// upstream, the binaries, the token sets, the running systems and results.
type harness struct {
	cfg       config
	root      string // module root
	tmp       string // logs, configs, token files, binaries
	started   time.Time
	loadStart string // /proc/loadavg at the start

	emu    *appservicestest.Server
	up     *helloUpstream
	client *http.Client // admin calls: webhook, metrics

	wrkBin, nginxBin, plainBin, tgBin string
	redisBin                          string // "" when redis-server is not installed
	tgBuildErr                        string
	script                            string // the wrk Lua script on disk
	secret                            string // tokenguard --revoke-secret

	hot     []account
	hotFile string

	systems     map[string]*system // the shared instances, by id
	unavailable map[string]string  // id -> why it did not run
	scenarioErr map[string]string  // scenario -> why it stopped early
	ran         []*scenario
	results     []runResult
	profiles    []profileResult

	interrupted bool
	finished    time.Time
}

func newHarness(ctx context.Context, cfg config) (*harness, error) {
	h := &harness{cfg: cfg, started: time.Now(), systems: map[string]*system{},
		unavailable: map[string]string{}, scenarioErr: map[string]string{},
		client: &http.Client{Timeout: 5 * time.Second}, loadStart: loadAvg()}
	var err error
	if h.root, err = moduleRoot(); err != nil {
		return nil, err
	}
	if h.cfg.out == "" {
		h.cfg.out = filepath.Join(h.root, "bench", "results", h.started.Format("2006-01-02"))
	}
	if h.tmp, err = os.MkdirTemp("", "tokenguard-bench-"); err != nil {
		return nil, err
	}
	if h.wrkBin, err = exec.LookPath("wrk"); err != nil {
		return h, fmt.Errorf("wrk is required (Debian: apt-get install wrk): %w", err)
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		h.nginxBin = p
	} else if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		h.nginxBin = "/usr/sbin/nginx"
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		h.redisBin = p
	}
	if h.script, err = writeWrkScript(h.tmp); err != nil {
		return h, err
	}
	var key [32]byte // 64 hex digits; the gateway wants at least 32 bytes
	_, _ = rand.Read(key[:])
	h.secret = hex.EncodeToString(key[:])

	logf("building binaries in %s", h.tmp)
	h.plainBin = filepath.Join(h.tmp, "plainproxy")
	if out, err := h.goBuild(ctx, h.plainBin, "./bench/load/plainproxy"); err != nil {
		return h, fmt.Errorf("build plainproxy: %w: %s", err, out)
	}
	if cfg.tokenguardBin != "" {
		h.tgBin = cfg.tokenguardBin
	} else if needsTokenguard(cfg.only) {
		bin := filepath.Join(h.tmp, "tokenguard")
		if out, err := h.goBuild(ctx, bin, "./cmd/tokenguard"); err != nil {
			h.tgBuildErr = fmt.Sprintf("go build ./cmd/tokenguard: %v: %s", err, tail(out, 300))
		} else {
			h.tgBin = bin
		}
	}

	h.emu = appservicestest.NewServer(appservicestest.WithLatency(cfg.latency, 0), appservicestest.WithTokenTTL(2*time.Hour))
	if h.up, err = startUpstream(); err != nil {
		return h, err
	}
	logf("emulator %s (verify latency %s), upstream %s", h.emu.URL, cfg.latency, h.up.URL)
	if h.hot, err = h.newAccounts("hot", cfg.users); err != nil {
		return h, err
	}
	if h.hotFile, err = h.writeTokens("hot.txt", tokensOf(h.hot)); err != nil {
		return h, err
	}
	return h, nil
}

func needsTokenguard(ids []string) bool {
	for _, id := range ids {
		if specOf(id).Auth {
			return true
		}
	}
	return false
}

func (h *harness) goBuild(ctx context.Context, out, pkg string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = h.root
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// startSystems starts the shared instance of each selected system; one that
// cannot start is recorded as unavailable and left out of every scenario.
func (h *harness) startSystems(ctx context.Context) {
	for _, id := range h.cfg.only {
		if specOf(id).nginx() && h.nginxBin == "" {
			h.unavailable[id] = "nginx is not installed (Debian: apt-get install nginx-light)"
			continue
		}
		s, err := h.startSystem(ctx, id, "", 30*time.Minute)
		if err != nil {
			h.unavailable[id] = err.Error()
			logf("system (%s) unavailable: %v", id, err)
			continue
		}
		h.systems[id] = s
		logf("system (%s) %s at %s", id, s.Name, s.URL)
	}
}

func (h *harness) close() {
	for _, s := range h.systems {
		s.stop()
	}
	if h.up != nil {
		h.up.Close()
	}
	if h.emu != nil {
		h.emu.Close()
	}
	if h.tmp != "" && !h.cfg.keep {
		os.RemoveAll(h.tmp)
	} else if h.tmp != "" {
		logf("kept %s", h.tmp)
	}
}
