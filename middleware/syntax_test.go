package middleware

import (
	"strings"
	"testing"
)

// simpleToken68 is the plain byte-by-byte reading of RFC 7235's token68:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". It is the
// oracle the table-driven validToken68 must agree with.
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
		{name: "jwt", in: goodToken, want: true},
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
	for _, s := range []string{"", "a", "abc==", "==", "ab=c", "abcdefgh\xff", "abcdefghijklmnop=", goodToken, "a b"} {
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

// simplePrintable is the byte-by-byte oracle of printable.
func simplePrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// TestPrintableEveryByteEveryPosition puts each byte value at each position
// of strings of every length up to three 8-byte words and then some, over
// bases of plain ASCII and of bytes from 0x80 up (which pass), so that every
// lane of the word test and every length of its tail meets every byte. Then
// every pair of adjacent bytes, at each position of two words: the word test
// borrows across lanes, and a borrow must never turn into a verdict.
func TestPrintableEveryByteEveryPosition(t *testing.T) {
	bases := []string{
		strings.Repeat("6b0920c760bff381e8000005", 2),
		strings.Repeat(" ~\x80\xff!\x7e\x20\xa0", 6),
	}
	for _, base := range bases {
		for n := 0; n <= 27; n++ {
			for pos := 0; pos < n; pos++ {
				for c := 0; c < 256; c++ {
					b := []byte(base[:n])
					b[pos] = byte(c)
					if s := string(b); printable(s) != simplePrintable(s) {
						t.Fatalf("printable(%q) = %v, oracle says %v", s, !simplePrintable(s), simplePrintable(s))
					}
				}
			}
		}
		b := []byte(base[:16])
		for pos := 0; pos+1 < len(b); pos++ {
			for c := 0; c < 1<<16; c++ {
				b[pos], b[pos+1] = byte(c), byte(c>>8)
				if s := string(b); printable(s) != simplePrintable(s) {
					t.Fatalf("printable(%q) = %v, oracle says %v", s, !simplePrintable(s), simplePrintable(s))
				}
			}
			copy(b, base)
		}
	}
}
