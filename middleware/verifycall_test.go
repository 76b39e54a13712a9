package middleware

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// countingVerifier is fakeVerifier recording what reaches it: every call of
// Verify, and the calls that passed its syntax check and would have gone
// upstream.
type countingVerifier struct {
	mu       sync.Mutex
	calls    []string // every token passed to Verify
	upstream []string // those that passed verifier.CheckSyntax
}

func (v *countingVerifier) Verify(ctx context.Context, tok string) (*verifier.User, error) {
	v.mu.Lock()
	v.calls = append(v.calls, tok)
	if verifier.CheckSyntax(tok) == nil {
		v.upstream = append(v.upstream, tok)
	}
	v.mu.Unlock()
	return fakeVerifier()(ctx, tok)
}

// A credential whose characters cannot be a token is refused with 400, the
// answer of every other malformed credential, and never goes upstream: the
// verifier's syntax check says so with verifier.ErrMalformedToken.
func TestMalformedTokenNeverGoesUpstream(t *testing.T) {
	for _, tt := range []struct {
		name, authz string
	}{
		{name: "bang", authz: "Bearer tok!"},
		{name: "padding inside", authz: "Bearer ab=c"},
		{name: "only padding", authz: "Bearer ==="},
		{name: "non-ASCII", authz: "Bearer t\xc3\xb6k"},
		{name: "comma after a jwt", authz: "Bearer " + goodToken + ","},
		{name: "bad byte in a later block", authz: "Bearer " + goodToken[:20] + "\"" + goodToken[21:]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := &countingVerifier{}
			req := bearerRequest("/", "")
			req.Header.Set("Authorization", tt.authz)
			rec, s := serve(New(v, WithLogger(quiet)), req)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Contains(t, rec.Body.String(), `"invalid_request"`)
			assert.False(t, s.called)
			assert.Empty(t, v.upstream, "sent upstream")
		})
	}
}

// The middleware makes exactly one call of Verify per request that carries a
// token, with the credential as found, and none for a request whose
// credentials are refused before that.
func TestOneVerifyCallPerRequest(t *testing.T) {
	tests := []struct {
		name       string
		authz      string // "" sends the token in a cookie instead
		opts       []Option
		wantStatus int
		wantCalls  []string
	}{
		{name: "valid", authz: "Bearer " + goodToken, wantStatus: http.StatusOK, wantCalls: []string{goodToken}},
		{name: "refused", authz: "Bearer " + invalidToken, wantStatus: http.StatusUnauthorized, wantCalls: []string{invalidToken}},
		{name: "cookie", opts: []Option{WithLookup(LookupCookie("session"))},
			wantStatus: http.StatusOK, wantCalls: []string{goodToken}},
		{name: "over the length limit", authz: "Bearer " + goodToken,
			opts: []Option{WithMaxTokenLength(len(goodToken) - 1)}, wantStatus: http.StatusBadRequest},
		{name: "two spaces", authz: "Bearer  " + goodToken, wantStatus: http.StatusBadRequest},
		{name: "no token", authz: "Basic dTpw", wantStatus: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &countingVerifier{}
			req := bearerRequest("/", "")
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
			} else {
				req.Header.Set("Cookie", "session="+goodToken)
			}
			rec, _ := serve(New(v, append([]Option{WithLogger(quiet)}, tt.opts...)...), req)
			require.Equal(t, tt.wantStatus, rec.Code, "body %s", rec.Body)
			assert.Equal(t, tt.wantCalls, v.calls)
		})
	}
}
