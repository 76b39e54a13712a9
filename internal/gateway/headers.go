package gateway

import (
	"net/http"
	"net/textproto"
	"strings"
)

// isHopByHop reports whether the canonical header name k is hop-by-hop
// (RFC 9110 section 7.6.1, plus the de facto Keep-Alive and Proxy-*).
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return strings.HasPrefix(k, "Proxy-")
}

// copyHeader adds src's end-to-end headers to dst: hop-by-hop ones and the
// ones src's Connection header names are left out. Values are shared, not
// copied: neither side modifies them.
func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		if !isHopByHop(k) {
			dst[k] = vv
		}
	}
	dropListed(dst, src["Connection"])
}

// copyRequestHeader is copyHeader for a request going upstream, which also
// leaves out what dropForwarded drops, in the same pass.
func copyRequestHeader(dst, src http.Header) {
	for k, vv := range src {
		if !dropsRequestHeader(k) {
			dst[k] = vv
		}
	}
	dropListed(dst, src["Connection"])
}

// dropsRequestHeader reports whether the canonical header name k is one the
// proxy never forwards as the client sent it: hop-by-hop (isHopByHop), a
// forwarding header (isForwarded: the proxy sets its own) or a URL-override
// or client-identity header (isOverride, unless KeepClientHeaders names it).
// It is the one list both engines apply.
func dropsRequestHeader(k string) bool {
	return isHopByHop(k) || isForwarded(k) || isOverride(k)
}

// listedToken reports whether a Connection token (trimmed) names no header
// to drop: empty, or keep-alive, close or upgrade, which name hop-by-hop
// headers or none.
func listedToken(name string) bool {
	return name != "" && !strings.EqualFold(name, "keep-alive") && !strings.EqualFold(name, "close") &&
		!strings.EqualFold(name, "upgrade")
}

// dropListed deletes from h the headers named in the Connection values
// conn. The usual tokens (keep-alive, close, upgrade) name hop-by-hop
// headers or none, and are passed over without allocating.
func dropListed(h http.Header, conn []string) {
	for _, v := range conn {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = textproto.TrimString(name); listedToken(name) {
				delete(h, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
}

// sanitizeConnection removes from h's Connection header every name that
// p.protected holds (an identity header, whatever its case), so that no hop
// can be told to drop it. It allocates only when there is one to remove.
func (p *proxy) sanitizeConnection(h http.Header) {
	conn := h["Connection"]
	if len(conn) == 0 || p.protected == nil || !p.namesProtected(conn) {
		return
	}
	var kept []string
	for _, v := range conn {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = textproto.TrimString(name); name != "" && !p.protected(name) {
				kept = append(kept, name)
			}
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}

// namesProtected reports whether the Connection values conn name a
// protected header.
func (p *proxy) namesProtected(conn []string) bool {
	for _, v := range conn {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if p.protected(textproto.TrimString(name)) {
				return true
			}
		}
	}
	return false
}

// dropForwarded deletes the headers by which a client could tell the
// upstream who it is or how it came (isForwarded). The proxy sets its own.
func dropForwarded(h http.Header) {
	for k := range h {
		if isForwarded(k) || isOverride(k) {
			delete(h, k)
		}
	}
}

// isForwarded reports whether the canonical header name k is Forwarded,
// X-Real-Ip or an X-Forwarded-* header.
func isForwarded(k string) bool {
	return k == "Forwarded" || k == "X-Real-Ip" || strings.HasPrefix(k, "X-Forwarded-")
}

// isUpgrade reports whether the request asks to switch to WebSocket
// (Connection: Upgrade with one Upgrade header whose value is "websocket",
// in any case), the one protocol switch the proxy carries out. Any other
// Upgrade (h2c, TLS/1.0, an unknown protocol) is not honoured: the request
// is proxied as plain HTTP/1.1, Upgrade and Connection being hop-by-hop and
// dropped, and the upstream answers it as if it had not been asked, as RFC
// 9110 section 7.8 lets a server do.
func isUpgrade(h http.Header) bool {
	up := h["Upgrade"]
	if len(up) != 1 || !strings.EqualFold(textproto.TrimString(up[0]), "websocket") {
		return false
	}
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(name), "upgrade") {
				return true
			}
		}
	}
	return false
}

// isOverride reports whether the canonical header name k is one by which a
// client could tell the upstream another URL than the one authenticated
// (X-Original-URL and kin, which Symfony and some IIS rewrite set-ups route
// on: a skip path would otherwise reach any route) or another client
// identity (True-Client-IP, X-Remote-User and kin). Proxy mode drops them,
// but for those Config.KeepClientHeaders names.
func isOverride(k string) bool {
	switch k {
	case "X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "X-Envoy-Original-Path",
		"True-Client-Ip", "Client-Ip", "X-Client-Ip", "X-Cluster-Client-Ip", "X-Remote-User", "Remote-User":
		return true
	}
	return false
}
