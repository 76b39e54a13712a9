package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives the tests, but for
// fasthttp's own background goroutines (the nginx tests run forward-auth on
// the fasthttp engine too): one process-wide goroutine updates its Date
// header, and each stopped server's worker-pool cleaner sleeps out its last
// interval before it returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

func TestRunDispatch(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		noStderr bool
	}{
		{"no subcommand", nil, 2, "", "subcommands:\n  demo", false},
		{"unknown subcommand", []string{"serve"}, 2, "", `unknown subcommand "serve"`, false},
		{"help", []string{"help"}, 0, "usage: tokenguard <subcommand>", "", true},
		{"--help", []string{"--help"}, 0, "emulator", "", true},
		{"subcommand help", []string{"emulator", "-h"}, 0, "", "-seed-user", false},
		{"bad flag", []string{"emulator", "--bogus"}, 2, "", "flag provided but not defined", false},
		{"bad value", []string{"emulator", "--seed-user", "no-colon"}, 2, "", "want email:password", false},
		{"runs until the context ends", []string{"emulator", "--listen", "127.0.0.1:0"}, 0, "shutting down", "", true},
		{"listen failure", []string{"emulator", "--listen", "256.0.0.1:0"}, 1, "", "failed to listen", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(cancelled, tt.args, &stdout, &stderr)
			assert.Equal(t, tt.code, code, "stderr: %s", stderr.String())
			assert.Contains(t, stdout.String(), tt.stdout)
			assert.Contains(t, stderr.String(), tt.stderr)
			if tt.noStderr {
				assert.Empty(t, stderr.String())
			}
		})
	}
}
