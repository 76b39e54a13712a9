package verifier

import (
	"errors"
	"strings"
	"testing"
)

// validToken68 is CheckSyntax as a predicate, with the property every
// caller relies on checked on the way: a refusal is ErrMalformedToken (and so
// ErrInvalidToken) and never quotes the token.
func validToken68(s string) bool {
	err := CheckSyntax(s)
	if err == nil {
		return true
	}
	if !errors.Is(err, ErrMalformedToken) || !errors.Is(err, ErrInvalidToken) {
		panic("CheckSyntax refusal is not ErrMalformedToken: " + err.Error())
	}
	if len(s) > 16 && strings.Contains(err.Error(), s) { // shorter ones may match its words
		panic("CheckSyntax refusal quotes the token")
	}
	return false
}

// simpleToken68 is the plain byte-by-byte reading of RFC 7235's token68:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". It is the
// oracle the table-driven CheckSyntax must agree with.
func simpleToken68(s string) bool {
	i := 0
	for i < len(s) {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			break
		}
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func TestValidToken68(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "empty", in: "", want: false},
		{name: "one char", in: "a", want: true},
		{name: "every token68 char", in: "ABCZabcz0189-._~+/", want: true},
		{name: "padding", in: "abc==", want: true},
		{name: "only padding", in: "==", want: false},
		{name: "padding inside", in: "ab=c", want: false},
		{name: "space", in: "abc def", want: false},
		{name: "high byte after eight", in: "abcdefgh\xff", want: false},
		{name: "NUL in second block", in: "abcdefghijklm\x00op", want: false},
		{name: "padding after a block", in: "abcdefgh=", want: true},
		{name: "jwt", in: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validToken68(tt.in); got != tt.want {
				t.Errorf("validToken68(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestValidToken68EveryByteEveryPosition puts each of the 256 byte values,
// and "=", at each position of tokens of every length up to three 8-byte
// blocks and then some, so that every lane of the 8-wide loop and every
// length of its byte-by-byte tail meets every byte: the fast check must agree
// with the oracle on all of them.
func TestValidToken68EveryByteEveryPosition(t *testing.T) {
	for n := 1; n <= 27; n++ {
		base := []byte(strings.Repeat("aZ0-._~+/", 4)[:n])
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := append([]byte(nil), base...)
				b[pos] = byte(c)
				if s := string(b); validToken68(s) != simpleToken68(s) {
					t.Fatalf("validToken68(%q) = %v, oracle says %v", s, !simpleToken68(s), simpleToken68(s))
				}
				// The same byte followed by padding.
				for i := pos + 1; i < n; i++ {
					b[i] = '='
				}
				if s := string(b); validToken68(s) != simpleToken68(s) {
					t.Fatalf("validToken68(%q) = %v, oracle says %v", s, !simpleToken68(s), simpleToken68(s))
				}
			}
		}
	}
}

// FuzzToken68 checks the table-driven token68 check against the simple one.
func FuzzToken68(f *testing.F) {
	for _, s := range []string{"", "a", "abc==", "==", "ab=c", "abcdefgh\xff", "abcdefghijklmnop=", "a.b.c", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validToken68(s), simpleToken68(s); got != want {
			t.Fatalf("validToken68(%q) = %v, oracle says %v", s, got, want)
		}
	})
}

// BenchmarkToken68 compares the table-driven check with the simple one on
// a token of App Services size (469 bytes).
func BenchmarkToken68(b *testing.B) {
	tok := strings.Repeat("eyJhbGciOiJIUzI1NiJ9.", 23)[:467] + "=="
	for _, bb := range []struct {
		name  string
		check func(string) bool
	}{{"table", validToken68}, {"simple", simpleToken68}} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(tok)))
			for b.Loop() {
				if !bb.check(tok) {
					b.Fatal("refused")
				}
			}
		})
	}
}
