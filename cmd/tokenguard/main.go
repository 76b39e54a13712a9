// Command tokenguard is the tokenguard gateway binary. Each mode is a
// subcommand:
//
//	tokenguard <subcommand> [flags]
//
// Every flag can also be set in the environment as TOKENGUARD_<FLAG>, upper
// case with dashes as underscores (--token-ttl is TOKENGUARD_TOKEN_TTL); the
// command line wins. Run "tokenguard <subcommand> -h" for a subcommand's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// A command is one subcommand. run parses args (the arguments after the
// subcommand's name), runs until done or until ctx ends, and returns nil on
// a clean exit. An error wrapping flag.ErrHelp exits 0, a *usageError exits
// 2, any other error 1.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands; adding one is adding an entry.
var commands = map[string]command{
	"demo":         {"run the emulator, a hello upstream and the proxy together (make run)", runDemo},
	"emulator":     {"run an in-memory App Services emulator for tests and demos", runEmulator},
	"proxy":        {"authenticate requests and forward them to an upstream", runProxy},
	"forward-auth": {"answer the auth subrequests of nginx, Traefik, Caddy or Envoy", runForwardAuth},
	"revoke":       {"sign a revocation and send it to a gateway's revoke webhook", runRevoke},
	"version":      {"print the version, commit and build date (also: tokenguard --version)", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "--version", "-version":
		name = "version"
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "tokenguard: unknown subcommand %q\n\n", name)
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "tokenguard %s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "tokenguard %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tokenguard <subcommand> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "subcommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "tokenguard <subcommand> -h" for its flags. Every flag may also be set`)
	fmt.Fprintln(w, "in the environment as TOKENGUARD_<FLAG> (e.g. --token-ttl: TOKENGUARD_TOKEN_TTL).")
}

// usageError reports bad command-line or environment input: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a *usageError.
func usagef(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}

// envName is the environment variable of a flag: TOKENGUARD_ plus the flag
// name in upper case with dashes as underscores.
func envName(flagName string) string {
	return "TOKENGUARD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
