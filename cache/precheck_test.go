package cache

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

const hs256Header = `{"alg":"HS256","typ":"JWT"}`

// rawToken assembles a JWT from JSON header and payload and a signature.
func rawToken(header, payload, sig string) string {
	return b64(header) + "." + b64(payload) + "." + sig
}

func TestPrecheck(t *testing.T) {
	now := t0
	exp := now.Add(time.Minute).Unix()
	valid := newToken(t, now, tokenSpec{})
	sig := valid[strings.LastIndexByte(valid, '.')+1:]
	payload := func(extra string) string {
		return `{"sub":"u1","iat":` + itoa(now.Unix()) + `,"exp":` + itoa(exp) + extra + `}`
	}
	tests := []struct {
		name   string
		token  string
		reason reason
		want   error // nil: accepted
		is     error
	}{
		{"valid access token", valid, 0, nil, nil},
		{"no typ claim", newToken(t, now, tokenSpec{typ: "-"}), 0, nil, nil},
		{"fractional exp", rawToken(hs256Header, `{"exp":`+itoa(exp)+`.5,"typ":"access"}`, sig), 0, nil, nil},
		{"two segments", "abc.def", reasonMalformed, errMalformed, verifier.ErrInvalidToken},
		{"four segments", valid + ".x", reasonMalformed, errMalformed, verifier.ErrInvalidToken},
		{"opaque string", "not-a-jwt-at-all", reasonMalformed, errMalformed, verifier.ErrInvalidToken},
		{"header not base64", "~~." + b64(payload("")) + "." + sig, reasonMalformed, errMalformed, verifier.ErrInvalidToken},
		{"not token68", "!!." + b64(payload("")) + "." + sig, reasonMalformed, verifier.CheckSyntax("!"), verifier.ErrMalformedToken},
		{"header not JSON", rawToken("alg", payload(""), sig), reasonMalformed, errMalformed, verifier.ErrInvalidToken},
		{"header null", rawToken("null", payload(""), sig), reasonMalformed, errBadAlg, verifier.ErrInvalidToken},
		{"no alg", rawToken(`{"typ":"JWT"}`, payload(""), sig), reasonMalformed, errBadAlg, verifier.ErrInvalidToken},
		{"alg none", rawToken(`{"alg":"none"}`, payload(""), sig), reasonMalformed, errBadAlg, verifier.ErrInvalidToken},
		{"alg NoNe", rawToken(`{"alg":"NoNe"}`, payload(""), sig), reasonMalformed, errBadAlg, verifier.ErrInvalidToken},
		{"unknown alg", rawToken(`{"alg":"XX999"}`, payload(""), sig), reasonMalformed, errBadAlg, verifier.ErrInvalidToken},
		{"payload not base64", b64(hs256Header) + ".~~~." + sig, reasonMalformed, errMalformed, verifier.ErrInvalidToken},
		{"payload array", rawToken(hs256Header, `[1,2]`, sig), reasonMalformed, errMalformed, verifier.ErrInvalidToken},
		{"exp is a string", rawToken(hs256Header, `{"exp":"1"}`, sig), reasonMalformed, errMalformed, verifier.ErrInvalidToken},
		{"signature not base64url", rawToken(hs256Header, payload(""), "ab+/"), reasonMalformed, errMalformed, verifier.ErrInvalidToken},
		{"no exp", rawToken(hs256Header, `{"sub":"u1"}`, sig), reasonMalformed, errNoExp, verifier.ErrInvalidToken},
		{"refresh token", newToken(t, now, tokenSpec{typ: "refresh"}), reasonWrongType, errRefresh, verifier.ErrInvalidToken},
		{"other typ", newToken(t, now, tokenSpec{typ: "id"}), reasonWrongType, errWrongType, verifier.ErrInvalidToken},
		{"typ null", rawToken(hs256Header, payload(`,"typ":null`), sig), reasonWrongType, errWrongType, verifier.ErrInvalidToken},
		{"typ empty", rawToken(hs256Header, payload(`,"typ":""`), sig), reasonWrongType, errWrongType, verifier.ErrInvalidToken},
		{"typ number", rawToken(hs256Header, payload(`,"typ":1`), sig), reasonWrongType, errWrongType, verifier.ErrInvalidToken},
		{"typ access", rawToken(hs256Header, payload(`,"typ":"access"`), sig), 0, nil, nil},
		{"exp null", rawToken(hs256Header, `{"exp":null}`, sig), reasonMalformed, errNoExp, verifier.ErrInvalidToken},
		{"claims null", rawToken(hs256Header, `null`, sig), reasonMalformed, errNoExp, verifier.ErrInvalidToken},
		{"expired long ago", newToken(t, now, tokenSpec{iat: now.Add(-time.Hour), exp: now.Add(-time.Minute)}), reasonExpired, errExpired, verifier.ErrTokenExpired},
		{"expired exactly skew ago", newToken(t, now, tokenSpec{iat: now.Add(-time.Hour), exp: now.Add(-5 * time.Second)}), reasonExpired, errExpired, verifier.ErrTokenExpired},
		{"expired within skew", newToken(t, now, tokenSpec{iat: now.Add(-time.Hour), exp: now.Add(-4 * time.Second)}), 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, r, err := precheck(tt.token, now, 5*time.Second)
			if tt.want == nil {
				require.NoError(t, err)
				assert.False(t, c.exp.IsZero())
				return
			}
			assert.Equal(t, tt.want, err)
			assert.ErrorIs(t, err, tt.is)
			assert.Equal(t, tt.reason, r)
			assert.NotContains(t, err.Error(), tt.token, "errors never carry the token")
		})
	}
}

