package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildTokenguard builds ./cmd/tokenguard into dir and returns its path.
func buildTokenguard(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build tokenguard with")
	}
	bin := filepath.Join(dir, "tokenguard")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/tokenguard")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/tokenguard:\n%s", out)
	help, _ := exec.Command(bin, "proxy", "-h").CombinedOutput()
	if !strings.Contains(string(help), "-upstream") {
		t.Fatalf("tokenguard has no proxy subcommand yet:\n%s", help)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// gatewayProc is a running `tokenguard proxy`.
type gatewayProc struct {
	cmd    *exec.Cmd
	listen string // data listener, host:port
	admin  string // admin listener, host:port
	log    string // path of its stderr
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// startGateway starts bin with args (secrets travel in env) and waits for
// /readyz to answer 200.
func startGateway(t *testing.T, bin string, args, env []string) *gatewayProc {
	t.Helper()
	g := &gatewayProc{listen: freeAddr(t), admin: freeAddr(t), exited: make(chan struct{})}
	g.log = filepath.Join(t.TempDir(), "tokenguard.log")
	logf, err := os.Create(g.log)
	require.NoError(t, err)
	args = append([]string{"proxy", "--listen", g.listen, "--admin-listen", g.admin}, args...)
	g.cmd = exec.Command(bin, args...)
	g.cmd.Env = append(os.Environ(), env...)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	require.NoError(t, g.cmd.Start())
	go func() {
		g.err = g.cmd.Wait()
		logf.Close()
		close(g.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-g.exited:
		default:
			_ = g.cmd.Process.Kill()
			<-g.exited
		}
	})

	// An external process offers nothing to block on: poll /readyz.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if code, _ := httpGet("http://" + g.admin + "/readyz"); code == http.StatusOK {
			return g
		}
		select {
		case <-tick.C:
		case <-g.exited:
			t.Fatalf("tokenguard exited before it was ready: %v\n%s", g.err, g.logTail(2048))
		case <-deadline:
			t.Fatalf("tokenguard not ready after 30s\n%s", g.logTail(2048))
		}
	}
}

// stop sends SIGTERM and waits for the exit; it returns the exit error.
func (g *gatewayProc) stop(t *testing.T) error {
	t.Helper()
	require.NoError(t, g.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-g.exited:
		return g.err
	case <-time.After(30 * time.Second):
		return errors.New("no exit 30s after SIGTERM")
	}
}

func (g *gatewayProc) logTail(n int) string {
	b, _ := os.ReadFile(g.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// rssKiB reads VmRSS of pid from /proc, 0 where there is no /proc.
func rssKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// scrape reads the Prometheus text exposition at url and returns, for each
// query, the sum of the samples that match it: a metric name, optionally
// followed by one label pair, as in `go_goroutines` or
// `tokenguard_cache_lookups_total{result="stale"}`.
func scrape(url string, queries ...string) (map[string]float64, error) {
	code, body := httpGet(url)
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", url, code)
	}
	out := make(map[string]float64, len(queries))
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(line[:i], "{")
		for _, q := range queries {
			qName, qLabel, _ := strings.Cut(strings.TrimSuffix(q, "}"), "{")
			if name == qName && strings.Contains(labels, qLabel) {
				out[q] += v
			}
		}
	}
	return out, nil
}

// plainClient keeps no idle connection, so it leaves no goroutine behind.
var plainClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func httpGet(url string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, ""
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, string(b)
}
