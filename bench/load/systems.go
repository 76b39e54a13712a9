package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// systemSpec names a system under test.
type systemSpec struct {
	ID   string
	Name string
	Auth bool // requests are authenticated by tokenguard (c, d, e)
}

var systemSpecs = []systemSpec{
	{"a", "upstream direct", false},
	{"b", "plain httputil.ReverseProxy, no auth", false},
	{"c", "tokenguard proxy", true},
	{"d", "nginx auth_request -> tokenguard forward-auth", true},
	{"e", "nginx auth_request + proxy_cache -> forward-auth (cache off)", true},
	{"f", "nginx auth_request -> 2 forward-auth replicas sharing one Redis", true},
}

func specOf(id string) systemSpec {
	for _, s := range systemSpecs {
		if s.ID == id {
			return s
		}
	}
	return systemSpec{ID: id, Name: id}
}

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
	switch id {
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
		tg, err := h.startTokenguard(ctx, "proxy", "c"+tag, 100_000, ttl)
		if err != nil {
			return nil, err
		}
		s.procs, s.URL, s.AdminURL = append(s.procs, tg.p), tg.url, tg.admin
		s.Cache = "tokenguard, ttl " + ttl.String()
		return s, nil
	case "d", "e":
		size, cacheValid := 100_000, ""
		s.Cache = "tokenguard, ttl " + ttl.String()
		if id == "e" {
			size, cacheValid = 0, nginxDuration(ttl)
			s.Cache = "nginx proxy_cache, valid " + cacheValid
		}
		tg, err := h.startTokenguard(ctx, "forward-auth", id+tag, size, ttl)
		if err != nil {
			return nil, err
		}
		s.procs, s.AdminURL = append(s.procs, tg.p), tg.admin
		ng, url, err := h.startNginx(ctx, id+tag, id == "e", []string{tg.addr}, cacheValid)
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
	args := []string{mode,
		"--listen", addr,
		"--admin-listen", admin,
		"--api-url", cfg.BaseURL,
		"--group-id", cfg.GroupID,
		"--app-id", cfg.AppID,
		"--public-key", cfg.PublicKey,
		"--private-key", cfg.PrivateKey,
		"--cache-size", strconv.Itoa(cacheSize),
		"--revoke-secret", h.secret,
		"--log-level", "warn",
		"--shutdown-timeout", "2s",
	}
	if cacheSize > 0 {
		args = append(args, "--cache-ttl", ttl.String())
	}
	if mode == "proxy" {
		args = append(args, "--upstream", h.up.URL)
	}
	args = append(args, extra...)
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