func TestPrecheckClaims(t *testing.T) {
	tok := newToken(t, t0, tokenSpec{sub: "u-42", iat: t0.Add(-time.Minute), exp: t0.Add(time.Hour)})
	c, _, err := precheck(tok, t0, 0)
	require.NoError(t, err)
	assert.Equal(t, "u-42", c.sub)
	assert.True(t, c.iat.Equal(t0.Add(-time.Minute)), "iat %v", c.iat)
	assert.True(t, c.exp.Equal(t0.Add(time.Hour)), "exp %v", c.exp)
}

// Pre-check refusals cost no upstream call and touch neither table.
func TestPrecheckRefusalsStayLocal(t *testing.T) {
	c, up, clk := newTestCache(t, Options{})
	now := clk.Now()
	tests := []struct {
		name  string
		token string
		is    error
	}{
		{"empty", "", verifier.ErrInvalidToken},
		{"too long", strings.Repeat("a", maxTokenLen+1), verifier.ErrInvalidToken},
		{"malformed", "garbage", verifier.ErrInvalidToken},
		{"expired", newToken(t, now, tokenSpec{iat: now.Add(-time.Hour), exp: now.Add(-time.Minute)}), verifier.ErrTokenExpired},
		{"refresh", newToken(t, now, tokenSpec{typ: "refresh"}), verifier.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := c.Verify(context.Background(), tt.token)
			assert.Nil(t, u)
			assert.ErrorIs(t, err, tt.is)
		})
	}
	assert.Zero(t, up.calls.Load())
	assert.Zero(t, c.pos.len())
	assert.Zero(t, c.neg.len())
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// FuzzPrecheck checks that precheck never panics, refuses only with
// ErrInvalidToken-kind errors and a pre-check reason, and accepts only
// tokens that an independent decoding (exact keys, maps) also finds to be
// unexpired access tokens with a known, non-"none" alg.
func FuzzPrecheck(f *testing.F) {
	now := t0
	for _, s := range []string{
		newToken(f, now, tokenSpec{}),
		newToken(f, now, tokenSpec{typ: "refresh"}),
		newToken(f, now, tokenSpec{iat: now.Add(-time.Hour), exp: now.Add(-time.Minute)}),
		rawToken(`{"alg":"none"}`, `{"exp":1}`, ""),
		rawToken(hs256Header, `{"exp":1e300,"typ":null}`, "abc"),
		rawToken(`{"Alg":"HS256"}`, `{"exp":1e300}`, "abc"),
		"a.b.c", "..", "", ".", "eyJ.eyJ.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, r, err := precheck(token, now, 5*time.Second)
		if err != nil {
			if !errors.Is(err, verifier.ErrInvalidToken) {
				t.Fatalf("refusal %v is not ErrInvalidToken", err)
			}
			if r >= numReasons || r == reasonRevoked {
				t.Fatalf("bad reason %d", r)
			}
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %d segments", len(parts))
		}
		var h map[string]any
		if err := json.Unmarshal(decodeSeg(t, parts[0]), &h); err != nil {
			t.Fatalf("accepted a header that is not JSON: %v", err)
		}
		alg, _ := h["alg"].(string)
		if alg == "" || alg == "none" || jwt.GetSigningMethod(alg) == nil {
			t.Fatalf("accepted alg %q", alg)
		}
		if !now.Before(c.exp.Add(5 * time.Second)) {
			t.Fatal("accepted an expired token")
		}
		var p map[string]any
		if err := json.Unmarshal(decodeSeg(t, parts[1]), &p); err != nil {
			t.Fatalf("accepted claims that are not JSON: %v", err)
		}
		if typ, ok := p["typ"]; ok && typ != "access" {
			// encoding/json matches struct fields case-insensitively and the
			// last duplicate wins; only then may the exact key disagree.
			if !hasFoldedDuplicate(parts[1], "typ") {
				t.Fatalf("accepted typ %v", typ)
			}
		}
	})
}

func decodeSeg(t *testing.T, seg string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("accepted a segment that is not base64url: %v", err)
	}
	return b
}

// hasFoldedDuplicate reports whether the JSON object in seg has a key equal
// to name under case folding but different from it.
func hasFoldedDuplicate(seg, name string) bool {
	b, _ := base64.RawURLEncoding.DecodeString(seg)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	for k := range m {
		if k != name && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
