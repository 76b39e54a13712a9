package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/gateway"
)

// FuzzGatewayEnv feeds one environment variable of any gateway flag through
// parseFlags and the command's own checks. Whatever the value, parsing must
// not panic, a failure must be a usage error naming the flag and its
// variable, and a list flag must hold exactly the non-empty comma-separated
// items.
func FuzzGatewayEnv(f *testing.F) {
	f.Add("cache-size", "12")
	f.Add("cache-ttl", "-1h")
	f.Add("skip-path", "/healthz,,/metrics")
	f.Add("skip-path", ",")
	f.Add("verify-timeout", "1h2m3s")
	f.Add("pass-token", "maybe")
	f.Add("log-format", "xml")
	f.Add("max-inflight", "99999999999999999999")
	f.Fuzz(func(t *testing.T, name, value string) {
		for _, mode := range []gateway.Mode{gateway.ModeProxy, gateway.ModeForwardAuth} {
			fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var gf gatewayFlags
			gf.register(fs, mode)
			env := envName(name)
			lookup := func(k string) (string, bool) {
				if k == env {
					return value, true
				}
				return "", false
			}
			flagName := "" // the flag env belongs to; names differing in case or _ map to one variable
			fs.VisitAll(func(f *flag.Flag) {
				if envName(f.Name) == env {
					flagName = f.Name
				}
			})
			err := parseFlags(fs, nil, lookup)
			if err != nil {
				var ue *usageError
				if !errors.As(err, &ue) {
					t.Fatalf("%s=%q: error %v is not a usage error", env, value, err)
				}
				if flagName == "" {
					t.Fatalf("%s=%q: error %q for a variable of no flag", env, value, err)
				}
				if !strings.Contains(err.Error(), "--"+flagName) || !strings.Contains(err.Error(), env) {
					t.Fatalf("%s=%q: error %q does not name both the flag and the variable", env, value, err)
				}
				continue
			}
			if flagName == "skip-path" && value != "" {
				var want []string
				for _, item := range strings.Split(value, ",") {
					if item != "" {
						want = append(want, item)
					}
				}
				if strings.Join(gf.skipPaths, "\x00") != strings.Join(want, "\x00") {
					t.Fatalf("skip-path %q parsed as %q, want %q", value, gf.skipPaths, want)
				}
			}
			// The command's own checks must not panic on anything flag accepted.
			_, _ = gf.config(mode, slog.New(slog.DiscardHandler))
		}
	})
}
