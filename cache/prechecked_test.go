package cache

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

func TestPrecheckWithoutCache(t *testing.T) {
	clk := newFakeClock()
	up := newUpstream(clk.Now)
	v := Precheck(up, Options{Now: clk.Now})
	now := clk.Now()
	tests := []struct {
		name  string
		token string
		want  error // nil: verified
		calls int64
	}{
		{"access token goes upstream", newToken(t, now, tokenSpec{}), nil, 1},
		{"empty", "", verifier.ErrInvalidToken, 0},
		{"not a JWT", "not-a-jwt", verifier.ErrInvalidToken, 0},
		{"refresh token", newToken(t, now, tokenSpec{typ: "refresh"}), verifier.ErrInvalidToken, 0},
		{"expired past the skew", newToken(t, now, tokenSpec{iat: now.Add(-time.Hour), exp: now.Add(-time.Minute)}), verifier.ErrTokenExpired, 0},
		{"bad signature still asks upstream", badSignature(newToken(t, now, tokenSpec{})), verifier.ErrInvalidToken, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.calls.Load()
			u, err := v.Verify(context.Background(), tt.token)
			if tt.want == nil {
				require.NoError(t, err)
				assert.NotNil(t, u)
			} else {
				require.ErrorIs(t, err, tt.want)
				assert.Nil(t, u)
			}
			assert.Equal(t, tt.calls, up.calls.Load()-before, "upstream calls")
		})
	}
	assert.Panics(t, func() { Precheck(nil, Options{}) })
}

// badSignature returns tok with its signature changed: only the upstream can
// tell.
func badSignature(tok string) string { return tok[:len(tok)-2] + "xx" }
