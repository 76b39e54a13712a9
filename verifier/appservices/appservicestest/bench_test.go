package appservicestest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkVerifyTokenHandler measures verify_token's own cost, without the
// network: admin check, JWT parse, answer.
func BenchmarkVerifyTokenHandler(b *testing.B) {
	for _, strict := range []bool{false, true} {
		name := "default"
		if strict {
			name = "strict"
		}
		b.Run(name, func(b *testing.B) {
			s := newTestServer(b, WithStrictRevocation(strict))
			tok, _ := s.NewAccessToken(s.AddUser("ada@example.com", "password1"))
			admin, _ := adminTokens(b, s)
			path := strings.TrimPrefix(appURL(s), s.URL) + "/users/verify_token"
			body := []byte(`{"token":"` + tok + `"}`)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", path, bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+admin)
					rec := httptest.NewRecorder()
					s.Handler().ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		})
	}
}

// BenchmarkVerifyTokenHTTP measures verify_token calls over loopback HTTP, as
// load benchmarks make them.
func BenchmarkVerifyTokenHTTP(b *testing.B) {
	s := newTestServer(b)
	tok, _ := s.NewAccessToken(s.AddUser("ada@example.com", "password1"))
	admin, _ := adminTokens(b, s)
	url := appURL(s) + "/users/verify_token"
	body := []byte(`{"token":"` + tok + `"}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := s.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
