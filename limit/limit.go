package limit

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// RetryAfter is the delay a refused client is told to wait: about one
// upstream call.
const RetryAfter = time.Second

// errTooMany is the error of a client over its cap.
var errTooMany error = &tooManyError{}

type tooManyError struct{}

func (*tooManyError) Error() string {
	return fmt.Sprintf("limit: %v", verifier.ErrTooManyRequests)
}
func (*tooManyError) Unwrap() error             { return verifier.ErrTooManyRequests }
func (*tooManyError) RetryAfter() time.Duration { return RetryAfter }

// PerClient returns a verifier that passes each call to next unless the
// call's client (verifier.ClientFromContext) already has max calls in
// progress, in which case it returns an error that matches
// verifier.ErrTooManyRequests and carries RetryAfter
// (verifier.RetryAfterError). A call without a client address is never
// limited. IPv6 clients are counted per /64, the block one host usually
// holds. It panics if next is nil or max is not positive.
func PerClient(next verifier.Verifier, max int) verifier.Verifier {
	if next == nil {
		panic("limit: nil verifier")
	}
	if max <= 0 {
		panic("limit: max must be positive")
	}
	return &perClient{next: next, max: max, n: map[netip.Addr]int{}}
}

type perClient struct {
	next verifier.Verifier
	max  int

	mu sync.Mutex         // guards n
	n  map[netip.Addr]int // calls in progress per client; no zero entries
}

func (l *perClient) Verify(ctx context.Context, token string) (*verifier.User, error) {
	addr, ok := verifier.ClientFromContext(ctx)
	if !ok {
		return l.next.Verify(ctx, token)
	}
	addr = bucket(addr)
	l.mu.Lock()
	if l.n[addr] >= l.max {
		l.mu.Unlock()
		return nil, errTooMany
	}
	l.n[addr]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.n[addr]--; l.n[addr] == 0 {
			delete(l.n, addr)
		}
		l.mu.Unlock()
	}()
	return l.next.Verify(ctx, token)
}

// bucket returns the address a client is counted under.
func bucket(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
