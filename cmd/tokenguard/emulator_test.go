package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// startEmulator runs the emulator subcommand in-process and returns its
// server once it listens, with stop, which ends the subcommand's context and
// returns its error. The test's cleanup stops it too.
func startEmulator(t *testing.T, args []string, e env) (*appservicestest.Server, *bytes.Buffer, *bytes.Buffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *appservicestest.Server, 1)
	done := make(chan error, 1)
	stdout, stderr := new(bytes.Buffer), new(bytes.Buffer)
	cmd := emulatorCommand{lookupEnv: e.lookup, ready: func(s *appservicestest.Server) { ready <- s }}
	go func() { done <- cmd.run(ctx, args, stdout, stderr) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case s := <-ready:
		return s, stdout, stderr, stop
	case early := <-done:
		once.Do(func() { cancel(); err = early }) // stop must not wait for done again
		t.Fatalf("emulator exited early: %v; stderr: %s", early, stderr)
		return nil, nil, nil, nil
	}
}

func postJSON(t *testing.T, c *http.Client, url, bearer string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest("POST", url, bytes.NewReader(b))
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func TestEmulatorServes(t *testing.T) {
	s, stdout, stderr, stop := startEmulator(t,
		[]string{"--listen", "127.0.0.1:0", "--seed-user", "ada@example.com:pass:word", "--public-key", "pub", "--token-ttl", "1m"},
		env{"TOKENGUARD_PRIVATE_KEY": "priv", "TOKENGUARD_SEED_USER": "ignored@example.com:x", "TOKENGUARD_STRICT_REVOCATION": "true"})
	c := s.Client()

	// The client API logs the seeded user in (the password keeps its colon).
	status, sess := postJSON(t, c, s.ClientURL()+"/app/"+appservicestest.DefaultClientAppID+"/auth/providers/local-userpass/login", "",
		map[string]string{"username": "ada@example.com", "password": "pass:word"})
	require.Equal(t, 200, status)
	userID := sess["user_id"].(string)

	// The Admin API takes the key pair from flag and environment.
	status, _ = postJSON(t, c, s.AdminURL()+"/auth/providers/mongodb-cloud/login", "", map[string]string{"username": "pub", "apiKey": appservicestest.DefaultPrivateKey})
	require.Equal(t, 401, status)
	status, admin := postJSON(t, c, s.AdminURL()+"/auth/providers/mongodb-cloud/login", "", map[string]string{"username": "pub", "apiKey": "priv"})
	require.Equal(t, 200, status)

	cfg := s.Config()
	verify := s.AdminURL() + "/groups/" + cfg.GroupID + "/apps/" + cfg.AppID + "/users/verify_token"
	status, claims := postJSON(t, c, verify, admin["access_token"].(string), map[string]string{"token": sess["access_token"].(string)})
	require.Equal(t, 200, status)
	assert.Equal(t, userID, claims["sub"])
	assert.Equal(t, float64(60), claims["exp"].(float64)-claims["iat"].(float64), "--token-ttl")

	// Strict revocation came from the environment.
	req, _ := http.NewRequest("PUT", s.AdminURL()+"/groups/"+cfg.GroupID+"/apps/"+cfg.AppID+"/users/"+userID+"/logout", nil)
	req.Header.Set("Authorization", "Bearer "+admin["access_token"].(string))
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 204, resp.StatusCode)
	status, _ = postJSON(t, c, verify, admin["access_token"].(string), map[string]string{"token": sess["access_token"].(string)})
	assert.Equal(t, 401, status)

	require.NoError(t, stop())
	out := stdout.String()
	assert.Contains(t, out, "admin API:     "+s.AdminURL()+"\n")
	assert.Contains(t, out, "client API:    "+s.ClientURL()+"\n")
	assert.Contains(t, out, "seeded user:   ada@example.com id "+userID+"\n")
	assert.NotContains(t, out, "ignored@example.com", "the command line wins over the environment")
	assert.NotContains(t, out, "priv", "the private key is not printed")
	assert.Contains(t, out, "shutting down")
	assert.Empty(t, stderr.String())

	_, err = c.Get(s.URL)
	assert.Error(t, err, "the server is closed after the context ends")
}

func TestEmulatorWarnsOffLoopback(t *testing.T) {
	_, _, stderr, stop := startEmulator(t, []string{"--listen", "0.0.0.0:0"}, nil)
	require.NoError(t, stop())
	assert.Contains(t, stderr.String(), "warning: 0.0.0.0:0 is not a loopback address")
}

