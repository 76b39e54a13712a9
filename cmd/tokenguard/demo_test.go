package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// demoArgs puts every listener of the demo on a free loopback port.
var demoArgs = []string{
	"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
	"--emulator-listen", "127.0.0.1:0", "--hello-listen", "127.0.0.1:0", "--log-level", "warn",
}

// TestDemo runs `tokenguard demo` in-process and follows its printed
// instructions as a newcomer would: the curl line answers 200 with the user
// id, and after the printed revoke webhook call the token gets 401.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	printed := make(chan struct{})
	done := make(chan error, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- demoCommand{lookupEnv: env{}.lookup, printed: func() { close(printed) }}.run(ctx, demoArgs, &stdout, &stderr)
	}()
	select {
	case <-printed:
	case err := <-done:
		t.Fatalf("demo exited early: %v; stderr: %s", err, stderr.String())
	}
	out := stdout.String()

	// The curl line that works.
	m := regexp.MustCompile(`(?m)^  curl -s -H "Authorization: Bearer (\S+)" (http://\S+/hello)$`).FindStringSubmatch(out)
	require.NotNil(t, m, "no curl line in:\n%s", out)
	token, url := m[1], m[2]
	userID := regexp.MustCompile(`user id ([0-9a-f]{24})`).FindStringSubmatch(out)
	require.NotNil(t, userID)
	status, body := demoGet(t, url, token)
	require.Equal(t, http.StatusOK, status, body)
	var hello struct {
		Message string            `json:"message"`
		UserID  string            `json:"user_id"`
		Headers map[string]string `json:"headers"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &hello))
	assert.Equal(t, "hello", hello.Message)
	assert.Equal(t, userID[1], hello.UserID)
	assert.Equal(t, userID[1], hello.Headers["X-Auth-User-Id"])
	assert.NotContains(t, hello.Headers, "Authorization", "the token stays at the gateway")

	// Without a token.
	status, _ = demoGet(t, url, "")
	assert.Equal(t, http.StatusUnauthorized, status)

	// The revoke line, run as printed (in-process, with its environment).
	r := regexp.MustCompile(`(?m)^  TOKENGUARD_REVOKE_SECRET=([0-9a-f]{64}) \S+ revoke (--admin-url http://\S+ --user-id [0-9a-f]{24})$`).FindStringSubmatch(out)
	require.NotNil(t, r, "no revoke line in:\n%s", out)
	var revOut bytes.Buffer
	err := revokeCommand{lookupEnv: env{revokeSecretEnv: r[1]}.lookup, now: time.Now, client: http.DefaultClient}.
		run(ctx, strings.Fields(r[2]), &revOut, io.Discard)
	require.NoError(t, err)
	assert.Contains(t, revOut.String(), "revoked the tokens of user "+userID[1])
	status, body = demoGet(t, url, token)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, body, "revoked")

	assert.Regexp(t, `Metrics: +curl -s http://127\.0\.0\.1:\d+/metrics`, out)
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, stdout.String(), "tokenguard demo: stopped")
	http.DefaultClient.CloseIdleConnections()
}

func TestDemoBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	for _, flagName := range []string{"listen", "admin-listen", "hello-listen", "emulator-listen"} {
		t.Run(flagName, func(t *testing.T) {
			args := append(append([]string{}, demoArgs...), "--"+flagName, busy.Addr().String())
			err := demoCommand{lookupEnv: env{}.lookup}.run(context.Background(), args, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "--"+flagName+" "+busy.Addr().String()+":")
			assert.Contains(t, err.Error(), "address already in use")
		})
	}
}

func demoGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
