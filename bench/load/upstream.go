package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Identity headers tokenguard sets (with its default --identity-prefix) and
// the nginx configs forward from the auth subrequest.
const (
	headerUserID    = "X-Auth-User-Id"
	headerSessionID = "X-Auth-Session-Id"
	headerSent      = "X-Bench-Sent" // set by wrkScript's stamp mode
)

// helloUpstream is the application behind every system: it answers a small
// JSON echo of the identity it received, counts what reaches it, and during
// the revoke scenario counts admitted requests of users revoked earlier.
type helloUpstream struct {
	srv *http.Server
	URL string // http://127.0.0.1:port

	requests  atomic.Int64 // every request
	anonymous atomic.Int64 // requests without an identity header
	withToken atomic.Int64 // requests that still carried an Authorization header

	tracking atomic.Bool
	mu       sync.RWMutex         // guards revoked
	revoked  map[string]time.Time // user id -> when its revoke webhook returned
	admitted atomic.Int64         // requests of a revoked user sent after its revoke returned
	maxLagNS atomic.Int64         // the latest such arrival, relative to the revoke
	inflight atomic.Int64         // sent before the revoke returned, arrived after it
}

func startUpstream() (*helloUpstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &helloUpstream{URL: "http://" + ln.Addr().String()}
	u.srv = &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

func (u *helloUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	uid := r.Header.Get(headerUserID)
	if uid == "" {
		u.anonymous.Add(1)
	}
	if r.Header.Get("Authorization") != "" {
		u.withToken.Add(1)
	}
	if uid != "" && u.tracking.Load() {
		sent, _ := strconv.ParseInt(r.Header.Get(headerSent), 10, 64)
		u.checkRevoked(uid, time.Now(), sent)
	}
	w.Header().Set("Content-Type", "application/json")
	body := make([]byte, 0, 96)
	body = append(body, `{"hello":"world","user_id":`...)
	body = strconv.AppendQuote(body, uid)
	body = append(body, "}\n"...)
	_, _ = w.Write(body)
}

// checkRevoked counts a request of uid that arrived at now and was sent at
// sentNS (Unix nanoseconds; 0 if unknown, then the arrival decides). A
// request sent after uid's revoke returned cannot have been authenticated
// before it: admitting it is a failure. One sent before and arriving after
// was in flight, already authenticated, when the revoke came.
func (u *helloUpstream) checkRevoked(uid string, now time.Time, sentNS int64) {
	u.mu.RLock()
	at, ok := u.revoked[uid]
	u.mu.RUnlock()
	if !ok || !now.After(at) {
		return
	}
	if sentNS > 0 && sentNS <= at.UnixNano() {
		u.inflight.Add(1)
		return
	}
	u.admitted.Add(1)
	lag := int64(now.Sub(at))
	for {
		cur := u.maxLagNS.Load()
		if lag <= cur || u.maxLagNS.CompareAndSwap(cur, lag) {
			return
		}
	}
}

// counters is a snapshot of the upstream's counters.
type counters struct {
	Requests, Anonymous, WithToken int64
}

func (u *helloUpstream) snapshot() counters {
	return counters{u.requests.Load(), u.anonymous.Load(), u.withToken.Load()}
}

func (c counters) sub(o counters) counters {
	return counters{c.Requests - o.Requests, c.Anonymous - o.Anonymous, c.WithToken - o.WithToken}
}

// startTracking clears the revoked set and starts counting.
func (u *helloUpstream) startTracking() {
	u.mu.Lock()
	u.revoked = make(map[string]time.Time)
	u.mu.Unlock()
	u.admitted.Store(0)
	u.inflight.Store(0)
	u.maxLagNS.Store(0)
	u.tracking.Store(true)
}

// markRevoked records that uid's revocation took effect at at.
func (u *helloUpstream) markRevoked(uid string, at time.Time) {
	u.mu.Lock()
	u.revoked[uid] = at
	u.mu.Unlock()
}

// revokeCounts is what the upstream saw of revoked users during tracking.
type revokeCounts struct {
	Admitted int64         // sent after the user's revoke returned, and admitted
	MaxLag   time.Duration // the latest of those, after the revoke
	InFlight int64         // sent before the revoke returned, arrived after
}

// stopTracking ends counting and returns the counts.
func (u *helloUpstream) stopTracking() revokeCounts {
	u.tracking.Store(false)
	return revokeCounts{u.admitted.Load(), time.Duration(u.maxLagNS.Load()), u.inflight.Load()}
}

func (u *helloUpstream) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := u.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		_ = u.srv.Close()
	}
	_ = u.srv.Close()
}
