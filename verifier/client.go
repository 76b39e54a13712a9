package verifier

import (
	"context"
	"net/netip"
)

// clientCtx is a context that carries the client address of a request. One
// small struct instead of context.WithValue plus a boxed netip.Addr: a
// single allocation per request.
type clientCtx struct {
	context.Context
	addr netip.Addr
}

// clientKey is the private key clientCtx answers Value for.
type clientKey struct{}

func (c *clientCtx) Value(key any) any {
	if key == (clientKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// WithClient returns a copy of ctx that carries addr, the address of the
// client a verification is made for. An HTTP layer sets it (package
// middleware resolves it from the peer and trusted proxies), so that a
// verifier below can share its capacity fairly between clients.
func WithClient(ctx context.Context, addr netip.Addr) context.Context {
	return &clientCtx{Context: ctx, addr: addr}
}

// ClientFromContext returns the client address WithClient stored in ctx,
// and whether there is a valid one.
func ClientFromContext(ctx context.Context) (netip.Addr, bool) {
	c, ok := ctx.Value(clientKey{}).(*clientCtx)
	if !ok || !c.addr.IsValid() {
		return netip.Addr{}, false
	}
	return c.addr, true
}
