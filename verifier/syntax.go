package verifier

import "fmt"

var (
	errEmptyToken = fmt.Errorf("%w: empty token", ErrMalformedToken)
	errTokenChars = fmt.Errorf("%w: token has characters outside token68", ErrMalformedToken)
)

// CheckSyntax returns nil if token is a token68 (RFC 9110 section 11.2: one
// or more of ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then any
// number of "="), the syntax of a Bearer credential (RFC 6750 section 2.1),
// and an error wrapping ErrMalformedToken otherwise. App Services access
// tokens, being JWTs, always qualify.
//
// It is the one syntax check of tokenguard: every Verifier that calls
// upstream (package cache on a miss, the App Services client) runs it before
// any network call, so junk never leaves the process. It allocates nothing
// and never quotes the token.
func CheckSyntax(token string) error {
	i := token68Prefix(token)
	if i == 0 {
		if token == "" {
			return errEmptyToken
		}
		return errTokenChars
	}
	for i < len(token) && token[i] == '=' {
		i++
	}
	if i != len(token) {
		return errTokenChars
	}
	return nil
}

// token68Reject is 0 for the token68 characters before the "=" padding and 1
// for every other byte.
var token68Reject = func() (t [256]uint8) {
	for i := range t {
		t[i] = 1
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c], t[c+'a'-'A'] = 0, 0
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 0
	}
	for _, c := range "-._~+/" {
		t[c] = 0
	}
	return t
}()

// token68Prefix returns the length of the longest prefix of s made of
// token68 characters other than "=". It tests eight bytes a step: a JWT of
// ~500 bytes is checked in ~60 steps instead of ~500 branches.
func token68Prefix(s string) int {
	t := s
	for len(t) >= 8 {
		if token68Reject[t[0]]|token68Reject[t[1]]|token68Reject[t[2]]|token68Reject[t[3]]|
			token68Reject[t[4]]|token68Reject[t[5]]|token68Reject[t[6]]|token68Reject[t[7]] != 0 {
			break
		}
		t = t[8:]
	}
	n := len(s) - len(t)
	for n < len(s) && token68Reject[s[n]] == 0 {
		n++
	}
	return n
}
