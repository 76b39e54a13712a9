package middleware

import (
	"context"

	"github.com/tokenguard/tokenguard/verifier"
)

// ctxKey is the private type of this package's context keys, so no other
// package can read or overwrite them.
type ctxKey int

const userKey ctxKey = 0

// NewContext returns a copy of ctx that carries u. The Handler calls it for
// each authenticated request; tests of handlers behind the middleware can
// call it too.
func NewContext(ctx context.Context, u *verifier.User) context.Context {
	return context.WithValue(ctx, userKey, u)
}

// UserFromContext returns the user NewContext stored in ctx, and whether
// there is one. The user is shared and must not be modified.
//
// Behind the Handler it reports false for every request that went on
// without a token: CORS preflights with WithPreflight, skipped paths
// (WithSkip), and anonymous requests with WithCredentialsOptional. Check ok
// before using the user; its absence means "not authenticated", never an
// error of the middleware.
func UserFromContext(ctx context.Context) (*verifier.User, bool) {
	u, ok := ctx.Value(userKey).(*verifier.User)
	return u, ok && u != nil
}
