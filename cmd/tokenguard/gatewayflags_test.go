package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/internal/gateway"
)

// required are the flags without which neither mode starts.
var required = []string{
	"--group-id", "g", "--app-id", "a", "--public-key", "pub", "--private-key", "priv",
	"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
}

func TestGatewayFlagErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		args   []string
		env    env
		stderr string
	}{
		{"upstream missing", []string{"proxy"}, nil, "--upstream: required in proxy mode"},
		{"upstream not http", []string{"proxy", "--upstream", "ftp://files"}, nil, "--upstream: \"ftp://files\" is not an absolute http(s) URL"},
		{"upstream from the environment", []string{"proxy"}, env{"TOKENGUARD_UPSTREAM": "localhost:3000"}, "--upstream: \"localhost:3000\""},
		{"upstream in forward-auth", []string{"forward-auth", "--upstream", "http://x"}, nil, "flag provided but not defined: -upstream"},
		{"group id missing", []string{"forward-auth", "--group-id", ""}, nil, "--group-id: required"},
		{"api url", []string{"forward-auth", "--api-url", "services.cloud.mongodb.com"}, nil, "--api-url: "},
		{"negative cache size", []string{"forward-auth", "--cache-size", "-1"}, nil, "--cache-size: must not be negative"},
		{"zero cache ttl", []string{"forward-auth", "--cache-ttl", "0s"}, nil, "--cache-ttl must be positive"},
		{"negative ttl", []string{"forward-auth", "--negative-ttl", "-1s"}, nil, "--negative-ttl: must not be negative"},
		{"negative stale", []string{"forward-auth", "--stale-if-error", "-5m"}, nil, "--stale-if-error: must not be negative"},
		{"verify timeout", []string{"forward-auth", "--verify-timeout", "0s"}, nil, "--verify-timeout must be positive"},
		{"max inflight", []string{"forward-auth", "--max-inflight", "0"}, nil, "--max-inflight must be positive"},
		{"shutdown timeout", []string{"forward-auth", "--shutdown-timeout", "-1s"}, nil, "--shutdown-timeout must be positive"},
		{"not a duration", []string{"forward-auth", "--cache-ttl", "5"}, nil, "invalid value \"5\" for flag -cache-ttl"},
		{"bad duration in the environment", []string{"forward-auth"}, env{"TOKENGUARD_CACHE_TTL": "soon"}, "--cache-ttl from environment variable TOKENGUARD_CACHE_TTL"},
		{"log format", []string{"forward-auth", "--log-format", "xml"}, nil, "--log-format \"xml\": want json or text"},
		{"log level", []string{"forward-auth", "--log-level", "loud"}, nil, "--log-level \"loud\""},
		{"identity prefix", []string{"forward-auth", "--identity-prefix", "X Auth:"}, nil, "--identity-prefix: "},
		{"relative skip path", []string{"forward-auth", "--trust-forwarded-uri", "--skip-path", "healthz"}, nil, "--skip-path: \"healthz\" does not start with /"},
		{"forward-auth skip path without trust", []string{"forward-auth", "--skip-path", "/healthz"}, nil, "--skip-path in forward-auth mode needs --trust-forwarded-uri"},
		{"forward-auth skip path from the environment without trust", []string{"forward-auth"}, env{"TOKENGUARD_SKIP_PATH": "/healthz"}, "--skip-path in forward-auth mode needs --trust-forwarded-uri"},
		{"forward-auth skip path, trust turned off", []string{"forward-auth", "--skip-path", "/healthz", "--trust-forwarded-uri=false"}, env{"TOKENGUARD_TRUST_FORWARDED_URI": "true"}, "needs --trust-forwarded-uri"},
		{"trust in proxy mode", []string{"proxy", "--upstream", "http://x", "--trust-forwarded-uri"}, nil, "flag provided but not defined: -trust-forwarded-uri"},
		{"bad trust value in the environment", []string{"forward-auth"}, env{"TOKENGUARD_TRUST_FORWARDED_URI": "maybe"}, "--trust-forwarded-uri from environment variable TOKENGUARD_TRUST_FORWARDED_URI"},
		{"short revoke secret", []string{"forward-auth", "--revoke-secret", "s3cret"}, nil, "--revoke-secret: a secret of 6 bytes is shorter than the 32 required"},
		{"short revoke secret in the environment list", []string{"forward-auth"}, env{"TOKENGUARD_REVOKE_SECRET": strings.Repeat("a", 32) + ",short"}, "--revoke-secret: a secret of 5 bytes"},
		{"revoke tolerance", []string{"forward-auth", "--revoke-tolerance", "0s"}, nil, "--revoke-tolerance must be positive"},
		{"unknown engine", []string{"forward-auth", "--engine", "gnet"}, nil, "--engine \"gnet\": want nethttp or fasthttp"},
		{"unknown engine in the environment", []string{"forward-auth"}, env{"TOKENGUARD_ENGINE": "gnet"}, "--engine \"gnet\""},
		{"skip everything", []string{"proxy", "--upstream", "http://x", "--skip-path", "/"}, nil, "--skip-path: \"/\" would skip authentication for every request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			mode := map[string]gatewayCommand{"proxy": {mode: gateway.ModeProxy}, "forward-auth": {mode: gateway.ModeForwardAuth}}[tt.args[0]]
			mode.lookupEnv = tt.env.lookup
			args := append(append([]string{}, required...), tt.args[1:]...)
			err := mode.run(cancelled, args, &stdout, &stderr)
			var ue *usageError
			require.ErrorAs(t, err, &ue, "a bad value is a usage error (exit 2)")
			assert.Contains(t, err.Error()+stderr.String(), tt.stderr)
		})
	}
}

