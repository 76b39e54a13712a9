package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// runEmulator is the "emulator" subcommand: it serves the in-memory App
// Services emulator until ctx ends.
func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return emulatorCommand{lookupEnv: os.LookupEnv}.run(ctx, args, stdout, stderr)
}

// emulatorCommand holds what tests replace: the environment and a hook
// called once the server listens.
type emulatorCommand struct {
	lookupEnv func(string) (string, bool)
	ready     func(*appservicestest.Server) // if not nil, called once listening
}

type emulatorFlags struct {
	listen                      string
	groupID, appID, clientAppID string
	publicKey, privateKey       string
	tokenTTL, latency, jitter   time.Duration
	strictRevocation            bool
	seedUsers                   stringSlice
	malformedTokenStatus        int
	confirmation                string
	confirmFunctionURL          string
	resetFunctionURL            string
}

func (c emulatorCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f emulatorFlags
	fs := flag.NewFlagSet("tokenguard emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8090", "address to listen on (a test emulator: keep it on loopback)")
	fs.StringVar(&f.groupID, "group-id", appservicestest.DefaultGroupID, "Atlas project (group) id the Admin API answers for")
	fs.StringVar(&f.appID, "app-id", appservicestest.DefaultAppID, "app id (its ObjectId) the Admin API answers for")
	fs.StringVar(&f.clientAppID, "client-app-id", appservicestest.DefaultClientAppID, "client app id end users log in with")
	fs.StringVar(&f.publicKey, "public-key", appservicestest.DefaultPublicKey, "Admin API public key")
	fs.StringVar(&f.privateKey, "private-key", appservicestest.DefaultPrivateKey, "Admin API private key")
	fs.DurationVar(&f.tokenTTL, "token-ttl", appservicestest.DefaultTokenTTL, "lifetime of client access tokens")
	fs.DurationVar(&f.latency, "latency", 0, "fixed delay added to every Admin API call")
	fs.DurationVar(&f.jitter, "latency-jitter", 0, "random extra delay, up to this much, added to every Admin API call")
	fs.BoolVar(&f.strictRevocation, "strict-revocation", false, "refuse tokens of revoked sessions and disabled or deleted users at once (App Services does not)")
	fs.Var(&f.seedUsers, "seed-user", "create a user `email:password` at start (repeatable; comma-separated in the environment)")
	fs.IntVar(&f.malformedTokenStatus, "malformed-token-status", 401, "status verify_token answers for a malformed or badly signed token: 401 (the docs) or 400 (the OpenAPI spec)")
	fs.StringVar(&f.confirmation, "confirmation", "auto", "how email/password registrations are confirmed: auto (at once), email (pending until confirmed: by the Admin API, the emulator sends no mail) or function (--confirm-function-url decides)")
	fs.StringVar(&f.confirmFunctionURL, "confirm-function-url", "", "with --confirmation function: `URL` POSTed the confirmation function's arguments [{token, tokenId, username}], answering its result {\"status\": \"success\"|\"pending\"|\"fail\"}")
	fs.StringVar(&f.resetFunctionURL, "reset-function-url", "", "`URL` POSTed the password reset function's arguments [{username, password, token, tokenId, currentPasswordValid}, ...], answering {\"status\"}; empty: reset emails (not sent)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tokenguard emulator [flags]")
		fmt.Fprintln(stderr, "\nServe an in-memory emulator of the App Services Admin and client APIs, for tests")
		fmt.Fprintln(stderr, "and demos. Each flag may also be set as TOKENGUARD_<FLAG> in the environment.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, c.lookupEnv); err != nil {
		return err
	}
	seeds, err := parseSeedUsers(f.seedUsers)
	if err != nil {
		return err
	}
	switch {
	case f.tokenTTL <= 0:
		return usagef("--token-ttl must be positive")
	case f.latency < 0 || f.jitter < 0:
		return usagef("--latency and --latency-jitter must not be negative")
	case f.publicKey == "" || f.privateKey == "":
		return usagef("--public-key and --private-key must not be empty")
	case f.groupID == "" || f.appID == "" || f.clientAppID == "":
		return usagef("--group-id, --app-id and --client-app-id must not be empty")
	case f.malformedTokenStatus != 400 && f.malformedTokenStatus != 401:
		return usagef("--malformed-token-status must be 400 or 401")
	}
	mode, err := appservicestest.ParseConfirmationMode(f.confirmation)
	switch {
	case err != nil:
		return usagef("--confirmation %q: want auto, email or function", f.confirmation)
	case (mode == appservicestest.ConfirmFunction) != (f.confirmFunctionURL != ""):
		return usagef("--confirm-function-url is needed with --confirmation function, and only then")
	}
	if !isLoopback(f.listen) {
		fmt.Fprintf(stderr, "tokenguard emulator: warning: %s is not a loopback address; this is a test emulator with well-known keys, not a service\n", f.listen)
	}

	opts := []appservicestest.Option{
		appservicestest.WithAddr(f.listen),
		appservicestest.WithIDs(f.groupID, f.appID, f.clientAppID),
		appservicestest.WithKeys(f.publicKey, f.privateKey),
		appservicestest.WithTokenTTL(f.tokenTTL),
		appservicestest.WithLatency(f.latency, f.jitter),
		appservicestest.WithStrictRevocation(f.strictRevocation),
		appservicestest.WithMalformedTokenStatus(f.malformedTokenStatus),
		appservicestest.WithConfirmation(mode),
	}
	if f.confirmFunctionURL != "" {
		opts = append(opts, appservicestest.WithConfirmationFunction(appservicestest.FunctionURL(f.confirmFunctionURL)))
	}
	if f.resetFunctionURL != "" {
		opts = append(opts, appservicestest.WithResetFunction(appservicestest.FunctionURL(f.resetFunctionURL)))
	}
	s, err := appservicestest.Start(opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	ids := make([]string, len(seeds))
	for i, u := range seeds {
		ids[i] = s.AddUser(u.email, u.password)
	}

	fmt.Fprintln(stdout, "tokenguard emulator: App Services emulator for tests and demos")
	fmt.Fprintf(stdout, "admin API:     %s\n", s.AdminURL())
	fmt.Fprintf(stdout, "client API:    %s\n", s.ClientURL())
	fmt.Fprintf(stdout, "group id:      %s\n", f.groupID)
	fmt.Fprintf(stdout, "app id:        %s\n", f.appID)
	fmt.Fprintf(stdout, "client app id: %s\n", f.clientAppID)
	fmt.Fprintf(stdout, "public key:    %s\n", f.publicKey)
	fmt.Fprintf(stdout, "confirmation:  %s\n", mode)
	for i, u := range seeds {
		fmt.Fprintf(stdout, "seeded user:   %s id %s\n", u.email, ids[i])
	}
	if c.ready != nil {
		c.ready(s)
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "tokenguard emulator: shutting down")
	return nil
}

type seedUser struct{ email, password string }

// parseSeedUsers splits email:password values (at the first colon, so the
// password may contain colons) and refuses empty parts and repeated emails.
func parseSeedUsers(values []string) ([]seedUser, error) {
	seen := make(map[string]bool)
	users := make([]seedUser, 0, len(values))
	for i, v := range values {
		email, password, ok := strings.Cut(v, ":")
		if !ok || email == "" || password == "" {
			// Do not echo the value: it holds a password.
			return nil, usagef("--seed-user #%d: want email:password", i+1)
		}
		key := strings.ToLower(email)
		if seen[key] {
			return nil, usagef("--seed-user %s given twice", email)
		}
		seen[key] = true
		users = append(users, seedUser{email, password})
	}
	return users, nil
}

// isLoopback reports whether a listen address stays on this machine. An
// empty host or a wildcard address listens on every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
