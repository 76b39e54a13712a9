package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// account is an emulator user with one access token minted for it.
type account struct {
	UserID string
	Token  string
}

// newAccounts adds n users to the emulator and mints a token for each.
func (h *harness) newAccounts(prefix string, n int) ([]account, error) {
	accts := make([]account, n)
	for i := range accts {
		uid := h.emu.AddUser(fmt.Sprintf("%s-%d@bench.example", prefix, i), "bench-password-1")
		tok, err := h.emu.NewAccessToken(uid)
		if err != nil {
			return nil, fmt.Errorf("mint token: %w", err)
		}
		accts[i] = account{UserID: uid, Token: tok}
	}
	return accts, nil
}

// freshTokens mints n new tokens, spread over the given accounts' users:
// every one is a new session, so no cache has seen it.
func (h *harness) freshTokens(accts []account, n int) ([]string, error) {
	toks := make([]string, n)
	for i := range toks {
		tok, err := h.emu.NewAccessToken(accts[i%len(accts)].UserID)
		if err != nil {
			return nil, fmt.Errorf("mint token: %w", err)
		}
		toks[i] = tok
	}
	return toks, nil
}

// junkTokens makes n tokens that a gateway must refuse without asking the
// upstream: a third random strings, a third three-part non-JWTs and a third
// well-formed access tokens that expired an hour ago.
func (h *harness) junkTokens(n int, users []account) []string {
	now := time.Now()
	toks := make([]string, n)
	for i := range toks {
		switch i % 3 {
		case 0:
			toks[i] = randomText(16 + mrand.IntN(300))
		case 1:
			toks[i] = randomText(20) + "." + randomText(40+mrand.IntN(200)) + "." + randomText(43)
		default:
			u := users[i%len(users)]
			toks[i] = h.emu.Sign(jwt.MapClaims{
				"sub":             u.UserID,
				"typ":             "access",
				"iss":             fmt.Sprintf("%024x", i),
				"iat":             now.Add(-2 * time.Hour).Unix(),
				"exp":             now.Add(-time.Hour).Unix() - int64(i%600),
				"baas_device_id":  "000000000000000000000000",
				"baas_domain_id":  "000000000000000000000000",
				"stitch_devId":    "000000000000000000000000",
				"stitch_domainId": "000000000000000000000000",
			})
		}
	}
	return toks
}

// randomText is n characters of URL-safe base64 noise.
func randomText(n int) string {
	b := make([]byte, (n*3+3)/4)
	_, _ = rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	return s[:min(n, len(s))]
}

func tokensOf(accts []account) []string {
	t := make([]string, len(accts))
	for i, a := range accts {
		t[i] = a.Token
	}
	return t
}

// writeTokens writes one token per line into the harness's temp dir.
func (h *harness) writeTokens(name string, toks []string) (string, error) {
	p := filepath.Join(h.tmp, name)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	for _, t := range toks {
		w.WriteString(t)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return p, f.Close()
}
