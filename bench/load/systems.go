package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/tokenguard/tokenguard/internal/gateway"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// systemSpec names a system under test.
type systemSpec struct {
	ID   string
	Name string
	Auth bool // requests are authenticated by tokenguard (c, d, e, f, g, h)
	// Kind is the system it is a variant of ("c" for g, "d" for h); "" when
	// it is its own (see kind).
	Kind string
	// Engine is tokenguard's --engine; "" runs the binary's default engine.
	Engine string
}

var systemSpecs = []systemSpec{
	{ID: "a", Name: "upstream direct"},
	{ID: "b", Name: "plain httputil.ReverseProxy, no auth"},
	{ID: "c", Name: "tokenguard proxy", Auth: true},
	{ID: "d", Name: "nginx auth_request -> tokenguard forward-auth", Auth: true},
	{ID: "e", Name: "nginx auth_request + proxy_cache -> forward-auth (cache off)", Auth: true},
	{ID: "f", Name: "nginx auth_request -> 2 forward-auth replicas sharing one Redis", Auth: true},
	{ID: "g", Name: "tokenguard proxy --engine fasthttp", Auth: true, Kind: "c", Engine: "fasthttp"},
	{ID: "h", Name: "nginx auth_request -> tokenguard forward-auth --engine fasthttp", Auth: true, Kind: "d", Engine: "fasthttp"},
}

// defaultSystems is -only's default.
const defaultSystems = "a,b,c,d,e"

func specOf(id string) systemSpec {
	for _, s := range systemSpecs {
		if s.ID == id {
			return s
		}
	}
	return systemSpec{ID: id, Name: id}
}

// known reports whether id names a system.
func known(id string) bool { return specOf(id).Name != id }

// systemIDs lists every system's id, for messages.
func systemIDs() []string {
	ids := make([]string, len(systemSpecs))
	for i, s := range systemSpecs {
		ids[i] = s.ID
	}
	return ids
}

// kind is the system s is started as: its Kind, or its own ID.
func (s systemSpec) kind() string {
	if s.Kind != "" {
		return s.Kind
	}
	return s.ID
}

// nginx reports whether the system runs nginx in front.
func (s systemSpec) nginx() bool {
	switch s.kind() {
	case "d", "e", "f":
		return true
	}
	return false
}

// engineArgs is the --engine flag the system's tokenguard gets, if any.
func (s systemSpec) engineArgs() []string {
	if s.Engine == "" {
		return nil
	}
	return []string{"--engine", s.Engine}
}

// cachingSystems are the systems with a cache, taken through the stampede,
// expiry, junk and revoke checks.
var cachingSystems = []string{"c", "d", "e", "g", "h"}

// system is a running system under test.
type system struct {
	systemSpec
	URL      string   // where load goes: http://127.0.0.1:port
	AdminURL string   // tokenguard's admin listener (revoke, metrics), "" if none
	Peers    []string // admin listeners of the other replicas, which learn revocations through Redis
	Cache    string   // who caches, for the report
	procs    []*proc  // whose CPU and RSS count as the gateway's
}

// pids lists every process whose CPU and memory count, nginx workers included.
func (s *system) pids() []int {
	roots := make([]int, len(s.procs))
	kids := make([]bool, len(s.procs))
	for i, p := range s.procs {
		roots[i], kids[i] = p.pid(), p.children
	}
	return measuredPIDs(roots, kids)
}

// programs lists the programs the system runs, in start order, each once:
// the first word of each process's name (tokenguard, nginx, redis-server).
func (s *system) programs() []string {
	var out []string
	for _, p := range s.procs {
		if prog := programOf(p.name); !slices.Contains(out, prog) {
			out = append(out, prog)
		}
	}
	return out
}

// pidsOf is pids for the processes of one program only.
func (s *system) pidsOf(program string) []int {
	var roots []int
	var kids []bool
	for _, p := range s.procs {
		if programOf(p.name) == program {
			roots, kids = append(roots, p.pid()), append(kids, p.children)
		}
	}
	return measuredPIDs(roots, kids)
}

func programOf(procName string) string {
	prog, _, _ := strings.Cut(procName, " ")
	return prog
}

func (s *system) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop(5 * time.Second)
	}
}

