package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tokenguard/tokenguard/middleware"
)

// helloHandler is the demo's upstream: it answers every request with the
// identity and forwarding headers it received, as JSON, so that one curl
// shows what tokenguard passed on (and that the token did not get through).
func helloHandler(w http.ResponseWriter, r *http.Request) {
	headers := make(map[string]string)
	for k, v := range r.Header {
		if strings.HasPrefix(k, middleware.DefaultIdentityPrefix) || strings.HasPrefix(k, "X-Forwarded-") || k == "Authorization" {
			headers[k] = strings.Join(v, ", ")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(struct {
		Message string            `json:"message"`
		UserID  string            `json:"user_id"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
	}{"hello", r.Header.Get("X-Auth-User-Id"), r.URL.Path, headers})
}

// clientSession is the part of a client API login answer the demo uses.
type clientSession struct {
	AccessToken string `json:"access_token"`
	UserID      string `json:"user_id"`
}

// clientLogin logs a local-userpass user in through the client API, the way
// a Realm SDK does.
func clientLogin(ctx context.Context, hc *http.Client, clientURL, clientAppID, email, password string) (clientSession, error) {
	body, _ := json.Marshal(map[string]string{"username": email, "password": password})
	url := clientURL + "/app/" + clientAppID + "/auth/providers/local-userpass/login"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return clientSession{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return clientSession{}, fmt.Errorf("demo: client login: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return clientSession{}, fmt.Errorf("demo: client login: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return clientSession{}, fmt.Errorf("demo: client login: status %d", resp.StatusCode)
	}
	var s clientSession
	if err := json.Unmarshal(raw, &s); err != nil || s.AccessToken == "" {
		return clientSession{}, fmt.Errorf("demo: client login: unreadable answer")
	}
	return s, nil
}

// demoInfo is what the demo prints.
type demoInfo struct {
	emulator, hello, proxy, admin string
	userID, token, secret         string
	bin                           string // how to run this binary: os.Args[0]
}

// printDemo prints the demo's addresses and the curl lines that exercise
// it. Revoking goes through `tokenguard revoke`, which signs at the time it
// is run: a printed signature would expire after the webhook's tolerance.
func printDemo(w io.Writer, d demoInfo) {
	lines := []string{
		"tokenguard demo: the App Services emulator, a hello upstream and tokenguard proxy, on loopback.",
		"",
		"  App Services emulator  " + d.emulator + "  (Admin API /api/admin/v3.0, client API /api/client/v2.0)",
		"  hello upstream         " + d.hello + "  (echoes the identity headers it receives)",
		"  tokenguard proxy       " + d.proxy + "  -> hello upstream",
		"  tokenguard admin       " + d.admin + "  (GET /metrics, /healthz, /readyz; POST /revoke)",
		"",
		"Seeded " + demoEmail + " (user id " + d.userID + ") through the Admin API and logged in through",
		"the client API. Its access token (valid 30 minutes):",
		"",
		"  " + d.token,
		"",
		"Call the upstream through tokenguard (200, with the user id the upstream received):",
		"",
		`  curl -s -H "Authorization: Bearer ` + d.token + `" ` + d.proxy + "/hello",
		"",
		"Without a token, or with a bad one, tokenguard answers 401 and the upstream never sees the request:",
		"",
		"  curl -si " + d.proxy + "/hello",
		"",
		"Revoke the user's tokens through the webhook (signed with this run's secret; the token then gets 401):",
		"",
		"  " + revokeSecretEnv + "=" + d.secret + " " + d.bin + " revoke --admin-url " + d.admin + " --user-id " + d.userID,
		"",
		"Metrics:       curl -s " + d.admin + "/metrics | grep '^tokenguard_'",
		"",
		"Ctrl-C stops it.",
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}
