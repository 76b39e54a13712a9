package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/internal/gateway"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

func mustToken(t *testing.T, emu *appservicestest.Server, userID string) string {
	t.Helper()
	tok, err := emu.NewAccessToken(userID)
	require.NoError(t, err)
	return tok
}

// findNginx returns nginx's path, skipping the test when it is absent.
func findNginx(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("nginx is not installed (apt-get install nginx-light): CI must run the end-to-end test through nginx")
			}
			t.Skip("nginx is not installed (apt-get install nginx-light); skipping the end-to-end test through nginx")
		}
		path = "/usr/sbin/nginx"
	}
	out, err := exec.Command(path, "-V").CombinedOutput()
	require.NoError(t, err, "%s -V: %s", path, out)
	require.Contains(t, string(out), "http_auth_request_module", "this nginx lacks auth_request; install nginx-light or nginx-core")
	return path
}

// recordingHello is the upstream: helloHandler, recording the headers of
// every request it gets.
type recordingHello struct {
	addr    string
	mu      sync.Mutex // guards headers
	headers []http.Header
}

func newRecordingHello(t *testing.T) *recordingHello {
	r := &recordingHello{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.headers = append(r.headers, req.Header.Clone())
		r.mu.Unlock()
		helloHandler(w, req)
	}))
	t.Cleanup(s.Close)
	r.addr = strings.TrimPrefix(s.URL, "http://")
	return r
}

func (r *recordingHello) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.headers)
}

func (r *recordingHello) last(t *testing.T) http.Header {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.headers, "the upstream got no request")
	return r.headers[len(r.headers)-1]
}

type forwardAuth struct{ data, admin string }

// startForwardAuth runs `tokenguard forward-auth` in-process against emu,
// on the emulator's clock, until the test ends.
func startForwardAuth(t *testing.T, emu *appservicestest.Server, args ...string) forwardAuth {
	t.Helper()
	ec := emu.Config()
	started := make(chan forwardAuth, 1)
	cmd := gatewayCommand{
		mode: gateway.ModeForwardAuth,
		lookupEnv: env{
			"TOKENGUARD_API_URL": emu.URL, "TOKENGUARD_GROUP_ID": ec.GroupID, "TOKENGUARD_APP_ID": ec.AppID,
			"TOKENGUARD_PUBLIC_KEY": ec.PublicKey, "TOKENGUARD_PRIVATE_KEY": ec.PrivateKey,
		}.lookup,
		configure: func(c *gateway.Config) { c.Now = emu.Now },
		started: func(g *gateway.Gateway, data, admin net.Addr) {
			go func() {
				<-g.Ready()
				started <- forwardAuth{data: data.String(), admin: "http://" + admin.String()}
			}()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() {
		done <- cmd.run(ctx, append([]string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-level", "warn"}, args...), io.Discard, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	select {
	case fa := <-started:
		return fa
	case err := <-done:
		done <- err
		t.Fatalf("forward-auth exited: %v; %s", err, stderr.String())
	}
	return forwardAuth{}
}

// startNginx runs nginx with examples/nginx/nginx.conf, its three addresses
// replaced, until the test ends, and returns its URL.
func startNginx(t *testing.T, nginx, upstream, auth string) string {
	t.Helper()
	conf, err := os.ReadFile(filepath.Join("..", "..", "examples", "nginx", "nginx.conf"))
	require.NoError(t, err)
	port := freePort(t)
	dir := t.TempDir()
	lines := strings.SplitAfter(string(conf), "\n")
	for _, r := range [][2]string{
		{"listen 8000;", "listen 127.0.0.1:" + port + ";"},
		{"server 127.0.0.1:3000;", "server " + upstream + ";"},
		{"server 127.0.0.1:8080;", "server " + auth + ";"},
	} {
		n := 0
		for i, line := range lines {
			if strings.TrimSpace(line) == r[0] {
				lines[i], n = strings.Replace(line, r[0], r[1], 1), n+1
			}
		}
		require.Equal(t, 1, n, "examples/nginx/nginx.conf must hold the line %q once", r[0])
	}
	text := strings.Join(lines, "")
	// Paths nginx would otherwise take from its build (root-owned).
	paths := "http {\n    access_log " + dir + "/access.log;\n"
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		paths += "    " + p + "_temp_path " + dir + "/" + p + ";\n"
	}
	require.Equal(t, 1, strings.Count(text, "\nhttp {\n"))
	text = strings.Replace(text, "\nhttp {\n", "\n"+paths, 1)
	confPath := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(text), 0o644))

	var out syncBuffer
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"),
		"-g", "daemon off; master_process off; pid "+filepath.Join(dir, "nginx.pid")+";")
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output: %s\nnginx error.log:\n%s", out.String(), errLog)
		}
	})
	// Readiness: poll until nginx accepts, bounded, or it exits.
	addr := "127.0.0.1:" + port
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return "http://" + addr
		}
		select {
		case err := <-exited:
			exited <- err
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), errLog)
		case <-time.After(20 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "nginx did not accept on %s within 15s", addr)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

type response struct {
	status int
	header http.Header
	body   string
}

// send makes a request: GET, or POST when a body is given. Header names
// are sent as spelled.
func send(t *testing.T, c *http.Client, url, token string, headers map[string]string, body ...string) response {
	t.Helper()
	method, rd := http.MethodGet, io.Reader(nil)
	if len(body) > 0 {
		method, rd = http.MethodPost, strings.NewReader(body[0])
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header["Authorization"] = []string{"Bearer " + token}
	}
	for k, v := range headers {
		req.Header[k] = []string{v}
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
