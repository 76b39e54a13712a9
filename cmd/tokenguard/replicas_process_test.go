package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// replicaSet is an emulator, an upstream and one Redis that replicas of
// `tokenguard proxy` share.
type replicaSet struct {
	t      *testing.T
	bin    string
	emu    *appservicestest.Server
	up     *httptest.Server
	redis  *redistest.Server
	secret string
	client *http.Client
}

// replica is one running `tokenguard proxy` process.
type replica struct {
	name        string
	data, admin string
	cmd         *exec.Cmd
	logs        *logStream
	exited      chan error
}

func newReplicaSet(t *testing.T) *replicaSet {
	t.Helper()
	rs := &replicaSet{
		t:      t,
		bin:    buildTokenguard(t),
		emu:    appservicestest.NewServer(),
		up:     httptest.NewServer(http.HandlerFunc(helloHandler)),
		redis:  redistest.Start(t, redistest.WithPersistence()),
		secret: "replica-test-secret-of-32-bytes!",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second},
	}
	t.Cleanup(func() {
		rs.client.CloseIdleConnections()
		rs.up.Close()
		rs.emu.Close()
	})
	return rs
}

// start runs a replica and waits until it is ready.
func (rs *replicaSet) start(name string) *replica {
	rs.t.Helper()
	r := rs.launch(name)
	r.logs.waitFor(rs.t, "tokenguard: ready")
	return r
}

// launch runs a replica and waits until it listens.
func (rs *replicaSet) launch(name string) *replica {
	t := rs.t
	t.Helper()
	ec := rs.emu.Config()
	cmd := exec.Command(rs.bin, "proxy", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream", rs.up.URL, "--api-url", rs.emu.URL, "--log-format", "json", "--shutdown-timeout", "5s")
	cmd.Env = append(os.Environ(),
		"TOKENGUARD_GROUP_ID="+ec.GroupID, "TOKENGUARD_APP_ID="+ec.AppID,
		"TOKENGUARD_PUBLIC_KEY="+ec.PublicKey, "TOKENGUARD_PRIVATE_KEY="+ec.PrivateKey,
		"TOKENGUARD_REVOKE_SECRET="+rs.secret, "TOKENGUARD_REDIS_URL="+rs.redis.URL())
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	r := &replica{name: name, cmd: cmd, logs: readLogs(stderr), exited: make(chan error, 1)}
	go func() {
		<-r.logs.done
		r.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.exited
	})
	rec := r.logs.waitFor(t, "tokenguard: listening")
	r.data, r.admin = "http://"+rec["addr"].(string), "http://"+rec["admin"].(string)
	return r
}

// stop ends a replica with SIGTERM and waits for it.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, <-r.exited, "%s exit; log:\n%s", r.name, r.logs)
	r.exited <- nil // for the cleanup
}

