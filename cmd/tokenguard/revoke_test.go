package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

const revokeTestSecret = "revoke-command-test-secret-32-bytes!"

// revokeTestNow is the clock of the command and of the webhook it calls.
var revokeTestNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// revokeServer is a real revoke webhook on loopback, with its clock at now,
// recording the revocations it is given.
func revokeServer(t *testing.T, now time.Time) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex // guards got
	var got []string
	r := verifier.RevokerFunc(func(_ context.Context, id string, at time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, id+"@"+at.UTC().Format(time.RFC3339))
		return nil
	})
	h := middleware.NewRevokeWebhook(r, [][]byte{[]byte(revokeTestSecret)}, middleware.WithWebhookLogger(slog.New(slog.DiscardHandler)),
		middleware.WithWebhookClock(func() time.Time { return now }))
	mux := http.NewServeMux()
	mux.Handle("POST /admin/revoke", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

func TestRevokeCommand(t *testing.T) {
	srv, got := revokeServer(t, revokeTestNow)
	admin := srv.URL + "/admin"
	tests := []struct {
		name   string
		args   []string
		env    env
		now    time.Time // the command's clock
		want   string    // the revocation the webhook saw; "" for none
		errMsg string    // substring of the error; "" for success
	}{
		{name: "now", args: []string{"--admin-url", admin, "--user-id", "u1"}, want: "u1@2030-06-01T12:00:00Z"},
		{name: "unix seconds", args: []string{"--admin-url", admin, "--user-id", "u2", "--revoked-at", "1900000000"}, want: "u2@2030-03-17T17:46:40Z"},
		{name: "RFC 3339", args: []string{"--admin-url", admin, "--user-id", "u3", "--revoked-at", "2030-06-01T13:30:00+02:00"}, want: "u3@2030-06-01T11:30:00Z"},
		{name: "flags from the environment", env: env{"TOKENGUARD_ADMIN_URL": admin, "TOKENGUARD_USER_ID": "u4"}, want: "u4@2030-06-01T12:00:00Z"},
		{name: "first secret of a list signs", args: []string{"--admin-url", admin, "--user-id", "u5"},
			env: env{revokeSecretEnv: revokeTestSecret + ",another-secret-that-is-32-bytes-long"}, want: "u5@2030-06-01T12:00:00Z"},
		{name: "clock far off: the webhook refuses", args: []string{"--admin-url", admin, "--user-id", "u6"}, now: revokeTestNow.Add(-6 * time.Minute),
			errMsg: `answered 401 Unauthorized: {"error":"signature time outside the tolerance"}`},
		{name: "wrong secret", args: []string{"--admin-url", admin, "--user-id", "u7"}, env: env{revokeSecretEnv: strings.Repeat("w", 32)},
			errMsg: "401 Unauthorized"},
		{name: "no secret", args: []string{"--admin-url", admin, "--user-id", "u"}, env: env{revokeSecretEnv: ""}, errMsg: "TOKENGUARD_REVOKE_SECRET is not set"},
		{name: "short secret", args: []string{"--admin-url", admin, "--user-id", "u"}, env: env{revokeSecretEnv: "short"}, errMsg: "shorter than 32 bytes"},
		{name: "no admin url", args: []string{"--user-id", "u"}, errMsg: "--admin-url is required"},
		{name: "no user id", args: []string{"--admin-url", admin}, errMsg: "--user-id is required"},
		{name: "admin url not http", args: []string{"--admin-url", "localhost:9090", "--user-id", "u"}, errMsg: "is not an absolute http(s) URL"},
		{name: "bad revoked-at", args: []string{"--admin-url", admin, "--user-id", "u", "--revoked-at", "yesterday"}, errMsg: "neither Unix seconds nor RFC 3339"},
		{name: "zero revoked-at", args: []string{"--admin-url", admin, "--user-id", "u", "--revoked-at", "0"}, errMsg: "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env{revokeSecretEnv: revokeTestSecret}
			for k, v := range tt.env {
				e[k] = v
			}
			now := tt.now
			if now.IsZero() {
				now = revokeTestNow
			}
			before := len(got())
			var stdout bytes.Buffer
			err := revokeCommand{lookupEnv: e.lookup, now: func() time.Time { return now }, client: srv.Client()}.
				run(context.Background(), tt.args, &stdout, io.Discard)
			if tt.errMsg != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errMsg)
				assert.Len(t, got(), before, "nothing revoked")
				assert.NotContains(t, err.Error(), revokeTestSecret)
				return
			}
			require.NoError(t, err)
			assert.Contains(t, stdout.String(), "revoked the tokens of user")
			require.Len(t, got(), before+1)
			assert.Equal(t, tt.want, got()[before])
		})
	}
}

// The subcommand is listed and its help names the secret's variable.
func TestRevokeCommandHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, run(context.Background(), []string{"revoke", "-h"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "TOKENGUARD_REVOKE_SECRET")
	assert.Contains(t, stderr.String(), "-revoked-at time")
	stdout.Reset()
	run(context.Background(), []string{"help"}, &stdout, &stderr)
	assert.Contains(t, stdout.String(), "revoke")
}
