package cache

import (
	"context"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// Precheck returns a Verifier that refuses, without calling next, every
// token the cache's local pre-check refuses: not a JWT, not an access token,
// or expired for more than opts.ClockSkew. Everything else goes to next.
//
// It is for deployments that run without a cache (a gateway behind a shared
// HTTP cache, say), so that junk and expired tokens still cost no upstream
// call. Of opts, only ClockSkew and Now are used. A Cache pre-checks on its
// own; there is no point in stacking the two.
func Precheck(next verifier.Verifier, opts Options) verifier.Verifier {
	if next == nil {
		panic("cache: nil verifier")
	}
	opts = opts.withDefaults()
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	skew := opts.ClockSkew
	return verifier.VerifierFunc(func(ctx context.Context, token string) (*verifier.User, error) {
		switch {
		case token == "":
			return nil, errEmpty
		case len(token) > maxTokenLen:
			return nil, errTooLong
		}
		if _, _, err := precheck(token, now(), skew); err != nil {
			return nil, err
		}
		return next.Verify(ctx, token)
	})
}
