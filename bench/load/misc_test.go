package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRenderNginxTemplates(t *testing.T) {
	root, err := moduleRoot()
	require.NoError(t, err)
	c := nginxConf{Root: true, Dir: "/tmp/x", Workers: 2, Listen: "127.0.0.1:1001", Upstream: "127.0.0.1:1002",
		Auths: []string{"127.0.0.1:1003"}, CacheValid: "2s"}
	for _, tt := range []struct {
		file string
		want []string
	}{
		{"auth_request.conf.tmpl", []string{"user root;", "listen 127.0.0.1:1001", "server 127.0.0.1:1002;",
			"server 127.0.0.1:1003;", "auth_request /_tokenguard;", "pid /tmp/x/nginx.pid;"}},
		{"auth_request_cache.conf.tmpl", []string{"proxy_cache_key       $http_authorization;",
			"proxy_cache_valid     200 2s;", "proxy_cache_lock      on;", "proxy_cache_path /tmp/x/authcache"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			b, err := renderNginx(filepath.Join(root, "bench", "nginx", tt.file), c)
			require.NoError(t, err)
			conf := string(b)
			for _, w := range tt.want {
				assert.Contains(t, conf, w)
			}
			assert.NotContains(t, conf, "<no value>")
			assert.NotContains(t, conf, "{{")
			assert.Equal(t, strings.Count(conf, "{"), strings.Count(conf, "}"), "balanced blocks")
		})
	}
	c.Root = false
	b, err := renderNginx(filepath.Join(root, "bench", "nginx", "auth_request.conf.tmpl"), c)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "user root;", "not root: nginx's default user")
}

func TestBurstReleasesAllRequests(t *testing.T) {
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	res, err := burst(ctx, hostPort(srv.URL), "tok", 25, 10) // 10 connections, 2-3 requests each
	require.NoError(t, err)
	assert.Equal(t, int64(25), seen.Load())
	assert.Equal(t, map[int]int{200: 25}, res.Statuses)
	assert.Len(t, res.LatUS, 25)
	assert.True(t, res.LatUS[0] <= res.LatUS[24], "sorted")
	assert.Zero(t, res.Errors)

	res, err = burst(ctx, hostPort(srv.URL), "wrong", 3, 3)
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.non2xx())
}

func TestUpstreamCountsAdmittedRevoked(t *testing.T) {
	u := &helloUpstream{}
	now := time.Now()
	send := func(uid string, token bool, sent time.Time) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if uid != "" {
			r.Header.Set(headerUserID, uid)
		}
		if token {
			r.Header.Set("Authorization", "Bearer x")
		}
		if !sent.IsZero() {
			r.Header.Set(headerSent, strconv.FormatInt(sent.UnixNano(), 10))
		}
		w := httptest.NewRecorder()
		u.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code)
		if uid != "" {
			require.Contains(t, w.Body.String(), `"user_id":"`+uid+`"`)
		}
	}
	u.startTracking()
	send("u1", false, time.Time{})                    // not revoked yet
	u.markRevoked("u1", now.Add(-time.Second))        // revoke returned a second ago
	u.markRevoked("u2", now.Add(time.Hour))           // revoke "returns" in the future
	send("u1", false, time.Time{})                    // no send time, arrived after revoke: admitted
	send("u1", false, now.Add(-500*time.Millisecond)) // sent after revoke: admitted
	send("u1", false, now.Add(-2*time.Second))        // sent before revoke, arrived after: in flight
	send("u2", false, time.Time{})                    // before its revoke returned
	send("u3", false, time.Time{})                    // never revoked
	send("", true, time.Time{})                       // anonymous, token leaked
	rc := u.stopTracking()
	assert.Equal(t, int64(2), rc.Admitted)
	assert.Equal(t, int64(1), rc.InFlight)
	assert.GreaterOrEqual(t, rc.MaxLag, time.Second)
	send("u1", false, time.Time{}) // tracking off
	assert.Equal(t, counters{Requests: 8, Anonymous: 1, WithToken: 1}, u.snapshot())
	assert.Equal(t, int64(2), u.stopTracking().Admitted)

	u.startTracking()
	assert.Equal(t, revokeCounts{}, u.stopTracking(), "a new tracking period starts from zero")
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-quick", "-only", "a, c,c", "-scenarios", "hot,stampede"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, c.only)
	assert.Equal(t, []string{"hot", "stampede"}, c.scenarios)
	assert.Equal(t, time.Second, c.duration, "quick")
	assert.Equal(t, 1, c.rounds, "quick")
	assert.Positive(t, c.nginxWorkers)

	for _, args := range [][]string{{"-only", "z"}, {"-scenarios", "warp"}, {"-duration", "10ms"}, {"-users", "5", "-revoke", "10"}} {
		_, err := parseFlags(args)
		assert.Error(t, err, args)
	}
}

func TestWriteTokens(t *testing.T) {
	h := &harness{tmp: t.TempDir()}
	p, err := h.writeTokens("t.txt", []string{"a.b.c", "d.e.f"})
	require.NoError(t, err)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "a.b.c\nd.e.f\n", string(b))
	assert.Len(t, randomText(37), 37)
}