func TestGatewayFlagsSecretNotEchoed(t *testing.T) {
	var stderr bytes.Buffer
	err := gatewayCommand{mode: gateway.ModeForwardAuth, lookupEnv: env{"TOKENGUARD_PRIVATE_KEY": "top-secret", "TOKENGUARD_MAX_INFLIGHT": "top-secret"}.lookup}.
		run(context.Background(), []string{"--group-id", "g"}, &bytes.Buffer{}, &stderr)
	require.Error(t, err)
	assert.NotContains(t, err.Error()+stderr.String(), "top-secret")
}

func TestGatewayHelpDocumentsEveryFlag(t *testing.T) {
	common := []string{
		"listen", "admin-listen", "api-url", "group-id", "app-id", "public-key", "private-key",
		"cache-size", "cache-ttl", "negative-ttl", "stale-if-error", "verify-timeout", "max-inflight",
		"revoke-secret", "revoke-tolerance", "pass-token", "identity-prefix", "skip-path", "log-format", "log-level", "shutdown-timeout",
	}
	for _, mode := range []string{"proxy", "forward-auth"} {
		t.Run(mode, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{mode, "-h"}, &stdout, &stderr)
			assert.Equal(t, 0, code)
			help := stderr.String()
			for _, f := range common {
				assert.Regexp(t, `(?m)^  -`+f+`( |$)`, help, "flag --%s", f)
			}
			assert.Equal(t, mode == "proxy", strings.Contains(help, "  -upstream URL"))
			assert.Equal(t, mode == "forward-auth", strings.Contains(help, "  -trust-forwarded-uri\n"), "--trust-forwarded-uri, forward-auth only")
			assert.Contains(t, help, "TOKENGUARD_PRIVATE_KEY")
			assert.Contains(t, help, `(default ":8080")`)
			assert.Contains(t, help, `(default "127.0.0.1:9090")`)
			assert.Contains(t, help, `(default "X-Auth-")`)
			assert.Contains(t, help, "(default 15s)")
		})
	}
}

func TestGatewayBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	for _, flagName := range []string{"listen", "admin-listen"} {
		t.Run(flagName, func(t *testing.T) {
			args := append(append([]string{}, required...), "--"+flagName, busy.Addr().String())
			var stderr bytes.Buffer
			err := gatewayCommand{mode: gateway.ModeForwardAuth, lookupEnv: env{}.lookup}.run(context.Background(), args, &bytes.Buffer{}, &stderr)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "--"+flagName+" "+busy.Addr().String()+": cannot listen: bind: address already in use")
		})
	}
}

func TestGatewayStopsWithItsContext(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, mode := range []string{"proxy", "forward-auth"} {
		t.Run(mode, func(t *testing.T) {
			args := append([]string{mode}, required...)
			args = append(args, "--api-url", "http://127.0.0.1:1", "--log-format", "json")
			if mode == "proxy" {
				args = append(args, "--upstream", "http://127.0.0.1:1")
			}
			var stdout, stderr bytes.Buffer
			assert.Equal(t, 0, run(cancelled, args, &stdout, &stderr), stderr.String())
			assert.Contains(t, stderr.String(), `"msg":"tokenguard: stopped"`)
		})
	}
}

// --skip-path with --trust-forwarded-uri (here from the environment) starts
// in forward-auth mode.
func TestGatewayForwardAuthSkipWithTrust(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	args := append(append([]string{}, required...), "--api-url", "http://127.0.0.1:1", "--skip-path", "/healthz")
	var stderr bytes.Buffer
	err := gatewayCommand{mode: gateway.ModeForwardAuth, lookupEnv: env{"TOKENGUARD_TRUST_FORWARDED_URI": "true"}.lookup}.
		run(cancelled, args, &bytes.Buffer{}, &stderr)
	require.NoError(t, err, stderr.String())
	assert.Contains(t, stderr.String(), "--trust-forwarded-uri: X-Forwarded-Uri, X-Original-URI")
}

