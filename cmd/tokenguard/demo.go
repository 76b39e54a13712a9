package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/tokenguard/tokenguard/internal/gateway"
	"github.com/tokenguard/tokenguard/verifier/appservices"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// runDemo is the "demo" subcommand (make run): the emulator, a hello
// upstream and the proxy in one process, with a real token printed.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return demoCommand{lookupEnv: os.LookupEnv}.run(ctx, args, stdout, stderr)
}

// demoCommand holds what tests replace: the environment and a hook called
// once the instructions are printed.
type demoCommand struct {
	lookupEnv func(string) (string, bool)
	printed   func()
}

const (
	demoEmail    = "ada@example.com"
	demoPassword = "correct horse battery staple"
)

type demoFlags struct {
	listen, adminListen, emulatorListen, helloListen string
	logLevel, logFormat                              string
}

func (c demoCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f demoFlags
	fs := flag.NewFlagSet("tokenguard demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address of the gateway (tokenguard proxy)")
	fs.StringVar(&f.adminListen, "admin-listen", "127.0.0.1:9090", "address of the gateway's admin listener (/metrics, /healthz, /readyz, /revoke)")
	fs.StringVar(&f.emulatorListen, "emulator-listen", "127.0.0.1:8090", "address of the App Services emulator")
	fs.StringVar(&f.helloListen, "hello-listen", "127.0.0.1:8081", "address of the hello upstream")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level of the gateway: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format of the gateway: json or text")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tokenguard demo [flags]")
		fmt.Fprintln(stderr, "\nRun the App Services emulator, a hello upstream that echoes the identity headers")
		fmt.Fprintln(stderr, "it receives, and tokenguard proxy in front of it, all on loopback; seed a user,")
		fmt.Fprintln(stderr, "log it in and print a token and curl lines that work. Ctrl-C stops it.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, c.lookupEnv); err != nil {
		return err
	}
	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}

	// Open every port first, so that a busy one fails before anything runs.
	data, err := listen("listen", f.listen)
	if err != nil {
		return err
	}
	defer data.Close()
	admin, err := listen("admin-listen", f.adminListen)
	if err != nil {
		return err
	}
	defer admin.Close()
	helloLn, err := listen("hello-listen", f.helloListen)
	if err != nil {
		return err
	}
	emu, err := appservicestest.Start(appservicestest.WithAddr(f.emulatorListen))
	if err != nil {
		helloLn.Close()
		return fmt.Errorf("--emulator-listen %s: %w", f.emulatorListen, err)
	}
	defer emu.Close()
	hello := &http.Server{Handler: http.HandlerFunc(helloHandler), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hello.Serve(helloLn) }()
	defer hello.Close()

	secret, err := randomHex(32)
	if err != nil {
		return err
	}
	cfg := emu.Config()
	g, err := gateway.New(gateway.Config{
		Mode:          gateway.ModeProxy,
		Upstream:      "http://" + helloLn.Addr().String(),
		APIURL:        cfg.BaseURL,
		GroupID:       cfg.GroupID,
		AppID:         cfg.AppID,
		PublicKey:     cfg.PublicKey,
		PrivateKey:    cfg.PrivateKey,
		CacheSize:     10_000,
		CacheTTL:      5 * time.Minute,
		NegativeTTL:   10 * time.Second,
		RevokeSecrets: []string{secret},
		VerifyTimeout: 5 * time.Second,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	info := demoInfo{
		emulator: emu.URL, hello: "http://" + helloLn.Addr().String(),
		proxy: "http://" + data.Addr().String(), admin: "http://" + admin.Addr().String(),
		secret: secret, bin: os.Args[0],
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		done <- g.Run(runCtx, data, admin)
		close(stopped)
	}()
	err = c.welcome(ctx, g, stopped, emu, stdout, info)
	if err == nil {
		select {
		case <-ctx.Done():
		case <-stopped: // the gateway failed on its own
		}
	}
	stopRun()
	if rerr := <-done; err == nil {
		err = rerr
	}
	fmt.Fprintln(stdout, "tokenguard demo: stopped")
	return err
}

// welcome seeds the demo user, waits for the gateway to be ready and prints
// the instructions. An interruption (ctx) is not an error.
func (c demoCommand) welcome(ctx context.Context, g *gateway.Gateway, stopped <-chan struct{}, emu *appservicestest.Server, w io.Writer, info demoInfo) error {
	u, tok, err := seedDemoUser(ctx, emu)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	select {
	case <-g.Ready():
	case <-ctx.Done():
		return nil
	case <-stopped:
		return nil // Run's error says why
	}
	info.userID, info.token = u.ID, tok
	printDemo(w, info)
	if c.printed != nil {
		c.printed()
	}
	return nil
}

// seedDemoUser creates the demo user through the Admin API (as an
// operator's tooling would) and logs it in through the client API over
// HTTP (as an app would). It returns the user and an access token.
func seedDemoUser(ctx context.Context, emu *appservicestest.Server) (*appservices.UserRecord, string, error) {
	cfg := emu.Config()
	cfg.Now = nil
	admin, err := appservices.NewClient(cfg)
	if err != nil {
		return nil, "", err
	}
	u, err := admin.CreateUser(ctx, demoEmail, demoPassword)
	if err != nil {
		return nil, "", fmt.Errorf("demo: create user through the Admin API: %w", err)
	}
	sess, err := clientLogin(ctx, emu.Client(), emu.ClientURL(), appservicestest.DefaultClientAppID, demoEmail, demoPassword)
	if err != nil {
		return nil, "", err
	}
	if sess.UserID != u.ID {
		return nil, "", errors.New("demo: the client login answered for another user")
	}
	return u, sess.AccessToken, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo: random secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
