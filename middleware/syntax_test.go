package middleware

import (
	"strings"
	"testing"
)

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
