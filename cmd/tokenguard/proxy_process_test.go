package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// buildTokenguard builds this command into a temporary directory.
func buildTokenguard(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command must be on PATH to build the binary")
	bin := filepath.Join(t.TempDir(), "tokenguard")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// logStream reads a process's JSON log lines.
type logStream struct {
	lines chan map[string]any
	done  chan struct{} // closed at EOF
	mu    sync.Mutex    // guards text
	text  strings.Builder
}

func readLogs(r io.Reader) *logStream {
	s := &logStream{lines: make(chan map[string]any, 256), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.mu.Lock()
			s.text.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) == nil {
				select {
				case s.lines <- rec:
				default: // nobody waits for this many lines
				}
			}
		}
	}()
	return s
}

// waitForLogged is waitFor for a record that may already have gone by,
// read past by an earlier waitFor (the process may log it before the line
// that one waited for).
func (s *logStream) waitForLogged(t *testing.T, msg string) {
	t.Helper()
	if strings.Contains(s.String(), `"msg":"`+msg) {
		return
	}
	s.waitFor(t, msg)
}

func (s *logStream) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}

// waitFor returns the next log record whose msg contains msg. The deadline
// only keeps a broken process from hanging the test.
func (s *logStream) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case rec := <-s.lines:
			if m, _ := rec["msg"].(string); strings.Contains(m, msg) {
				return rec
			}
		case <-s.done:
			t.Fatalf("the process exited before logging %q; log:\n%s", msg, s)
		case <-deadline:
			t.Fatalf("no %q in the log within 30s; log:\n%s", msg, s)
		}
	}
}

// TestProxyProcessDrainsOnSIGTERM runs the built binary: it serves, and on
// SIGTERM stops accepting, lets an in-flight request finish and exits 0.
func TestProxyProcessDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildTokenguard(t)
	emu := appservicestest.NewServer()
	defer emu.Close()
	userID := emu.AddUser("ada@example.com", "pw")
	token, err := emu.NewAccessToken(userID)
	require.NoError(t, err)

	arrived, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
			_, _ = io.WriteString(w, "slow answer")
			return
		}
		helloHandler(w, r)
	}))
	defer up.Close()
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })

	ec := emu.Config()
	cmd := exec.Command(bin, "proxy", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream", up.URL, "--api-url", emu.URL, "--log-format", "json", "--shutdown-timeout", "20s")
	cmd.Env = append(os.Environ(), // the rest from the environment, as operators are told to
		"TOKENGUARD_GROUP_ID="+ec.GroupID, "TOKENGUARD_APP_ID="+ec.AppID,
		"TOKENGUARD_PUBLIC_KEY="+ec.PublicKey, "TOKENGUARD_PRIVATE_KEY="+ec.PrivateKey)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	logs := readLogs(stderr)
	exited := make(chan error, 1)
	go func() {
		<-logs.done // all of stderr read before Wait closes the pipe
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // no-op once it exited
		<-exited
	})

	rec := logs.waitFor(t, "tokenguard: listening")
	data, admin := "http://"+rec["addr"].(string), "http://"+rec["admin"].(string)
	logs.waitFor(t, "tokenguard: ready")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	status, body := doGet(t, client, data+"/hello", token)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `"user_id": "`+userID+`"`)

	slow := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, data+"/slow", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- resp.Status + " " + string(b)
	}()
	<-arrived
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	logs.waitFor(t, "stopped accepting connections")

	_, err = net.Dial("tcp", strings.TrimPrefix(data, "http://"))
	assert.Error(t, err, "new connections are refused while draining")
	status, _ = doGet(t, client, admin+"/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, status, "not ready while draining")

	releaseOnce.Do(func() { close(release) })
	assert.Equal(t, "200 OK slow answer", <-slow, "the in-flight request completes")
	assert.NoError(t, <-exited, "exit status 0; log:\n%s", logs)
	exited <- nil // for the cleanup
}

func doGet(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