// startSystem starts system id with the given cache TTL (tokenguard's cache
// for c and d, nginx's proxy_cache_valid for e). tag keeps log and config
// paths of several instances apart.
func (h *harness) startSystem(ctx context.Context, id, tag string, ttl time.Duration) (sys *system, err error) {
	s := &system{systemSpec: specOf(id)}
	defer func() {
		if err != nil {
			s.stop()
			err = fmt.Errorf("system (%s) %s: %w", id, s.Name, err)
		}
	}()
	switch s.kind() {
	case "a":
		s.URL, s.Cache = h.up.URL, "-"
		return s, nil
	case "b":
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		p, err := startProc("plainproxy", h.logPath("b"+tag), false, h.plainBin, "-listen", addr, "-upstream", h.up.URL)
		if err != nil {
			return nil, err
		}
		s.procs, s.URL, s.Cache = append(s.procs, p), "http://"+addr, "-"
		return s, waitHTTP(ctx, p, s.URL+"/", status(200), 15*time.Second)
	case "c":
		mode, size, extra := tokenguardOf(s.systemSpec)
		tg, err := h.startTokenguard(ctx, mode, id+tag, size, ttl, extra...)
		if err != nil {
			return nil, err
		}
		s.procs, s.URL, s.AdminURL = append(s.procs, tg.p), tg.url, tg.admin
		s.Cache = "tokenguard, ttl " + ttl.String()
		return s, nil
	case "d", "e":
		cacheValid := ""
		s.Cache = "tokenguard, ttl " + ttl.String()
		cached := s.kind() == "e"
		if cached {
			cacheValid = nginxDuration(ttl)
			s.Cache = "nginx proxy_cache, valid " + cacheValid
		}
		mode, size, extra := tokenguardOf(s.systemSpec)
		tg, err := h.startTokenguard(ctx, mode, id+tag, size, ttl, extra...)
		if err != nil {
			return nil, err
		}
		s.procs, s.AdminURL = append(s.procs, tg.p), tg.admin
		ng, url, err := h.startNginx(ctx, id+tag, cached, []string{tg.addr}, cacheValid)
		if err != nil {
			return nil, err
		}
		s.procs, s.URL = append(s.procs, ng), url
		return s, nil
	case "f":
		rd, err := h.startRedis(ctx, "f"+tag)
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, rd.p)
		var auths []string
		for i := range 2 {
			tg, err := h.startTokenguard(ctx, "forward-auth", fmt.Sprintf("f%s-%d", tag, i), 100_000, ttl, "--redis-url", rd.url)
			if err != nil {
				return nil, err
			}
			s.procs, auths = append(s.procs, tg.p), append(auths, tg.addr)
			if i == 0 {
				s.AdminURL = tg.admin
			} else {
				s.Peers = append(s.Peers, tg.admin)
			}
		}
		ng, url, err := h.startNginx(ctx, id+tag, false, auths, "")
		if err != nil {
			return nil, err
		}
		s.procs, s.URL = append(s.procs, ng), url
		s.Cache = "tokenguard x2, ttl " + ttl.String() + ", revocations through Redis"
		return s, nil
	}
	return nil, fmt.Errorf("unknown system %q", id)
}

// tokenguardOf is how a system of kind c, d or e runs tokenguard: its
// subcommand, cache size (0 for e, where nginx caches) and extra flags (the
// engine).
func tokenguardOf(spec systemSpec) (mode string, cacheSize int, extra []string) {
	mode, cacheSize = "forward-auth", 100_000
	switch spec.kind() {
	case "c":
		mode = "proxy"
	case "e":
		cacheSize = 0
	}
	return mode, cacheSize, spec.engineArgs()
}

type redisProc struct {
	p   *proc
	url string
}

// startRedis runs a redis-server of the system's own on a free loopback
// port, without persistence.
func (h *harness) startRedis(ctx context.Context, tag string) (*redisProc, error) {
	if h.redisBin == "" {
		return nil, fmt.Errorf("redis-server is not installed (Debian: apt-get install redis-server)")
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := strings.Cut(addr, ":")
	dir := filepath.Join(h.tmp, "redis-"+tag)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p, err := startProc("redis-server", h.logPath("redis-"+tag), false, h.redisBin,
		"--bind", host, "--port", port, "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop(2 * time.Second)
			return nil, fmt.Errorf("redis-server on %s: %w", addr, err)
		}
		time.Sleep(10 * time.Millisecond) // waiting for a process to listen
	}
	return &redisProc{p: p, url: "redis://" + addr + "/0"}, nil
}

func (h *harness) logPath(name string) string { return filepath.Join(h.tmp, name+".log") }

type tokenguardProc struct {
	p                *proc
	addr, url, admin string
}

