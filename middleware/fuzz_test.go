package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// FuzzBearer feeds arbitrary Authorization values through Authenticate, over
// a verifier that checks the token's syntax as every upstream-calling
// verifier does and then accepts it: no panic, and a user comes back only
// from exactly "<Bearer> <token68>" within the length limit.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{
		"Bearer abc", "bearer abc.def-ghi", "Bearer ", "Bearer", "Bearer  x", "Bearer\tx", "Basic abc",
		"Bearerx y", "Bearer a==", "Bearer ==", "Bearer a=b", "Bearer " + goodToken, "", "BEARER x~+/",
	} {
		f.Add(s)
	}
	const maxLen = 64
	echo := verifier.VerifierFunc(func(_ context.Context, tok string) (*verifier.User, error) {
		if err := verifier.CheckSyntax(tok); err != nil {
			return nil, err
		}
		return &verifier.User{ID: "u", Data: tok}, nil
	})
	m := New(echo, WithMaxTokenLength(maxLen), WithCredentialsOptional(true), WithLogger(quiet))
	f.Fuzz(func(t *testing.T, v string) {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{v}
		d := m.Authenticate(context.Background(), httpSource{r})
		switch d.Kind {
		case KindMalformed:
			if !errors.Is(d.Err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", d.Err)
			}
			if d.User != nil {
				t.Fatalf("user alongside error")
			}
			if len(v) > 16 && strings.Contains(d.Err.Error(), v[7:]) { // shorter ones may match its words
				t.Fatalf("error %q quotes the input", d.Err)
			}
			return
		case KindAnonymous:
			// Absent: not a Bearer credential at all.
			if len(v) > 6 && asciiEqualFold(v[:7], "bearer ") {
				t.Fatalf("%q: Bearer credential neither read nor refused", v)
			}
			return
		case KindAuthenticated:
		default:
			t.Fatalf("%q: outcome %v", v, d.Kind)
		}
		tok := d.User.Data
		if len(v) != len(tok)+7 || !asciiEqualFold(v[:7], "bearer ") || v[7:] != tok {
			t.Fatalf("%q: token %q is not the rest after one space", v, tok)
		}
		if len(tok) > maxLen {
			t.Fatalf("token longer than the limit: %d", len(tok))
		}
		trimmed := strings.TrimRight(tok, "=")
		if trimmed == "" || strings.Trim(trimmed, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/") != "" {
			t.Fatalf("token %q is not token68", tok)
		}
	})
}

// FuzzWebhookBody signs arbitrary bodies correctly and posts them: the handler
// never panics, answers 204 or 400 only, and revokes only for a body that an
// independent decoding finds well-formed, with the user id it names.
func FuzzWebhookBody(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"u"}`, `{"user_id":"u","revoked_at":1}`, `{"user_id":""}`, `{"user_id":"u","x":1}`,
		`{"user_id":"u"} {}`, `null`, `[]`, `{"USER_ID":"u"}`, `{"user_id":"a","user_id":"b"}`,
		`{"user_id":"u","revoked_at":1e3}`, `{"user_id":"\u0000"}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r fakeRevoker
		h := NewRevokeWebhook(&r, [][]byte{webhookSecret}, WithWebhookLogger(quiet), WithWebhookClock(func() time.Time { return fixedNow }))
		rec := postWebhook(h, http.MethodPost, string(body), SignWebhook(webhookSecret, body, fixedNow))
		calls := r.all()
		switch rec.Code {
		case http.StatusNoContent:
			want, ok := oracleUserID(body)
			if !ok {
				t.Fatalf("revoked for a body the oracle refuses: %q", body)
			}
			if len(calls) != 1 || calls[0].userID != want {
				t.Fatalf("calls %v, want one for %q", calls, want)
			}
		case http.StatusBadRequest:
			if len(calls) != 0 {
				t.Fatalf("revoked on a 400: %v", calls)
			}
		default:
			t.Fatalf("status %d for a signed body", rec.Code)
		}
	})
}

