package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// profileResult is where one system's CPU went under the hot load.
type profileResult struct {
	System string   `json:"system"`
	Tool   string   `json:"tool"` // "go tool pprof" or "perf"
	File   string   `json:"file"` // in the results dir
	Top    []string `json:"top"`  // the heaviest lines
	Err    string   `json:"error,omitempty"`
	Note   string   `json:"note,omitempty"`
	// Categories is the share (percent) of samples per kind of work.
	Categories map[string]float64 `json:"categories,omitempty"`
}

// profileSystems runs the hot load once more on (b), (c), (e) and (g) while perf
// samples every process of the system (nginx workers and forward-auth
// included); without perf, it asks tokenguard's admin listener for Go's CPU
// profile (/debug/pprof, if served). These runs are not part of any
// scenario's figures.
func (h *harness) profileSystems(ctx context.Context) {
	if err := os.MkdirAll(h.cfg.out, 0o755); err != nil {
		return
	}
	perf, _ := exec.LookPath("perf")
	secs := max(2, int(h.cfg.duration/time.Second)-1)
	for _, id := range []string{"b", "c", "e", "g"} {
		s, ok := h.systems[id]
		if !ok || !contains(h.cfg.only, id) || ctx.Err() != nil {
			continue
		}
		logf("profile (%s) under the hot load", id)
		done := make(chan error, 1)
		go func() {
			run := h.mainWrk(s, h.hotFile, false)
			run.Duration = time.Duration(secs+2) * time.Second // covers the settling and the sampling
			_, err := runWrk(ctx, h.wrkBin, h.script, run)
			done <- err
		}()
		select { // let the load settle
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
		var pr profileResult
		switch {
		case perf != "":
			pr = h.perfProfile(ctx, perf, s, secs)
		case specOf(id).kind() == "c":
			pr = h.pprofProfile(ctx, s, secs)
		}
		if pr.System != "" {
			h.profiles = append(h.profiles, pr)
		}
		if err := <-done; err != nil {
			logf("  profile load: %v", err)
		}
	}
}

// pprofProfile fetches a CPU profile from tokenguard's admin listener.
func (h *harness) pprofProfile(ctx context.Context, s *system, secs int) profileResult {
	pr := profileResult{System: s.ID, Tool: "go tool pprof", File: "profile-" + s.ID + ".pprof"}
	client := &http.Client{Timeout: time.Duration(secs+10) * time.Second}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.AdminURL+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), nil)
	resp, err := client.Do(req)
	if err != nil {
		pr.Err = err.Error()
		return pr
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		pr.Err = fmt.Sprintf("GET /debug/pprof/profile on the admin listener: %s %v (not served?)", resp.Status, err)
		return pr
	}
	path := filepath.Join(h.cfg.out, pr.File)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		pr.Err = err.Error()
		return pr
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=40", h.tgBin, path).CombinedOutput()
	if err != nil {
		pr.Err = fmt.Sprintf("go tool pprof: %v: %s", err, tail(string(out), 300))
	}
	pr.Top = topLines(string(out), 25)
	return pr
}

// perfProfile samples every process of s with perf.
func (h *harness) perfProfile(ctx context.Context, perf string, s *system, secs int) profileResult {
	pr := profileResult{System: s.ID, Tool: "perf", File: "profile-" + s.ID + ".txt"}
	pids := s.pids()
	ps := make([]string, len(pids))
	for i, p := range pids {
		ps[i] = strconv.Itoa(p)
	}
	data := filepath.Join(h.tmp, "perf-"+s.ID+".data")
	rec := exec.CommandContext(ctx, perf, "record", "-q", "-e", "cpu-clock", "-F", "999", "-p", strings.Join(ps, ","), "-o", data,
		"--", "sleep", strconv.Itoa(secs))
	if out, err := rec.CombinedOutput(); err != nil {
		pr.Err = fmt.Sprintf("perf record: %v: %s", err, tail(string(out), 300))
		return pr
	}
	out, err := exec.CommandContext(ctx, perf, "report", "-i", data, "--stdio", "--sort", "comm,sym",
		"--percent-limit", "0").Output()
	if err != nil {
		pr.Err = "perf report: " + err.Error()
		return pr
	}
	_ = os.WriteFile(filepath.Join(h.cfg.out, pr.File), out, 0o644)
	pr.Top = topLines(string(out), 15)
	pr.Categories = categorize(string(out))
	return pr
}

// topLines keeps the first n lines that are neither empty nor comments.
func topLines(s string, n int) []string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		out = append(out, strings.TrimRight(line, " "))
		if len(out) == n {
			break
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
