package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

func TestClientAddr(t *testing.T) {
	m := New(fixedVerifier, WithClientAddress(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")))
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer: its own address, whatever it claims", "192.0.2.7", []string{"198.51.100.1"}, "192.0.2.7"},
		{"trusted peer: right-most untrusted hop", "10.0.0.1", []string{"203.0.113.9, 198.51.100.1", "10.1.1.1"}, "198.51.100.1"},
		{"trusted peer, no header", "127.0.0.1", nil, "127.0.0.1"},
		{"garbage stops the walk at the last trusted hop", "10.0.0.1", []string{"198.51.100.1, junk, 10.2.2.2"}, "10.2.2.2"},
		{"only trusted hops: the left-most", "10.0.0.1", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"mapped IPv4 peer", "::ffff:192.0.2.7", nil, "192.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.ClientAddr(netip.MustParseAddr(tt.peer), tt.xff)
			assert.Equal(t, tt.want, got.String())
		})
	}
}

// Authenticate hands the verifier the client address, and maps its
// verifier.ErrTooManyRequests to a 429 without a challenge.
func TestTooManyRequestsRefusal(t *testing.T) {
	var seen netip.Addr
	v := verifier.VerifierFunc(func(ctx context.Context, _ string) (*verifier.User, error) {
		seen, _ = verifier.ClientFromContext(ctx)
		return nil, verifier.ErrTooManyRequests
	})
	m := New(v, WithLogger(quiet), WithClientAddress())
	h := m.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("refused request went on") }))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "192.0.2.7:4711"
	req.Header.Set("Authorization", "Bearer abc.def.ghi")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "192.0.2.7", seen.String())
	assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
	assert.Equal(t, "2", rec.Header().Get("Retry-After"))
	assert.Contains(t, rec.Body.String(), `"error":"too_many_requests"`)
	assert.Equal(t, "too_many_requests", KindTooManyRequests.String())
}