// oracleUserID decides well-formedness its own way: at most maxWebhookBody
// bytes of one JSON object whose keys are exactly user_id (a non-empty
// string) and optionally revoked_at (null or a positive integer).
func oracleUserID(body []byte) (string, bool) {
	if len(body) > maxWebhookBody || !json.Valid(body) {
		return "", false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return "", false
	}
	var id string
	if err := json.Unmarshal(m["user_id"], &id); err != nil || id == "" || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", false
	}
	for k, v := range m {
		switch k {
		case "user_id":
		case "revoked_at":
			if string(v) == "null" {
				continue
			}
			var n int64
			if err := json.Unmarshal(v, &n); err != nil || n <= 0 || bytes.ContainsAny(v, ".eE") {
				return "", false
			}
		default:
			return "", false
		}
	}
	return id, true
}

// FuzzCookie checks the Cookie scanner: no panic, the value found is the
// first cookie of that name, and removing the cookie leaves none of that
// name and every other cookie.
func FuzzCookie(f *testing.F) {
	for _, s := range []string{"tg=abc", "a=1; tg=abc; b=2", `tg="q"`, "tg=; tg=x", "tg", ";;", " tg = v ", "a=1;tg=2"} {
		f.Add(s)
	}
	const name = "tg"
	f.Fuzz(func(t *testing.T, line string) {
		lines := []string{line}
		v, ok := cookieValue(lines, name)
		if ok && !strings.Contains(line, v) {
			t.Fatalf("value %q is not in %q", v, line)
		}
		rest := removeCookie(lines, name)
		if _, found := cookieValue([]string{rest}, name); found {
			t.Fatalf("%q still has %s after removal: %q", line, name, rest)
		}
		if _, found := cookieValue([]string{rest}, "other"); found != hasCookie(line, "other") {
			t.Fatalf("removal changed cookie other: %q -> %q", line, rest)
		}
	})
}

func hasCookie(line, name string) bool {
	_, ok := cookieValue([]string{line}, name)
	return ok
}

// FuzzQuery checks the query scanner against net/url: where url.ParseQuery
// accepts the query, both see the same occurrences and value, and removal
// drops exactly the token's parameter.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"access_token=a", "a=1&access_token=b&c", "access%5Ftoken=x", "access_token=a&access_token=b", "access_token=%zz", "=&&=", "a;b=c"} {
		f.Add(s)
	}
	const name = "access_token"
	f.Fuzz(func(t *testing.T, raw string) {
		v, n, err := queryValue(raw, name)
		rest := removeQuery(raw, name)
		if _, n2, _ := queryValue(rest, name); n2 != 0 {
			t.Fatalf("%q still has %s after removal: %q", raw, name, rest)
		}
		want, perr := url.ParseQuery(raw)
		if perr != nil {
			return
		}
		vals := want[name]
		switch {
		case len(vals) >= 2:
			if err == nil {
				t.Fatalf("%q: %d occurrences accepted", raw, len(vals))
			}
		case len(vals) == 1 && vals[0] != "":
			if err != nil || n != 1 || v != vals[0] {
				t.Fatalf("%q: got %q, %d, %v; want %q", raw, v, n, err, vals[0])
			}
		case len(vals) == 0:
			if n != 0 || err != nil {
				t.Fatalf("%q: found %d, %v; net/url finds none", raw, n, err)
			}
		}
		got, gerr := url.ParseQuery(rest)
		if gerr != nil {
			t.Fatalf("removal made %q unparsable: %q", raw, rest)
		}
		delete(want, name)
		if len(got) != len(want) {
			t.Fatalf("removal changed other parameters: %v -> %v", want, got)
		}
		for k, vs := range want {
			if strings.Join(got[k], "\x00") != strings.Join(vs, "\x00") {
				t.Fatalf("removal changed %q: %v -> %v", k, vs, got[k])
			}
		}
	})
}

