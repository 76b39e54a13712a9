package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tokenguard/tokenguard/middleware"
)

// isUpgradeFast is isUpgrade over a fasthttp request header: one Upgrade
// header whose value is "websocket" (any case) and a Connection token
// "upgrade".
func isUpgradeFast(h *fasthttp.RequestHeader) bool {
	up := h.PeekAll("Upgrade")
	if len(up) != 1 || !strings.EqualFold(strings.Trim(b2s(up[0]), " \t"), "websocket") {
		return false
	}
	for _, v := range h.PeekAll("Connection") {
		for name := range strings.SplitSeq(b2s(v), ",") {
			if strings.EqualFold(strings.Trim(name, " \t"), "upgrade") {
				return true
			}
		}
	}
	return false
}

// upgradeTimeout bounds dialling the upstream and reading its answer to an
// upgrade; once tunnelled, the connection has no deadline.
const upgradeTimeout = 30 * time.Second

// serveUpgrade tunnels a WebSocket upgrade: the request goes upstream on a
// connection of its own, under outRequest's rules (and Connection: Upgrade,
// Upgrade: websocket, which ReverseProxy keeps too); a 101 is relayed and
// both connections are spliced once fasthttp hands the client's over
// (RequestCtx.Hijack). A tunnel of an authenticated user is registered
// with Tunnels, which closes it on revocation or expiry. Any other answer
// is relayed as it is.
//
// It reports whether a non-101 answer streams (relay), which then finishes
// o; a 101 is finished by the caller as answered.
func (p *fastProxy) serveUpgrade(fc *fasthttp.RequestCtx, c *fastCall, d *middleware.Decision, peer netip.Addr, o fastObs) bool {
	start := time.Now()
	authenticated := d.User != nil
	up, err := p.dialUpgrade()
	if err != nil {
		p.upgradeFailed(fc, err, authenticated, start)
		return false
	}
	out := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(out)
	p.outRequest(out, &fc.Request, c, d, peer, fc.IsTLS())
	out.URI().DisablePathNormalizing = true
	out.Header.Set("Connection", "Upgrade")
	out.Header.Set("Upgrade", "websocket")
	_ = up.SetDeadline(time.Now().Add(upgradeTimeout))
	bw := bufio.NewWriter(up)
	br := bufio.NewReader(up)
	resp := fasthttp.AcquireResponse()
	if err = out.Write(bw); err == nil {
		if err = bw.Flush(); err == nil {
			err = resp.Header.Read(br)
		}
	}
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		_ = up.Close()
		p.upgradeFailed(fc, err, authenticated, start)
		return false
	}
	status := resp.StatusCode()
	if status != fasthttp.StatusSwitchingProtocols {
		err = resp.ReadBody(br, 1<<20)
		_ = up.Close()
		if err != nil {
			fasthttp.ReleaseResponse(resp)
			p.upgradeFailed(fc, err, authenticated, start)
			return false
		}
		return p.relay(fc, resp, authenticated, start, o) // releases resp
	}
	defer fasthttp.ReleaseResponse(resp)
	_ = up.SetDeadline(time.Time{})
	rh := &fc.Response.Header
	copyFastResponseHeader(rh, &resp.Header)
	rh.Set("Connection", "Upgrade")
	rh.Set("Upgrade", "websocket")
	fc.SetStatusCode(fasthttp.StatusSwitchingProtocols)
	p.metrics.Observe(authenticated, status, time.Since(start))
	// The 101 is written by the hijack handler, not the server: with
	// HijackSetNoResponse the handler always runs (fasthttp skips it after
	// writing a response on a closing or shutting-down connection), so up
	// is never left open.
	head := append([]byte(nil), fc.Response.Header.Header()...)
	fc.HijackSetNoResponse(true)
	user := d.User
	fc.Hijack(func(client net.Conn) {
		closeBoth := func() {
			_ = client.Close()
			_ = up.Close()
		}
		if _, err := client.Write(head); err != nil {
			closeBoth()
			return
		}
		if user != nil && p.tunnels != nil {
			// A tunnel closed by Tunnels is forgotten (the open gauge
			// down) before its connections close, so that whoever sees
			// them close sees it counted.
			var forget func()
			var once sync.Once
			release := func() { once.Do(forget) }
			opened := make(chan struct{})
			forget = p.tunnels.Open(user, func() {
				<-opened
				release()
				closeBoth()
			})
			close(opened)
			defer release()
		}
		splice(client, up, br)
		closeBoth()
	})
	return false
}

// splice copies client to up and up (read through br, which may hold bytes
// already read) to client until either direction ends, then closes both
// and waits for the other copy.
func splice(client, up net.Conn, br *bufio.Reader) {
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, client)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, br)
		done <- struct{}{}
	}()
	<-done
	_ = client.Close()
	_ = up.Close()
	<-done
}

// dialUpgrade opens a connection of its own to the upstream, for a tunnel.
func (p *fastProxy) dialUpgrade() (net.Conn, error) {
	d := &net.Dialer{Timeout: upgradeTimeout, KeepAlive: 30 * time.Second}
	c, err := d.Dial("tcp", p.addr)
	if err != nil || p.upTLS == nil {
		return c, err
	}
	tc := tls.Client(c, p.upTLS)
	ctx, cancel := context.WithTimeout(context.Background(), upgradeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return tc, nil
}

// upgradeFailed answers an upgrade the upstream did not: 502.
func (p *fastProxy) upgradeFailed(fc *fasthttp.RequestCtx, err error, authenticated bool, start time.Time) {
	p.log.LogAttrs(context.Background(), slog.LevelWarn, "tokenguard: upstream unreachable",
		slog.String("method", string(fc.Method())), slog.String("path", string(fc.Path())),
		slog.String("error", err.Error()))
	fastJSONError(fc, fasthttp.StatusBadGateway, badGatewayBody)
	p.metrics.Observe(authenticated, 0, time.Since(start))
}