// startTokenguard runs `tokenguard <mode>` against the emulator; cacheSize 0
// turns its cache off.
func (h *harness) startTokenguard(ctx context.Context, mode, tag string, cacheSize int, ttl time.Duration, extra ...string) (*tokenguardProc, error) {
	if h.tgBin == "" {
		return nil, fmt.Errorf("no tokenguard binary: %s", h.tgBuildErr)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := h.emu.Config()
	args := tokenguardArgs(tokenguardRun{
		mode: mode, listen: addr, admin: admin, api: cfg, secret: h.secret, upstream: h.up.URL,
		cacheSize: cacheSize, ttl: ttl,
	}, extra...)
	p, err := startProc("tokenguard "+mode, h.logPath(tag), false, h.tgBin, args...)
	if err != nil {
		return nil, err
	}
	tg := &tokenguardProc{p: p, addr: addr, url: "http://" + addr, admin: "http://" + admin}
	if err := waitHTTP(ctx, p, tg.admin+"/readyz", status(200), 20*time.Second); err != nil {
		p.stop(2 * time.Second)
		return nil, err
	}
	// No token: the gateway must answer 401 on its data port.
	if err := waitHTTP(ctx, p, tg.url+"/", status(401), 5*time.Second); err != nil {
		p.stop(2 * time.Second)
		return nil, err
	}
	return tg, nil
}

// tokenguardRun is what a tokenguard command line is built from.
type tokenguardRun struct {
	mode          string // "proxy" or "forward-auth"
	listen, admin string // host:port
	api           appservices.Config
	secret        string
	upstream      string // proxy mode's upstream URL
	cacheSize     int    // 0: cache off
	ttl           time.Duration
}

// tokenguardArgs is the command line (without the binary) of `tokenguard
// <mode>` against the emulator, extra last (--engine, --redis-url).
func tokenguardArgs(r tokenguardRun, extra ...string) []string {
	args := []string{r.mode,
		"--listen", r.listen,
		"--admin-listen", r.admin,
		"--api-url", r.api.BaseURL,
		"--group-id", r.api.GroupID,
		"--app-id", r.api.AppID,
		"--public-key", r.api.PublicKey,
		"--private-key", r.api.PrivateKey,
		"--cache-size", strconv.Itoa(r.cacheSize),
		"--revoke-secret", r.secret,
		"--log-level", "warn",
		"--shutdown-timeout", "2s",
		// Every client of the harness (wrk, the warm-up, the bursts) is
		// 127.0.0.1, and so is nginx in front: the per-client fairness
		// limit would count them all as one client and answer 429s to the
		// warm-up's and the stampedes' parallel misses. Let that one client
		// take every slot the global limit has.
		"--max-inflight-per-client", strconv.Itoa(gateway.DefaultMaxInflight),
	}
	if r.cacheSize > 0 {
		args = append(args, "--cache-ttl", r.ttl.String())
	}
	if r.mode == "proxy" {
		args = append(args, "--upstream", r.upstream)
	}
	return append(args, extra...)
}

// nginxConf is what the templates in bench/nginx/ are filled with.
type nginxConf struct {
	Root       bool   // nginx runs as root: workers run as root too ("user root;")
	Dir        string // prefix: pid, logs, temp and cache paths live here
	Workers    int
	Listen     string   // 127.0.0.1:port
	Upstream   string   // the hello upstream, host:port
	Auths      []string // tokenguard forward-auth replicas, host:port each
	CacheValid string   // proxy_cache_valid for 200 answers (auth_request_cache only)
}

func renderNginx(tmplPath string, c nginxConf) ([]byte, error) {
	t, err := template.New(filepath.Base(tmplPath)).Option("missingkey=error").ParseFiles(tmplPath)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// startNginx renders a config from bench/nginx/ and runs nginx in the foreground.
func (h *harness) startNginx(ctx context.Context, tag string, cached bool, authAddrs []string, cacheValid string) (*proc, string, error) {
	if h.nginxBin == "" {
		return nil, "", fmt.Errorf("nginx is not installed")
	}
	dir := filepath.Join(h.tmp, "nginx-"+tag)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	name := "auth_request.conf.tmpl"
	if cached {
		name = "auth_request_cache.conf.tmpl"
	}
	conf, err := renderNginx(filepath.Join(h.root, "bench", "nginx", name), nginxConf{
		Root: os.Geteuid() == 0, Dir: dir, Workers: h.cfg.nginxWorkers,
		Listen: addr, Upstream: hostPort(h.up.URL), Auths: authAddrs, CacheValid: cacheValid,
	})
	if err != nil {
		return nil, "", err
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return nil, "", err
	}
	p, err := startProc("nginx", h.logPath("nginx-"+tag), true, h.nginxBin,
		"-p", dir+"/", "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off; master_process on;")
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	if err := waitHTTP(ctx, p, url+"/", status(401), 10*time.Second); err != nil {
		p.stop(2 * time.Second)
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return nil, "", fmt.Errorf("%w; error.log: %s", err, tail(string(b), 400))
	}
	return p, url, nil
}

// nginxDuration writes d in nginx's time syntax (whole seconds, at least 1s).
func nginxDuration(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s"
}

func hostPort(url string) string {
	for _, p := range []string{"http://", "https://"} {
		if len(url) > len(p) && url[:len(p)] == p {
			return url[len(p):]
		}
	}
	return url
}
