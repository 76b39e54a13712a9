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
func UserFromContext(ctx context.Context) (*verifier.User, bool) {
	u, ok := ctx.Value(userKey).(*verifier.User)
	return u, ok && u != nil
}
