package middleware

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// TestNoTokenInLogsOrBodies drives every outcome, through the Handler and
// through ForwardAuth, with a debug logger, and requires that no log line and
// no response carries the token, while the lines that concern a token carry
// its fingerprint.
func TestNoTokenInLogsOrBodies(t *testing.T) {
	cases := []struct {
		name    string
		opts    []Option
		target  string
		header  map[string]string
		outcome string
		token   string // the secret that must not leak; its fingerprint must be logged
		level   string
	}{
		{name: "authenticated", header: map[string]string{"Authorization": "Bearer " + goodToken}, outcome: "authenticated", token: goodToken, level: "DEBUG"},
		{name: "anonymous", opts: []Option{WithCredentialsOptional(true)}, outcome: "anonymous", level: "DEBUG"},
		{name: "missing", outcome: "missing", level: "DEBUG"},
		{name: "malformed", header: map[string]string{"Authorization": "Bearer " + goodToken + " extra"}, outcome: "malformed", level: "INFO"},
		{name: "malformed overlong", opts: []Option{WithMaxTokenLength(10)}, header: map[string]string{"Authorization": "Bearer " + goodToken}, outcome: "malformed", level: "INFO"},
		{name: "invalid", header: map[string]string{"Authorization": "Bearer " + invalidToken}, outcome: "invalid", token: invalidToken, level: "INFO"},
		{name: "expired", header: map[string]string{"Authorization": "Bearer " + expiredToken}, outcome: "invalid", token: expiredToken, level: "INFO"},
		{name: "revoked", header: map[string]string{"Authorization": "Bearer " + revokedToken}, outcome: "invalid", token: revokedToken, level: "INFO"},
		{name: "unavailable", header: map[string]string{"Authorization": "Bearer " + downToken}, outcome: "unavailable", token: downToken, level: "WARN"},
		{name: "verifier error quoting the token", header: map[string]string{"Authorization": "Bearer " + weirdToken}, outcome: "unavailable", token: weirdToken, level: "WARN"},
		{name: "nil user", header: map[string]string{"Authorization": "Bearer " + nilToken}, outcome: "unavailable", token: nilToken, level: "WARN"},
		{
			name: "cookie", opts: []Option{WithLookup(LookupCookie("tg"))},
			header: map[string]string{"Cookie": "tg=" + invalidToken}, outcome: "invalid", token: invalidToken, level: "INFO",
		},
		{
			name: "query", opts: []Option{WithLookup(LookupQuery("access_token"))},
			target: "/p?access_token=" + invalidToken, outcome: "invalid", token: invalidToken, level: "INFO",
		},
	}
	for _, tc := range cases {
		for _, via := range []string{"handler", "forward-auth"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				logger, logs := captureLogger()
				m := New(fakeVerifier(), append([]Option{WithLogger(logger)}, tc.opts...)...)
				target := tc.target
				if target == "" {
					target = "/p"
				}
				req := httptest.NewRequest(http.MethodGet, target, nil)
				h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
				if via == "forward-auth" {
					req = httptest.NewRequest(http.MethodGet, "/auth", nil)
					req.Header.Set("X-Forwarded-Uri", target)
					h = m.ForwardAuth()
				}
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)

				lines := logs.lines(t)
				require.Len(t, lines, 1, "one line per decision")
				line := lines[0]
				assert.Equal(t, tc.outcome, line["outcome"])
				assert.Equal(t, tc.level, line["level"])
				assert.Equal(t, "/p", line["path"], "the path, never the query")
				for _, secret := range []string{goodToken, invalidToken, expiredToken, revokedToken, downToken, weirdToken, nilToken} {
					assert.NotContains(t, logs.String(), secret, "token in the log")
					assert.NotContains(t, rec.Body.String(), secret, "token in the body")
					for name, vals := range rec.Header() {
						assert.NotContains(t, strings.Join(vals, ","), secret, "token in response header %s", name)
					}
				}
				if tc.token != "" {
					assert.Equal(t, fingerprint(tc.token), line["token"])
				} else {
					assert.NotContains(t, line, "token")
				}
				if tc.outcome == "unavailable" && tc.token == downToken {
					assert.Contains(t, line["error"], "upstream db on fire", "upstream detail goes to the log")
					assert.NotContains(t, rec.Body.String(), "fire")
				}
			})
		}
	}
}

func TestFingerprint(t *testing.T) {
	// sha256("abc") = ba7816bf...
	assert.Equal(t, "ba7816bf", fingerprint("abc"))
	base := &appservices.APIError{StatusCode: 500, Message: "bad abc"}
	err := scrub(base, "abc")
	assert.Equal(t, "appservices: admin API 500: bad [token ba7816bf]", err.Error())
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
	var ae *appservices.APIError
	assert.ErrorAs(t, err, &ae)
	assert.Same(t, base, scrub(base, "zzz"), "an error without the token is kept as is")
}

func TestLogLevelsRespectLogger(t *testing.T) {
	var logs logBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := New(fakeVerifier(), WithLogger(logger))
	serve(m, bearerRequest("/", goodToken)) // debug: dropped
	serve(m, bearerRequest("/", ""))        // debug: dropped
	serve(m, bearerRequest("/", downToken)) // warn: kept
	lines := logs.lines(t)
	require.Len(t, lines, 1)
	assert.Equal(t, "unavailable", lines[0]["outcome"])
	assert.Equal(t, 7e9, lines[0]["retry_after"])
}

func TestDefaultLoggerIsSlogDefault(t *testing.T) {
	m := New(fakeVerifier()) // built before SetDefault: the default at log time counts
	logger, logs := captureLogger()
	prev := slog.Default()
	slog.SetDefault(logger)
	t.Cleanup(func() { slog.SetDefault(prev) })

	serve(m, bearerRequest("/", invalidToken))
	lines := logs.lines(t)
	require.Len(t, lines, 1)
	assert.Equal(t, "invalid", lines[0]["outcome"])
}
