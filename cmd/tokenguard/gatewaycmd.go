package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/tokenguard/tokenguard/internal/gateway"
)

// gatewayCommand runs proxy or forward-auth. Tests replace its fields.
type gatewayCommand struct {
	mode      gateway.Mode
	lookupEnv func(string) (string, bool)
	// configure, if not nil, adjusts the Config before New (tests inject
	// clocks and backoff).
	configure func(*gateway.Config)
	// started, if not nil, is called once both listeners are open, before
	// Run.
	started func(g *gateway.Gateway, data, admin net.Addr)
}

func (c gatewayCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f gatewayFlags
	fs := flag.NewFlagSet("tokenguard "+c.mode.String(), flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs, c.mode)
	fs.Usage = gatewayUsage(fs, stderr, c.mode)
	if err := parseFlags(fs, args, c.lookupEnv); err != nil {
		return err
	}
	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	cfg, err := f.config(c.mode, log)
	if err != nil {
		return err
	}
	if f.accessLog != "" {
		w, closeLog, err := openAccessLog(f.accessLog, stdout, stderr)
		if err != nil {
			return err
		}
		defer closeLog()
		cfg.AccessLog = w
	}
	on, err := tracingWanted(c.lookupEnv, f.otel)
	if err != nil {
		return err
	}
	if on {
		tp, err := newTracerProvider(ctx, log)
		if err != nil {
			return err
		}
		defer shutdownTracing(tp, log) // after Run: the last requests' spans go out
		cfg.TracerProvider = tp
	}
	if c.configure != nil {
		c.configure(&cfg)
	}
	g, err := gateway.New(cfg)
	if err != nil {
		var ce *gateway.ConfigError
		if errors.As(err, &ce) {
			if name, ok := configFlags[ce.Field]; ok {
				return usagef("--%s: %s", name, ce.Msg)
			}
		}
		return err
	}
	if f.trustForwardedURI {
		log.Warn("tokenguard: --trust-forwarded-uri: X-Forwarded-Uri, X-Original-URI, X-Forwarded-Method and X-Original-Method are trusted for --skip-path; the proxy in front must overwrite them on every auth subrequest")
	}
	data, err := listen("listen", f.listen)
	if err != nil {
		return err
	}
	var admin net.Listener
	var adminAddr net.Addr
	if f.adminListen != "" {
		if admin, err = listen("admin-listen", f.adminListen); err != nil {
			data.Close()
			return err
		}
		adminAddr = admin.Addr()
	}
	if c.started != nil {
		c.started(g, data.Addr(), adminAddr)
	}
	return g.Run(ctx, data, admin)
}

// openAccessLog returns the writer --access-log names: stdout, stderr, or
// a file opened for appending, and what closes it.
func openAccessLog(name string, stdout, stderr io.Writer) (io.Writer, func(), error) {
	switch name {
	case "stdout":
		return stdout, func() {}, nil
	case "stderr":
		return stderr, func() {}, nil
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("--access-log: %w", err)
	}
	return f, func() { _ = f.Close() }, nil
}

// listen opens a TCP listener for the named flag, with an error that names
// the flag and the address (a busy port, a bad address).
func listen(flagName, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--%s %s: cannot listen: %w", flagName, addr, unwrapOpError(err))
	}
	return ln, nil
}

// unwrapOpError drops the "listen tcp <addr>:" prefix the caller already
// says.
func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