// FuzzForwardedRequest checks that ForwardAuth, trusting the forwarded
// headers, passes a subrequest without a token only when the URI headers
// present agree on a skipped path, none of them repeated.
func FuzzForwardedRequest(f *testing.F) {
	f.Add("/public/x", "", "GET", "", false)
	f.Add("/private", "/public/x", "", "", false)
	f.Add("/public/x", "/public/x", "GET", "POST", false)
	f.Add("/public/x", "", "", "", true)
	public := WithSkip(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/public/") })
	m := newTest(public, WithTrustForwardedRequest(true))
	h := m.ForwardAuth()
	f.Fuzz(func(t *testing.T, fwdURI, origURI, fwdMethod, origMethod string, repeat bool) {
		req := httptest.NewRequest(http.MethodGet, "/auth", nil)
		set := func(k, v string) {
			if v != "" {
				req.Header[k] = []string{v}
				if repeat {
					req.Header[k] = append(req.Header[k], v)
				}
			}
		}
		set("X-Forwarded-Uri", fwdURI)
		set("X-Original-Uri", origURI)
		set("X-Forwarded-Method", fwdMethod)
		set("X-Original-Method", origMethod)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return
		}
		if repeat && (fwdURI != "" || origURI != "" || fwdMethod != "" || origMethod != "") {
			t.Fatalf("passed with repeated forwarded headers")
		}
		if fwdURI != "" && origURI != "" && fwdURI != origURI || fwdMethod != "" && origMethod != "" && fwdMethod != origMethod {
			t.Fatalf("passed with disagreeing forwarded headers %q %q %q %q", fwdURI, origURI, fwdMethod, origMethod)
		}
		for _, u := range []string{fwdURI, origURI} {
			if u != "" && !strings.HasPrefix(u, "/public/") {
				t.Fatalf("passed %q, not under the skipped prefix", u)
			}
		}
	})
}

// FuzzSignatureHeader parses arbitrary signature header values: the parser
// never panics, and what it accepts has exactly one all-digit t and 1 to 4
// v1 values of 32 bytes, and survives a round trip: a value that SignWebhook
// would write for the parsed time verifies only under the key it was made
// with.
func FuzzSignatureHeader(f *testing.F) {
	body := []byte(`{"user_id":"u"}`)
	for _, s := range []string{
		SignWebhook(webhookSecret, body, fixedNow), legacySign(string(body)), "t=1,v1=", "t=,v1=00",
		"v1=" + v1Of(sign(string(body))) + ",t=1", "t=1,t=2,v1=" + strings.Repeat("ab", 32), "t=-1,v1=" + strings.Repeat("ab", 32),
		"t=1,v0=x,v1=" + strings.Repeat("ab", 32), ",,,", "t=1, v1=" + strings.Repeat("ab", 32), "=", "t=99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sig, ok := parseSignature(v)
		if !ok {
			if sig.ts != "" || sig.v1 != nil {
				t.Fatalf("refused %q but returned %+v", v, sig)
			}
			return
		}
		if len(v) > maxSignatureHeader || !validUnixSeconds(sig.ts) || strconv.FormatInt(sig.unix, 10) != strings.TrimLeft(sig.ts, "0") && sig.unix != 0 {
			t.Fatalf("accepted %q with t %q = %d", v, sig.ts, sig.unix)
		}
		if len(sig.v1) == 0 || len(sig.v1) > maxSignatures {
			t.Fatalf("accepted %q with %d v1", v, len(sig.v1))
		}
		for _, b := range sig.v1 {
			if len(b) != 32 {
				t.Fatalf("accepted %q with a v1 of %d bytes", v, len(b))
			}
		}
		if strings.Count(v, "t=") < 1 || !strings.HasPrefix(v, "t=") && !strings.Contains(v, ",t=") {
			t.Fatalf("accepted %q without a t item", v)
		}
		good, _ := parseSignature(SignWebhook(webhookSecret, body, time.Unix(sig.unix, 0)))
		if !good.verifies([][]byte{webhookSecret}, body) || good.verifies([][]byte{otherSecret}, body) {
			t.Fatalf("round trip of t=%d failed", sig.unix)
		}
	})
}
