package verifier

import (
	"context"
	"net/netip"
)

// ClientContext is a context that carries the client address of a request:
// the context WithClient returns, and ClientFromContext's source. Its Value
// answers ClientFromContext's (private) key with the ClientContext itself
// and passes every other key to Context.
//
// An HTTP layer that builds its own per-request context value can embed a
// ClientContext in it, so that the client address and its own values travel
// in one allocation instead of one per value (package middleware does, with
// the request's user). Such a type must answer Value for keys it does not
// own by calling the embedded ClientContext's Value, never Context.Value
// directly, or ClientFromContext will not find the address.
//
// A verifier may hand the context to a goroutine that outlives Verify (a
// cache's shared upstream call runs detached from its first caller, with
// context.WithoutCancel): set Context and Addr before the context is first
// used, and never change them afterwards.
type ClientContext struct {
	context.Context
	// Addr is the address of the client a verification is made for; the
	// zero Addr when it is unknown (ClientFromContext then reports false).
	Addr netip.Addr
}

// clientKey is the private key ClientContext answers Value for.
type clientKey struct{}

// Value returns c for ClientFromContext's key and Context.Value(key)
// otherwise.
func (c *ClientContext) Value(key any) any {
	if key == (clientKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// WithClient returns a copy of ctx that carries addr, the address of the
// client a verification is made for: a *ClientContext, one allocation. An
// HTTP layer sets it (package middleware resolves it from the peer and
// trusted proxies), so that a verifier below can share its capacity fairly
// between clients.
func WithClient(ctx context.Context, addr netip.Addr) context.Context {
	return &ClientContext{Context: ctx, Addr: addr}
}

// ClientFromContext returns the client address carried by the ClientContext
// (from WithClient, or embedded in another context) last wrapped around ctx,
// and whether there is a valid one.
func ClientFromContext(ctx context.Context) (netip.Addr, bool) {
	c, ok := ctx.Value(clientKey{}).(*ClientContext)
	if !ok || !c.Addr.IsValid() {
		return netip.Addr{}, false
	}
	return c.Addr, true
}