// configured runs the gateway command with args (and env) on a cancelled
// context and returns the Config it built, before gateway.New saw it.
func configured(t *testing.T, mode gateway.Mode, e env, stdout io.Writer, args ...string) gateway.Config {
	t.Helper()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var cfg gateway.Config
	seen := false
	args = append(append([]string{}, required...), append([]string{"--api-url", "http://127.0.0.1:1"}, args...)...)
	if mode == gateway.ModeProxy {
		args = append(args, "--upstream", "http://127.0.0.1:1")
	}
	var stderr bytes.Buffer
	_ = gatewayCommand{mode: mode, lookupEnv: e.lookup, configure: func(c *gateway.Config) {
		cfg, seen = *c, true
	}}.run(cancelled, args, stdout, &stderr) // New may refuse the files: the Config is what is checked
	require.True(t, seen, stderr.String())
	return cfg
}

// The TLS flags, from the command line or the environment, reach the
// gateway's Config field by field.
func TestTLSFlagsReachConfig(t *testing.T) {
	want := gateway.Config{
		TLSCertFile: "/c/tls.crt", TLSKeyFile: "/c/tls.key",
		UpstreamCAFile: "/c/up-ca.pem", UpstreamClientCertFile: "/c/up.crt", UpstreamClientKeyFile: "/c/up.key",
		APICAFile: "/c/api-ca.pem", APIClientCertFile: "/c/api.crt", APIClientKeyFile: "/c/api.key",
	}
	pick := func(c gateway.Config) gateway.Config {
		return gateway.Config{
			TLSCertFile: c.TLSCertFile, TLSKeyFile: c.TLSKeyFile,
			UpstreamCAFile: c.UpstreamCAFile, UpstreamClientCertFile: c.UpstreamClientCertFile, UpstreamClientKeyFile: c.UpstreamClientKeyFile,
			APICAFile: c.APICAFile, APIClientCertFile: c.APIClientCertFile, APIClientKeyFile: c.APIClientKeyFile,
		}
	}
	flags := configured(t, gateway.ModeProxy, env{}, io.Discard,
		"--tls-cert-file", want.TLSCertFile, "--tls-key-file", want.TLSKeyFile,
		"--upstream-ca-file", want.UpstreamCAFile, "--upstream-client-cert-file", want.UpstreamClientCertFile,
		"--upstream-client-key-file", want.UpstreamClientKeyFile,
		"--api-ca-file", want.APICAFile, "--api-client-cert-file", want.APIClientCertFile,
		"--api-client-key-file", want.APIClientKeyFile)
	assert.Equal(t, want, pick(flags))
	fromEnv := configured(t, gateway.ModeProxy, env{
		"TOKENGUARD_TLS_CERT_FILE": want.TLSCertFile, "TOKENGUARD_TLS_KEY_FILE": want.TLSKeyFile,
		"TOKENGUARD_UPSTREAM_CA_FILE": want.UpstreamCAFile, "TOKENGUARD_UPSTREAM_CLIENT_CERT_FILE": want.UpstreamClientCertFile,
		"TOKENGUARD_UPSTREAM_CLIENT_KEY_FILE": want.UpstreamClientKeyFile,
		"TOKENGUARD_API_CA_FILE":              want.APICAFile, "TOKENGUARD_API_CLIENT_CERT_FILE": want.APIClientCertFile,
		"TOKENGUARD_API_CLIENT_KEY_FILE": want.APIClientKeyFile,
	}, io.Discard)
	assert.Equal(t, want, pick(fromEnv))
}

// --access-log is off by default, and names stdout, stderr or a file that
// lines are appended to and that is closed when the command returns.
func TestAccessLogFlag(t *testing.T) {
	var stdout bytes.Buffer
	assert.Nil(t, configured(t, gateway.ModeForwardAuth, env{}, &stdout).AccessLog, "off by default")
	assert.Same(t, &stdout, configured(t, gateway.ModeForwardAuth, env{}, &stdout, "--access-log", "stdout").AccessLog)

	path := filepath.Join(t.TempDir(), "access.log")
	require.NoError(t, os.WriteFile(path, []byte("kept\n"), 0o600))
	w := configured(t, gateway.ModeForwardAuth, env{"TOKENGUARD_ACCESS_LOG": path}, &stdout).AccessLog
	f, ok := w.(*os.File)
	require.True(t, ok, "%T", w)
	assert.Equal(t, path, f.Name())
	_, err := f.Write([]byte("late\n"))
	assert.ErrorIs(t, err, os.ErrClosed, "closed when the command returns")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "kept\n", string(b), "appended to, not truncated")

	var stderr bytes.Buffer
	err = gatewayCommand{mode: gateway.ModeForwardAuth, lookupEnv: env{}.lookup}.run(context.Background(),
		append(append([]string{}, required...), "--access-log", filepath.Join(t.TempDir(), "no", "such", "dir")),
		&stdout, &stderr)
	assert.ErrorContains(t, err, "--access-log")
}
