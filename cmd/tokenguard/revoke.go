package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/middleware"
)

// revokeSecretEnv holds the webhook secret of `tokenguard revoke`: from the
// environment only, so that it never shows in a process list or a shell
// history. It is the variable the gateways read --revoke-secret from, so one
// environment serves both; of a comma-separated list, the first signs.
const revokeSecretEnv = "TOKENGUARD_REVOKE_SECRET"

// revokeCommand is `tokenguard revoke`, with its environment and clock
// injectable for tests.
type revokeCommand struct {
	lookupEnv func(string) (string, bool)
	now       func() time.Time
	client    *http.Client
}

func runRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return revokeCommand{lookupEnv: os.LookupEnv, now: time.Now, client: http.DefaultClient}.run(ctx, args, stdout, stderr)
}

func (c revokeCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokenguard revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var adminURL, userID, revokedAt string
	var timeout time.Duration
	fs.StringVar(&adminURL, "admin-url", "", "base `URL` of a gateway's admin listener, such as http://127.0.0.1:9090 (required)")
	fs.StringVar(&userID, "user-id", "", "the App Services user id whose tokens to revoke (required)")
	fs.StringVar(&revokedAt, "revoked-at", "", "revoke the tokens issued at or before this `time`, Unix seconds or RFC 3339; empty: now")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "bound on the call")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: TOKENGUARD_REVOKE_SECRET=... tokenguard revoke --admin-url URL --user-id ID [--revoked-at T]")
		fmt.Fprintln(stderr, "\nSign a revocation with the webhook secret and POST it to the gateway's /revoke:")
		fmt.Fprintln(stderr, "the user's tokens issued at or before T are refused from then on. With shared")
		fmt.Fprintln(stderr, "revocations (--redis-url) one replica is enough; otherwise send it to each one.")
		fmt.Fprintln(stderr, "The secret comes from "+revokeSecretEnv+" (the first of a comma-separated list).")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, c.lookupEnv); err != nil {
		return err
	}
	secret, _, _ := strings.Cut(envOr(c.lookupEnv, revokeSecretEnv), ",")
	switch {
	case adminURL == "":
		return usagef("--admin-url is required")
	case userID == "":
		return usagef("--user-id is required")
	case secret == "":
		return usagef("%s is not set: it holds the webhook secret (the gateway's --revoke-secret)", revokeSecretEnv)
	case len(secret) < middleware.MinWebhookSecretLen:
		return usagef("%s is shorter than %d bytes, which no gateway accepts", revokeSecretEnv, middleware.MinWebhookSecretLen)
	case timeout <= 0:
		return usagef("--timeout must be positive")
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return usagef("--admin-url %q is not an absolute http(s) URL without query or fragment", adminURL)
	}
	u = u.JoinPath("revoke")
	body := map[string]any{"user_id": userID}
	if revokedAt != "" {
		at, err := parseRevokedAt(revokedAt)
		if err != nil {
			return usagef("--revoked-at: %w", err)
		}
		body["revoked_at"] = at.Unix()
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(middleware.SignatureHeader, middleware.SignWebhook([]byte(secret), raw, c.now()))
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("revoke: %s answered %s: %s", u.Redacted(), resp.Status, bytes.TrimSpace(answer))
	}
	_, err = fmt.Fprintf(stdout, "revoked the tokens of user %s (%s answered %s)\n", userID, u.Redacted(), resp.Status)
	return err
}

// parseRevokedAt reads Unix seconds (a positive integer) or an RFC 3339 time.
func parseRevokedAt(v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return time.Time{}, errors.New("unix seconds must be positive")
		}
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither Unix seconds nor RFC 3339 (2006-01-02T15:04:05Z)", v)
	}
	if t.Unix() <= 0 {
		return time.Time{}, errors.New("the time must be after 1970")
	}
	return t, nil
}

// envOr returns the variable's value, or "" when it is unset.
func envOr(lookup func(string) (string, bool), name string) string {
	v, _ := lookup(name)
	return v
}
