package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// TestRouter runs the example's router against the App Services emulator:
// the group's routes need a token, /healthz does not.
func TestRouter(t *testing.T) {
	srv := appservicestest.NewServer()
	t.Cleanup(srv.Close)
	userID := srv.AddUser("ada@example.com", "correct horse")
	token, err := srv.NewAccessToken(userID)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newRouter(srv.Config())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, authz string
		wantStatus        int
		wantBody          string // substring
	}{
		{"me", "/me", "Bearer " + token, 200, `"user_id":"` + userID + `"`},
		{"url param", "/orders/42", "Bearer " + token, 200, "order 42 of user " + userID},
		{"no token", "/me", "", 401, `"unauthorized"`},
		{"junk token", "/orders/42", "Bearer junk", 401, `"invalid_token"`},
		{"public route", "/healthz", "", 200, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, tt.path, nil)
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("GET %s = %d %s; want %d containing %s", tt.path, rec.Code, body, tt.wantStatus, tt.wantBody)
			}
			if tt.wantStatus == 200 && strings.HasPrefix(tt.path, "/me") && !json.Valid(body) {
				t.Errorf("/me body is not JSON: %s", body)
			}
		})
	}
}
