package verifier_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/tokenguard/tokenguard/verifier"
)

type userKey struct{}

// withUser is an HTTP layer's own context value that embeds a
// ClientContext, so that the client address travels in it.
type withUser struct {
	verifier.ClientContext
	user string
}

func (c *withUser) Value(key any) any {
	if key == (userKey{}) {
		return c.user
	}
	return c.ClientContext.Value(key)
}

func TestClientFromContext(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.7")
	other := netip.MustParseAddr("198.51.100.1")
	bg := context.Background()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want netip.Addr // zero: none
	}{
		{"none", bg, netip.Addr{}},
		{"WithClient", verifier.WithClient(bg, addr), addr},
		{"the last one set wins", verifier.WithClient(verifier.WithClient(bg, other), addr), addr},
		{"an invalid address is none", verifier.WithClient(verifier.WithClient(bg, other), netip.Addr{}), netip.Addr{}},
		{"embedded in another context value", &withUser{ClientContext: verifier.ClientContext{Context: bg, Addr: addr}, user: "u"}, addr},
		{"under a detached context", context.WithoutCancel(verifier.WithClient(bg, addr)), addr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := verifier.ClientFromContext(tc.ctx)
			if ok != tc.want.IsValid() || got != tc.want {
				t.Errorf("ClientFromContext = %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
	c := &withUser{ClientContext: verifier.ClientContext{Context: bg, Addr: addr}, user: "u"}
	if got := c.Value(userKey{}); got != "u" {
		t.Errorf("the embedding context's own value = %v", got)
	}
}
