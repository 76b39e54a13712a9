package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// Tokens the fake verifier knows. All are token68, so only the verifier
// tells them apart.
const (
	goodToken        = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWdvb2Q"
	invalidToken     = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJhZA"
	expiredToken     = "eyJhbGciOiJIUzI1NiJ9.ZXhwaXJlZA.c2lnbmF0dXJl"
	revokedToken     = "eyJhbGciOiJIUzI1NiJ9.cmV2b2tlZA.c2lnbmF0dXJl"
	downToken        = "eyJhbGciOiJIUzI1NiJ9.ZG93bg.c2lnbmF0dXJl"          // 503 with Retry-After 7s
	unavailableToken = "eyJhbGciOiJIUzI1NiJ9.dW5hdmFpbGFibGU.c2lnbmF0dXJl" // ErrUnavailable, no delay
	weirdToken       = "eyJhbGciOiJIUzI1NiJ9.d2VpcmQ.c2lnbmF0dXJl"         // an unclassified error quoting the token
	adminToken       = "eyJhbGciOiJIUzI1NiJ9.YWRtaW4.c2lnbmF0dXJl"         // 401 InvalidSession: the admin's, not the user's
	nilToken         = "eyJhbGciOiJIUzI1NiJ9.bmlsLW5pbA.c2lnbmF0dXJl"      // nil user, nil error
)

// testUser is the user of goodToken.
var testUser = &verifier.User{
	ID:             "user-1",
	SessionID:      "session-1",
	DomainID:       "domain-1",
	DeviceID:       "device-1",
	IssuedAt:       time.Date(2030, 1, 2, 2, 34, 5, 0, time.UTC),
	ExpiresAt:      time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	CustomUserData: json.RawMessage(`{"role":"admin","name":"Ada"}`),
}

// fakeVerifier answers for the tokens above; any other token is invalid. Like
// every verifier that calls upstream, it refuses a token that fails
// verifier.CheckSyntax first.
func fakeVerifier() verifier.VerifierFunc {
	return func(_ context.Context, tok string) (*verifier.User, error) {
		if err := verifier.CheckSyntax(tok); err != nil {
			return nil, err
		}
		switch tok {
		case goodToken:
			return testUser, nil
		case expiredToken:
			return nil, fmt.Errorf("verify: %w", verifier.ErrTokenExpired)
		case revokedToken:
			return nil, verifier.ErrRevoked
		case downToken:
			return nil, &appservices.APIError{StatusCode: 503, Message: "upstream db on fire", RetryDelay: 7 * time.Second}
		case unavailableToken:
			return nil, fmt.Errorf("verify: dial tcp: connection refused: %w", verifier.ErrUnavailable)
		case weirdToken:
			return nil, errors.New("custom verifier choked on " + tok)
		case adminToken:
			return nil, &appservices.APIError{StatusCode: 401, Code: appservices.CodeInvalidSession, Message: "invalid session"}
		case nilToken:
			return nil, nil
		}
		return nil, &appservices.APIError{StatusCode: 401, Message: "invalid token"}
	}
}

// quiet is a logger that drops everything.
var quiet = slog.New(slog.DiscardHandler)

// newTest builds a Middleware over fakeVerifier with a silent logger.
func newTest(opts ...Option) *Middleware {
	return New(fakeVerifier(), append([]Option{WithLogger(quiet)}, opts...)...)
}

// seen is what the next handler saw of a request.
type seen struct {
	called     bool
	user       *verifier.User
	hasUser    bool
	header     http.Header
	rawQuery   string
	requestURI string
	query      map[string][]string
}

// recordNext returns a next handler that fills s and answers 200 "next".
func recordNext(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called = true
		s.user, s.hasUser = UserFromContext(r.Context())
		s.header = r.Header.Clone()
		s.rawQuery = r.URL.RawQuery
		s.requestURI = r.RequestURI
		s.query = r.URL.Query()
		_, _ = w.Write([]byte("next"))
	})
}

// serve runs req through m.Handler and returns the response and what the
// next handler saw.
func serve(m *Middleware, req *http.Request) (*httptest.ResponseRecorder, *seen) {
	var s seen
	rec := httptest.NewRecorder()
	m.Handler(recordNext(&s)).ServeHTTP(rec, req)
	return rec, &s
}

// bearerRequest returns a GET request to target with "Authorization: Bearer tok",
// or with no Authorization header when tok is "".
func bearerRequest(target, tok string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

// errorBody decodes a refusal body and requires exactly its two fields.
func errorBody(t *testing.T, body []byte) (code, desc string) {
	t.Helper()
	var b map[string]string
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&b), "body %q", body)
	require.Len(t, b, 2, "body %q", body)
	return b["error"], b["error_description"]
}

// logBuffer is a concurrency-safe buffer for a slog handler.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the JSON log lines written so far.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "log line %q", l)
		out = append(out, m)
	}
	return out
}

// captureLogger returns a debug-level JSON logger writing to a buffer.
func captureLogger() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}
