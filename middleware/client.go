package middleware

import (
	"net/http"
	"net/netip"
	"strings"
)

// WithClientAddress turns client addresses on: Authenticate resolves each
// request's client address (ClientAddr) and hands it to the verifier in the
// context (verifier.WithClient), so that a verifier such as limit.PerClient
// can share its capacity fairly between clients. trustedProxies are the
// networks of the proxies in front (in forward-auth mode, the proxy that
// sends the subrequests): a request from one of them is attributed to the
// right-most address of its X-Forwarded-For that is not itself trusted.
// Behind the Handler it costs no allocation: the address shares the one
// context value the Handler adds to a request with its user. Authenticate
// and ForwardAuth, which attach no user, wrap the context with
// verifier.WithClient: one allocation per request with a token.
//
// Default: off; the verifier sees no client address.
func WithClientAddress(trustedProxies ...netip.Prefix) Option {
	trusted := append([]netip.Prefix(nil), trustedProxies...)
	return func(m *Middleware) {
		m.clientAddrs = true
		m.trusted = trusted
	}
}

// ClientAddr returns the address a request is attributed to: peer, the
// address of the connection's other end, unless peer is a trusted proxy
// (WithClientAddress), in which case it walks the X-Forwarded-For values
// xff from the right and returns the first address that is not a trusted
// proxy. An entry that is not an address stops the walk at the last
// trusted hop, which a client cannot choose; so does an X-Forwarded-For
// made only of trusted hops (its left-most). Every engine uses it, and
// proxy mode sends the result upstream as X-Forwarded-For.
func (m *Middleware) ClientAddr(peer netip.Addr, xff []string) netip.Addr {
	peer = peer.Unmap()
	if !m.isTrusted(peer) {
		return peer
	}
	addr := peer
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			var hop string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				hop, v = v[j+1:], v[:j]
			} else {
				hop, v = v, ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			a, err := netip.ParseAddr(hop)
			if err != nil {
				return addr
			}
			addr = a.Unmap()
			if !m.isTrusted(addr) {
				return addr
			}
		}
	}
	return addr
}

func (m *Middleware) isTrusted(a netip.Addr) bool {
	for _, p := range m.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerOf returns the address of r's peer (http.Request.RemoteAddr); the
// zero Addr when it cannot be read.
func peerOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// HTTPClientAddr is ClientAddr for a net/http request.
func (m *Middleware) HTTPClientAddr(r *http.Request) netip.Addr {
	return m.ClientAddr(peerOf(r), r.Header["X-Forwarded-For"])
}