// status is the answer of r to a request with token.
func (rs *replicaSet) status(r *replica, token string) int {
	req, err := http.NewRequest(http.MethodGet, r.data+"/hello", nil)
	require.NoError(rs.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := rs.client.Do(req)
	require.NoError(rs.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// revoke posts a signed revocation of userID to r's webhook.
func (rs *replicaSet) revoke(r *replica, userID string) int {
	body := fmt.Sprintf(`{"user_id":%q}`, userID)
	req, err := http.NewRequest(http.MethodPost, r.admin+"/revoke", strings.NewReader(body))
	require.NoError(rs.t, err)
	req.Header.Set(middleware.SignatureHeader, middleware.SignWebhook([]byte(rs.secret), []byte(body), time.Now()))
	resp, err := rs.client.Do(req)
	require.NoError(rs.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// user adds a user and returns its id and a fresh access token.
func (rs *replicaSet) user(i int) (string, string) {
	id := rs.emu.AddUser(fmt.Sprintf("user%d@example.com", i), "pw")
	tok, err := rs.emu.NewAccessToken(id)
	require.NoError(rs.t, err)
	return id, tok
}

// untilRefused asks r with token until it answers 401 and returns how long
// that took; the bound only keeps a broken replica from hanging the test.
func (rs *replicaSet) untilRefused(r *replica, token string, since time.Time) time.Duration {
	rs.t.Helper()
	for time.Since(since) < 10*time.Second {
		if rs.status(r, token) == http.StatusUnauthorized {
			return time.Since(since)
		}
	}
	rs.t.Fatalf("%s still admits a revoked token after 10s", r.name)
	return 0
}

// Three replicas on one Redis: a revoke through one bites on all of them,
// fast; a session started after the revocation is admitted everywhere.
func TestReplicasShareRevocations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs redis-server; skipped with -short")
	}
	rs := newReplicaSet(t)
	a, b, c := rs.start("A"), rs.start("B"), rs.start("C")
	all := []*replica{a, b, c}

	const n = 100
	var delays []time.Duration
	for i := range n {
		id, tok := rs.user(i)
		for _, r := range all {
			require.Equal(t, http.StatusOK, rs.status(r, tok), "%s admits %s before the revoke", r.name, id)
		}
		require.Equal(t, http.StatusNoContent, rs.revoke(a, id))
		done := time.Now()
		assert.Equal(t, http.StatusUnauthorized, rs.status(a, tok), "A refuses at once")
		for _, r := range []*replica{b, c} {
			delays = append(delays, rs.untilRefused(r, tok, done))
		}
	}
	slices.Sort(delays)
	p50, p99 := delays[len(delays)/2], delays[len(delays)*99/100]
	t.Logf("propagation after the webhook's 204, %d revocations on B and C: p50 %v, p99 %v, max %v", n, p50, p99, delays[len(delays)-1])
	assert.Less(t, p99, 100*time.Millisecond, "B and C refuse within 100 ms")

	// iat has one-second resolution: a session started a second later is
	// not covered by the revocation.
	id, _ := rs.user(n)
	require.Equal(t, http.StatusNoContent, rs.revoke(a, id))
	rs.emu.Advance(2 * time.Second)
	fresh, err := rs.emu.NewAccessToken(id)
	require.NoError(t, err)
	for _, r := range all {
		assert.Equal(t, http.StatusOK, rs.status(r, fresh), "%s admits a session started after the revoke", r.name)
	}
}

// A replica that was down when a revoke happened refuses the revoked token
// from its first ready moment; and a Redis restart is survived: the webhook
// answers 503 while Redis is away, and revocations made after it came back
// reach every replica.
func TestReplicasRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs redis-server; skipped with -short")
	}
	rs := newReplicaSet(t)
	a, b, c := rs.start("A"), rs.start("B"), rs.start("C")

	id, tok := rs.user(0)
	require.Equal(t, http.StatusOK, rs.status(c, tok))
	c.stop(t)
	require.Equal(t, http.StatusNoContent, rs.revoke(a, id))
	c = rs.start("C again")
	assert.Equal(t, http.StatusUnauthorized, rs.status(c, tok), "refused from the first ready moment")

	id2, tok2 := rs.user(1)
	for _, r := range []*replica{a, b, c} {
		require.Equal(t, http.StatusOK, rs.status(r, tok2))
	}
	rs.redis.Stop()
	assert.Equal(t, http.StatusServiceUnavailable, rs.revoke(a, id2), "Redis is away: the sender must retry")
	assert.Equal(t, http.StatusUnauthorized, rs.status(a, tok2), "applied where it was sent all the same")
	rs.redis.Start()
	b.logs.waitFor(t, "tokenguard: revocation feed up")
	c.logs.waitFor(t, "tokenguard: revocation feed up")
	a.logs.waitFor(t, "tokenguard: revocation feed up")
	require.Equal(t, http.StatusNoContent, rs.revoke(a, id2), "the retry is accepted")
	for _, r := range []*replica{b, c} {
		rs.untilRefused(r, tok2, time.Now())
	}
	id3, tok3 := rs.user(2)
	require.Equal(t, http.StatusOK, rs.status(c, tok3))
	require.Equal(t, http.StatusNoContent, rs.revoke(b, id3))
	for _, r := range []*replica{a, c} {
		rs.untilRefused(r, tok3, time.Now())
	}
}

// Under load on every replica: once each has refused the revoked token once,
// none admits it again.
func TestReplicasRevokeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs redis-server; skipped with -short")
	}
	rs := newReplicaSet(t)
	all := []*replica{rs.start("A"), rs.start("B"), rs.start("C")}
	id, tok := rs.user(0)

	var refusedAll atomic.Bool
	var firstRefusal [3]atomic.Bool
	var admittedAfter, requests atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, r := range all {
		for range 4 {
			wg.Go(func() {
				for n := 0; n < 3000; n++ {
					select {
					case <-stop:
						return
					default:
					}
					after := refusedAll.Load() // read before the request is sent
					code := rs.status(r, tok)
					requests.Add(1)
					switch {
					case code == http.StatusUnauthorized:
						firstRefusal[i].Store(true)
						if firstRefusal[0].Load() && firstRefusal[1].Load() && firstRefusal[2].Load() {
							refusedAll.Store(true)
						}
					case code == http.StatusOK && after:
						admittedAfter.Add(1)
					}
				}
			})
		}
	}
	require.Eventually(t, func() bool { return requests.Load() > 300 }, 10*time.Second, time.Millisecond, "load is running")
	require.Equal(t, http.StatusNoContent, rs.revoke(all[0], id))
	require.Eventually(t, refusedAll.Load, 10*time.Second, time.Millisecond, "every replica refuses")
	seen := requests.Load()
	require.Eventually(t, func() bool { return requests.Load() > seen+300 }, 10*time.Second, time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d requests in all", requests.Load())
	assert.Zero(t, admittedAfter.Load(), "requests admitted after every replica refused the token")
}

// A replica that cannot load the shared revocations at start knows none of
// them: it stays not ready until it has.
func TestReplicaNotReadyWithoutRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs redis-server; skipped with -short")
	}
	rs := newReplicaSet(t)
	rs.redis.Stop()
	r := rs.launch("A")
	r.logs.waitForLogged(t, "tokenguard: revocation feed down")
	readyz := func() (int, string) { return doGet(t, rs.client, r.admin+"/readyz", "") }
	code, body := readyz()
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "shared revocations are not loaded yet")
	assert.Never(t, func() bool { c, _ := readyz(); return c == http.StatusOK }, 300*time.Millisecond, 20*time.Millisecond,
		"ready while Redis is unreachable")

	rs.redis.Start()
	r.logs.waitFor(t, "tokenguard: ready")
	code, _ = readyz()
	assert.Equal(t, http.StatusOK, code)
}
