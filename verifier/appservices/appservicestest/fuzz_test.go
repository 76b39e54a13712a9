package appservicestest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// serveDirect runs a request through the server's handler, without a network.
func serveDirect(s *Server, method, path, token string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// FuzzVerifyTokenBody feeds arbitrary request bodies to verify_token: it must
// never fail with a 5xx or answer something that is not JSON, and must only
// accept tokens it signed.
func FuzzVerifyTokenBody(f *testing.F) {
	s := NewServer()
	f.Cleanup(s.Close)
	uid := s.AddUser("ada@example.com", "password1")
	tok, err := s.NewAccessToken(uid)
	if err != nil {
		f.Fatal(err)
	}
	admin, _ := adminTokens(f, s)
	path := strings.TrimPrefix(appURL(s), s.URL) + "/users/verify_token"

	f.Add([]byte(`{"token":"` + tok + `"}`))
	f.Add([]byte(`{"token":"x.y.z"}`))
	f.Add([]byte(`{"token":5}`))
	f.Add([]byte(`{"token":null,"token":"a"}`))
	f.Add([]byte(`{`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := serveDirect(s, "POST", path, admin, body)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d: body is not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		switch rec.Code {
		case http.StatusOK:
			var v struct {
				Sub string `json:"sub"`
			}
			if rec.Body.String() == `"token expired"` {
				return
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Sub != uid {
				t.Fatalf("accepted a token it did not issue: %s", rec.Body.Bytes())
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body.Bytes())
		}
	})
}

// FuzzResetEmailBody feeds arbitrary bodies to reset_email and checks the
// validation rules of the OpenAPI spec's reset_email: a JSON object whose email is a string
// of 1 to 128 characters is accepted (or conflicts); anything else is 400.
func FuzzResetEmailBody(f *testing.F) {
	s := NewServer()
	f.Cleanup(s.Close)
	uid := s.AddUser("ada@example.com", "password1")
	s.AddUser("taken@example.com", "password1")
	admin, _ := adminTokens(f, s)
	path := strings.TrimPrefix(appURL(s), s.URL) + "/users/" + uid + "/reset_email"

	f.Add([]byte(`{"email":"new@example.com"}`))
	f.Add([]byte(`{"email":""}`))
	f.Add([]byte(`{"email":7}`))
	f.Add([]byte(`{"email":"taken@example.com"}`))
	f.Add([]byte(`{"email":"` + strings.Repeat("a", 129) + `"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := serveDirect(s, "PATCH", path, admin, body)
		want := []int{http.StatusBadRequest}
		var obj map[string]json.RawMessage
		var email string
		if json.Unmarshal(body, &obj) == nil && obj != nil && json.Unmarshal(obj["email"], &email) == nil &&
			string(obj["email"]) != "null" && email != "" && utf8.RuneCountInString(email) <= maxEmailLen {
			want = []int{http.StatusNoContent, http.StatusConflict}
		}
		if len(body) > maxRequestBody {
			want = []int{http.StatusRequestEntityTooLarge}
		}
		for _, w := range want {
			if rec.Code == w {
				return
			}
		}
		t.Fatalf("body %q: status %d, want one of %v: %s", body, rec.Code, want, rec.Body.Bytes())
	})
}