func TestEmulatorRejects(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  env
		msg  string
	}{
		{"seed without colon", []string{"--seed-user", "ada"}, nil, "--seed-user #1: want email:password"},
		{"seed without password", []string{"--seed-user", "ada@example.com:"}, nil, "want email:password"},
		{"seed twice", []string{"--seed-user", "a@x.io:1", "--seed-user", "A@x.io:2"}, nil, "given twice"},
		{"zero ttl", []string{"--token-ttl", "0s"}, nil, "--token-ttl must be positive"},
		{"negative latency", nil, env{"TOKENGUARD_LATENCY": "-1s"}, "must not be negative"},
		{"bad env", nil, env{"TOKENGUARD_TOKEN_TTL": "forever"}, "TOKENGUARD_TOKEN_TTL"},
		{"empty key", []string{"--private-key="}, nil, "must not be empty"},
		{"malformed status", []string{"--malformed-token-status", "403"}, nil, "must be 400 or 401"},
		{"confirmation mode", []string{"--confirmation", "sms"}, nil, `--confirmation "sms": want auto, email or function`},
		{"function without url", []string{"--confirmation", "function"}, nil, "--confirm-function-url is needed"},
		{"url without function", []string{"--confirm-function-url", "http://127.0.0.1:1/"}, nil, "and only then"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := emulatorCommand{lookupEnv: tt.env.lookup}.run(context.Background(), append([]string{"--listen", "127.0.0.1:0"}, tt.args...), &stdout, &stderr)
			require.Error(t, err)
			var ue *usageError
			assert.ErrorAs(t, err, &ue)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Empty(t, stdout.String(), "nothing started")
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8090": true, "[::1]:80": true, "localhost:1": true, "127.1.2.3:0": true,
		"0.0.0.0:80": false, ":8090": false, "[::]:80": false, "10.0.0.1:80": false, "example.com:80": false, "nonsense": false,
	} {
		assert.Equal(t, want, isLoopback(addr), addr)
	}
}

// The emulator must stop promptly once its context ends, even while a
// client holds a keep-alive connection.
func TestEmulatorStopsWithOpenConnections(t *testing.T) {
	s, _, _, stop := startEmulator(t, []string{"--listen", "127.0.0.1:0"}, nil)
	status, _ := postJSON(t, s.Client(), s.AdminURL()+"/auth/providers/mongodb-cloud/login", "", map[string]string{"username": "x", "apiKey": "y"})
	require.Equal(t, 401, status)
	errc := make(chan error, 1)
	go func() { errc <- stop() }()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("emulator did not stop")
	}
}

func getJSON(t *testing.T, c *http.Client, url, bearer string) (int, []map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var list []map[string]any
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_ = json.Unmarshal(raw, &list)
	return resp.StatusCode, list
}

// The sign-up and verify_token flags reach the emulator: a registration
// stays pending under --confirmation email, the confirmation function named
// by --confirm-function-url decides under --confirmation function, and
// verify_token answers a malformed token with --malformed-token-status.
func TestEmulatorSignUpFlags(t *testing.T) {
	calls := make(chan []map[string]any, 1)
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var args []map[string]any
		_ = json.NewDecoder(r.Body).Decode(&args)
		calls <- args
		_, _ = io.WriteString(w, `{"status":"pending"}`)
	}))
	defer fn.Close()

	for _, tt := range []struct {
		mode      string
		args      []string
		malformed int
	}{
		{"email", []string{"--confirmation", "email", "--malformed-token-status", "400"}, 400},
		{"function", []string{"--confirmation", "function", "--confirm-function-url", fn.URL}, 401},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			s, stdout, _, stop := startEmulator(t, append([]string{"--listen", "127.0.0.1:0"}, tt.args...), nil)
			c := s.Client()
			userpass := s.ClientURL() + "/app/" + appservicestest.DefaultClientAppID + "/auth/providers/local-userpass"
			status, _ := postJSON(t, c, userpass+"/register", "", map[string]string{"email": "grace@example.com", "password": "s3cret-pass"})
			require.Equal(t, 201, status)
			if tt.mode == "function" {
				args := <-calls
				require.Len(t, args, 1)
				assert.Equal(t, "grace@example.com", args[0]["username"])
			}
			status, _ = postJSON(t, c, userpass+"/login", "", map[string]string{"username": "grace@example.com", "password": "s3cret-pass"})
			assert.Equal(t, 401, status, "a pending registration cannot log in")

			_, admin := postJSON(t, c, s.AdminURL()+"/auth/providers/mongodb-cloud/login", "",
				map[string]string{"username": appservicestest.DefaultPublicKey, "apiKey": appservicestest.DefaultPrivateKey})
			cfg := s.Config()
			app := s.AdminURL() + "/groups/" + cfg.GroupID + "/apps/" + cfg.AppID
			status, pending := getJSON(t, c, app+"/user_registrations/pending_users", admin["access_token"].(string))
			require.Equal(t, 200, status)
			require.Len(t, pending, 1)
			assert.Equal(t, "grace@example.com", pending[0]["login_ids"].([]any)[0].(map[string]any)["id"])

			status, _ = postJSON(t, c, app+"/users/verify_token", admin["access_token"].(string), map[string]string{"token": "not-a-jwt"})
			assert.Equal(t, tt.malformed, status)

			require.NoError(t, stop())
			assert.Contains(t, stdout.String(), "confirmation:  "+tt.mode+"\n")
		})
	}
}
