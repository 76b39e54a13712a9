package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/tokenguard/tokenguard/middleware"
)

// AccessLog writes one JSON line per data-path request, once it has been
// answered:
//
//	{"time":"2026-12-07T05:01:02.345678Z","method":"GET","path":"/api/items","status":200,
//	 "duration":0.000412,"bytes":512,"outcome":"authenticated","user_id":"6571...","client":"203.0.113.7"}
//
// time is when the request reached the handler (UTC), path is the request
// path as sent, without the query (which may carry a token), duration is in
// seconds, bytes counts the response body, and client is the client address
// as the middleware resolves it (behind trusted proxies, the right-most
// untrusted X-Forwarded-For hop). outcome is the middleware's decision
// (middleware.Kind: authenticated, invalid, missing, malformed, unavailable,
// too_many_requests) or "skipped" for a skip path or CORS preflight, which
// makes none; user_id is there only when authenticated. A token, a cookie or
// any other header value is never written. A response cut short by the
// upstream adds "aborted":true. Requests the HTTP server refuses before the
// handler runs (a malformed request line, a header over its cap) are not
// logged.
//
// Build one with NewAccessLog; the engines write through Begin and the
// AccessEntry it returns, and the Middleware reports its decisions to
// ObserveAccess (middleware.WithObserver).
type AccessLog struct {
	h      slog.Handler
	client func(*http.Request) netip.Addr
}

// NewAccessLog returns an AccessLog writing to w, which it may call from
// many goroutines (one Write per line). client resolves a request's client
// address; nil leaves the field out.
func NewAccessLog(w io.Writer, client func(*http.Request) netip.Addr) *AccessLog {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{} // every line is an access line
			}
			return a
		},
	})
	return &AccessLog{h: h, client: client}
}

// An AccessEntry is the line of one request in the making. The engine
// fills in the answer (Status, Bytes); the Middleware's decision fills in
// the outcome through the request's context.
type AccessEntry struct {
	start        time.Time
	method, path string
	client       netip.Addr
	outcome      string
	userID       string
	Status       int   // the final status sent; 0 until one is
	Bytes        int64 // response body bytes sent
	Aborted      bool  // the response was cut short
}

type accessKey struct{}

// Begin starts the entry of a request with the given method and path (no
// query) and returns it with ctx carrying it, for the Middleware's decision
// to find (ObserveAccess).
func (l *AccessLog) Begin(ctx context.Context, method, path string, client netip.Addr) (context.Context, *AccessEntry) {
	e := &AccessEntry{start: time.Now(), method: method, path: path, client: client, outcome: "skipped"}
	return context.WithValue(ctx, accessKey{}, e), e
}

// ObserveAccess records d in the access entry ctx carries, if any; it is
// the Middleware's observer (middleware.WithObserver) when the access log is
// on.
func ObserveAccess(ctx context.Context, d middleware.Decision) {
	e, _ := ctx.Value(accessKey{}).(*AccessEntry)
	if e == nil {
		return
	}
	e.outcome = d.Kind.String()
	if d.Kind == middleware.KindAuthenticated && d.User != nil {
		e.userID = d.User.ID
	}
}

// End writes e's line.
func (l *AccessLog) End(ctx context.Context, e *AccessEntry) {
	r := slog.NewRecord(e.start.UTC(), slog.LevelInfo, "", 0)
	r.AddAttrs(
		slog.String("method", e.method),
		slog.String("path", e.path),
		slog.Int("status", e.Status),
		slog.Float64("duration", time.Since(e.start).Seconds()),
		slog.Int64("bytes", e.Bytes),
		slog.String("outcome", e.outcome),
	)
	if e.userID != "" {
		r.AddAttrs(slog.String("user_id", e.userID))
	}
	if e.client.IsValid() {
		r.AddAttrs(slog.String("client", e.client.String()))
	}
	if e.Aborted {
		r.AddAttrs(slog.Bool("aborted", true))
	}
	_ = l.h.Handle(ctx, r) // a log that cannot be written must not fail the request
}

// wrap returns h with every request logged (the net/http engine's handler;
// the fasthttp engine logs through fastWatch).
func (l *AccessLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var client netip.Addr
		if l.client != nil {
			client = l.client(r)
		}
		ctx, e := l.Begin(r.Context(), r.Method, r.URL.EscapedPath(), client)
		aw := &accessWriter{ResponseWriter: w, e: e}
		completed := false
		defer func() {
			if !completed {
				e.Aborted = true // the handler panicked (http.ErrAbortHandler): the panic goes on
			}
			if e.Status == 0 {
				e.Status = http.StatusOK // net/http's answer to a handler that wrote nothing
			}
			l.End(ctx, e)
		}()
		h.ServeHTTP(aw, r.WithContext(ctx))
		completed = true
	})
}

// accessWriter counts what a handler sends. Unwrap lets
// http.ResponseController reach the connection beneath (flushes, deadlines,
// hijacking a WebSocket upgrade).
type accessWriter struct {
	http.ResponseWriter
	e *AccessEntry
}

func (w *accessWriter) WriteHeader(status int) {
	// 1xx answers but 101 are interim: the final status comes after.
	if w.e.Status == 0 && (status >= 200 || status == http.StatusSwitchingProtocols) {
		w.e.Status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *accessWriter) Write(p []byte) (int, error) {
	if w.e.Status == 0 {
		w.e.Status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.e.Bytes += int64(n)
	return n, err
}

func (w *accessWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes the connection over, as http.ResponseController does; on the
// data path that is a WebSocket upgrade, whose 101 httputil.ReverseProxy
// then writes on the connection itself.
func (w *accessWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.e.Status == 0 {
		w.e.Status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}
