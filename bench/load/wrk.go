package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes wrk send one bearer token per request, read from a file
// (one token per line), and print its summary as one JSON line prefixed
// "TGJSON " from done(). Script arguments: <token file> <random|seq|stamp> <threads>.
// In seq mode thread i sends tokens i, i+threads, ... and counts how often it
// ran past the end of the file ("wrapped": tokens were then reused). The stamp
// mode picks at random like random and adds an X-Bench-Sent header holding
// the wall-clock time in Unix nanoseconds at which wrk built the request
// (LuaJIT's ffi calls clock_gettime), so the upstream can tell a request sent
// after a revocation from one already in flight.
const wrkScript = `-- tokenguard bench: one bearer token per request, read from a file.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } tg_timespec;
int clock_gettime(int clk_id, tg_timespec *tp);
]]
local threads = {}
local nextid = 0

function setup(thread)
  thread:set("tid", nextid)
  nextid = nextid + 1
  table.insert(threads, thread)
end

function init(args)
  local path, mode, nthreads = args[1], args[2], tonumber(args[3])
  seq = (mode == "seq")
  stamp = (mode == "stamp")
  ts = ffi.new("tg_timespec")
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if #line > 0 then
      if (not seq) or (i % nthreads == tid) then
        local r = wrk.format("GET", "/", {["Authorization"] = "Bearer " .. line})
        if stamp then r = string.sub(r, 1, -3) end -- open the header block again
        reqs[#reqs + 1] = r
      end
      i = i + 1
    end
  end
  if #reqs == 0 then reqs[1] = wrk.format("GET", "/", {}) end
  n = #reqs
  pos = 1
  wrapped = 0
  math.randomseed(os.time() + tid * 7919)
end

function request()
  if seq then
    local r = reqs[pos]
    pos = pos + 1
    if pos > n then pos = 1; wrapped = wrapped + 1 end
    return r
  end
  if stamp then
    ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME, as Go's time.Now
    return reqs[math.random(n)] .. string.format("X-Bench-Sent: %d%09d\r\n\r\n", tonumber(ts.tv_sec), tonumber(ts.tv_nsec))
  end
  return reqs[math.random(n)]
end

function done(summary, latency, requests)
  local wrapped = 0
  for _, t in ipairs(threads) do wrapped = wrapped + (t:get("wrapped") or 0) end
  local e = summary.errors
  local f = math.floor
  io.write(string.format('TGJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"min_us":%d,"mean_us":%.1f,"max_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"wrapped":%d}\n',
    f(summary.requests), f(summary.duration), f(summary.bytes),
    f(e.connect), f(e.read), f(e.write), f(e.status), f(e.timeout),
    f(latency.min), latency.mean, f(latency.max),
    f(latency:percentile(50)), f(latency:percentile(90)), f(latency:percentile(99)), f(latency:percentile(99.9)),
    wrapped))
end
`

// wrkResult is wrk's summary as printed by wrkScript's done().
type wrkResult struct {
	Requests      int64   `json:"requests"`
	DurationUS    int64   `json:"duration_us"`
	Bytes         int64   `json:"bytes"`
	ConnectErrors int64   `json:"connect_errors"`
	ReadErrors    int64   `json:"read_errors"`
	WriteErrors   int64   `json:"write_errors"`
	StatusErrors  int64   `json:"status_errors"` // responses with status > 399
	Timeouts      int64   `json:"timeouts"`
	MinUS         int64   `json:"min_us"`
	MeanUS        float64 `json:"mean_us"`
	MaxUS         int64   `json:"max_us"`
	P50US         int64   `json:"p50_us"`
	P90US         int64   `json:"p90_us"`
	P99US         int64   `json:"p99_us"`
	P999US        int64   `json:"p999_us"`
	Wrapped       int64   `json:"wrapped"`
}

// RPS is completed requests per second.
func (r wrkResult) RPS() float64 {
	if r.DurationUS <= 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUS) / 1e6)
}

// SocketErrors is every failure that is not an HTTP status.
func (r wrkResult) SocketErrors() int64 {
	return r.ConnectErrors + r.ReadErrors + r.WriteErrors + r.Timeouts
}

const wrkMarker = "TGJSON "

// parseWrkOutput finds the TGJSON line in wrk's stdout and decodes it.
func parseWrkOutput(out []byte) (wrkResult, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, wrkMarker)
		if i < 0 {
			continue
		}
		var r wrkResult
		if err := json.Unmarshal([]byte(line[i+len(wrkMarker):]), &r); err != nil {
			return wrkResult{}, fmt.Errorf("wrk: decode summary: %w", err)
		}
		return r, nil
	}
	return wrkResult{}, errors.New("wrk: no " + strings.TrimSpace(wrkMarker) + " line in output")
}

// wrkRun describes one wrk invocation.
type wrkRun struct {
	URL         string
	Threads     int
	Connections int
	Duration    time.Duration
	TokenFile   string
	Seq         bool // walk the tokens in order instead of picking at random
	Stamp       bool // pick at random and send X-Bench-Sent (see wrkScript)
}

// args builds wrk's command line; script is the path of wrkScript on disk.
func (w wrkRun) args(script string) []string {
	mode := "random"
	switch {
	case w.Seq:
		mode = "seq"
	case w.Stamp:
		mode = "stamp"
	}
	secs := max(1, int((w.Duration+time.Second/2)/time.Second))
	return []string{
		"-t" + strconv.Itoa(w.Threads),
		"-c" + strconv.Itoa(max(w.Connections, w.Threads)),
		"-d" + strconv.Itoa(secs) + "s",
		"--timeout", "5s",
		"-s", script,
		w.URL,
		"--", w.TokenFile, mode, strconv.Itoa(w.Threads),
	}
}

// writeWrkScript puts wrkScript into dir and returns its path.
func writeWrkScript(dir string) (string, error) {
	p := filepath.Join(dir, "tokens.lua")
	return p, os.WriteFile(p, []byte(wrkScript), 0o644)
}

// runWrk runs wrk with a hard deadline of the run's duration plus a margin.
func runWrk(ctx context.Context, wrkBin, script string, w wrkRun) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, w.Duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wrkBin, w.args(script)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w: %s", w.URL, err, tail(stderr.String(), 400))
	}
	return parseWrkOutput(stdout.Bytes())
}

// tail returns at most n trailing bytes of s.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
