package middleware_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// A fake verifier stands in for an appservices.Client (or a cache over one).
func fakeVerifier() verifier.Verifier {
	return verifier.VerifierFunc(func(_ context.Context, token string) (*verifier.User, error) {
		switch token {
		case "good-token":
			return &verifier.User{ID: "64b7f0c2a1b2c3d4e5f60718"}, nil
		case "down-token":
			return nil, &appservices.APIError{StatusCode: 503, RetryDelay: 5 * time.Second}
		}
		return nil, verifier.ErrInvalidToken
	})
}

// Example wires the middleware into a standard library ServeMux: /healthz is
// skipped, /hello needs a token.
func Example() {
	m := middleware.New(fakeVerifier(),
		middleware.WithLogger(slog.New(slog.DiscardHandler)),
		middleware.WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }),
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		u, _ := middleware.UserFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", u.ID)
	})
	h := m.Handler(mux)

	for _, authz := range []string{"Bearer good-token", "", "Bearer bad-token", "Bearer  good-token", "Bearer down-token"} {
		req := httptest.NewRequest(http.MethodGet, "/hello", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Printf("%q -> %d %s\n", authz, rec.Code, rec.Body)
		if c := rec.Header().Get("WWW-Authenticate"); c != "" {
			fmt.Println("   WWW-Authenticate:", c)
		}
		if ra := rec.Header().Get("Retry-After"); ra != "" {
			fmt.Println("   Retry-After:", ra)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	fmt.Println("/healthz ->", rec.Code, rec.Body)

	// Output:
	// "Bearer good-token" -> 200 hello 64b7f0c2a1b2c3d4e5f60718
	// "" -> 401 {"error":"unauthorized","error_description":"An access token is required."}
	//    WWW-Authenticate: Bearer realm="tokenguard"
	// "Bearer bad-token" -> 401 {"error":"invalid_token","error_description":"The access token is invalid."}
	//    WWW-Authenticate: Bearer realm="tokenguard", error="invalid_token", error_description="The access token is invalid."
	// "Bearer  good-token" -> 400 {"error":"invalid_request","error_description":"The request's credentials are malformed."}
	//    WWW-Authenticate: Bearer realm="tokenguard", error="invalid_request"
	// "Bearer down-token" -> 503 {"error":"temporarily_unavailable","error_description":"Token verification is temporarily unavailable; retry later."}
	//    Retry-After: 5
	// /healthz -> 200 ok
}

// Example_gatewayMode shows an upstream that reads identity from headers:
// the token is removed, and the X-Auth-* headers a client sends are replaced.
func Example_gatewayMode() {
	m := middleware.New(fakeVerifier(),
		middleware.WithLogger(slog.New(slog.DiscardHandler)),
		middleware.WithIdentityHeaders(middleware.IdentityHeaders{}),
	)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("Authorization:", r.Header.Get("Authorization") != "")
		fmt.Println("X-Auth-User-Id:", r.Header.Get("X-Auth-User-Id"))
		fmt.Println("X_Auth_Admin:", r.Header.Get("X_Auth_Admin"))
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer good-token")
	req.Header.Set("X-Auth-User-Id", "someone-else")
	req.Header["X_Auth_Admin"] = []string{"true"}
	m.Handler(upstream).ServeHTTP(httptest.NewRecorder(), req)

	// Output:
	// Authorization: false
	// X-Auth-User-Id: 64b7f0c2a1b2c3d4e5f60718
	// X_Auth_Admin:
}

// engineRequest stands for another HTTP engine's request type.
type engineRequest struct {
	method, path, query string
	headers             map[string][]string
}

// engineSource adapts it to middleware.TokenSource.
type engineSource struct{ r *engineRequest }

func (s engineSource) Header(name string) []string { return s.r.headers[name] }
func (s engineSource) RawQuery() string            { return s.r.query }
func (s engineSource) Method() string              { return s.r.method }
func (s engineSource) Path() string                { return s.r.path }
func (s engineSource) Peer() netip.Addr            { return netip.Addr{} } // the connection's peer, if the engine knows it

// ExampleMiddleware_Authenticate is the skeleton of an adapter for another
// HTTP engine: strip, authenticate, refuse or go on.
func ExampleMiddleware_Authenticate() {
	m := middleware.New(fakeVerifier(), middleware.WithLogger(slog.New(slog.DiscardHandler)))
	serve := func(r *engineRequest) {
		for name := range r.headers {
			if m.IsIdentityHeader(name) {
				delete(r.headers, name)
			}
		}
		d := m.Authenticate(context.Background(), engineSource{r})
		if !d.Allowed() {
			rf := m.Refusal(d)
			fmt.Println(rf.Status, rf.Challenge)
			return
		}
		// Apply d.Hide and d.Identity to the request here, then call the
		// next handler with d.User.
		fmt.Println(200, d.User.ID)
	}
	serve(&engineRequest{method: "GET", path: "/", headers: map[string][]string{"Authorization": {"Bearer good-token"}}})
	serve(&engineRequest{method: "GET", path: "/", headers: map[string][]string{"Authorization": {"Bearer expired"}}})

	// Output:
	// 200 64b7f0c2a1b2c3d4e5f60718
	// 401 Bearer realm="tokenguard", error="invalid_token", error_description="The access token is invalid."
}

// ExampleNewRevokeWebhook signs a revocation the way a client of the webhook
// must.
func ExampleNewRevokeWebhook() {
	secret := []byte("a-shared-secret-of-at-least-32-bytes") // openssl rand -hex 32
	h := middleware.NewRevokeWebhook(verifier.RevokerFunc(func(_ context.Context, userID string, at time.Time) error {
		fmt.Println("revoke", userID, at.UTC().Format(time.RFC3339))
		return nil
	}), [][]byte{secret}, middleware.WithWebhookLogger(slog.New(slog.DiscardHandler)))

	body := `{"user_id":"64b7f0c2a1b2c3d4e5f60718","revoked_at":1700000000}`
	req := httptest.NewRequest(http.MethodPost, "/revoke", strings.NewReader(body))
	// The signature names the time it was made; the webhook accepts it for
	// 5 minutes either way.
	req.Header.Set(middleware.SignatureHeader, middleware.SignWebhook(secret, []byte(body), time.Now()))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	// Output:
	// revoke 64b7f0c2a1b2c3d4e5f60718 2023-11-14T22:13:20Z
	// 204
}
