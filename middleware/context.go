package middleware

import (
	"context"
	"net/http"
	"net/netip"
	"sync/atomic"

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

// requestCtx is the one context value the Handler adds to an authenticated
// request: it carries the client address for the verifier (it embeds a
// verifier.ClientContext, which ClientFromContext finds) and, once Verify
// has answered, the user for the handlers behind (UserFromContext). It
// also holds the request the Handler passes on (Request.WithContext's copy,
// which does not escape once inlined): one allocation per request in all.
// A verifier's detached call that keeps the context keeps that copy (and
// its header map) until the call ends.
//
// The verifier sees it before the user is known and may keep it past the
// request: the cache's shared upstream call runs on
// context.WithoutCancel(ctx) of the caller that started it and can still
// be reading values when the handler behind has returned. So the
// ClientContext is written only before Verify, and the user, set after,
// is an atomic pointer.
type requestCtx struct {
	verifier.ClientContext                               // the request's context, and the client address when client is set
	client                 bool                          // answer verifier.ClientFromContext's key (WithClientAddress)
	user                   atomic.Pointer[verifier.User] // nil until Verify returned a user
	req                    http.Request                  // the request the Handler passes on, over this context
}

// newRequestCtx returns a requestCtx over parent, carrying addr for the
// verifier when client is set and passing the verifier's key on to parent
// otherwise.
func newRequestCtx(parent context.Context, client bool, addr netip.Addr) *requestCtx {
	return &requestCtx{ClientContext: verifier.ClientContext{Context: parent, Addr: addr}, client: client}
}

// Value answers userKey with the user once set, the verifier's client key
// with the ClientContext when client is set, and every other key (these two
// included, when not answered here) from the parent.
func (c *requestCtx) Value(key any) any {
	if key == userKey {
		if u := c.user.Load(); u != nil {
			return u
		}
		return c.Context.Value(key)
	}
	if c.client {
		return c.ClientContext.Value(key)
	}
	return c.Context.Value(key)
}
