package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/verifier"
)

// Tunnels tracks the upgraded connections (WebSocket tunnels) of the data
// path by user, so that they do not outlive their authentication: a tunnel
// is closed when its user is revoked (a Revoke covering its token's issue
// time, whether it came through the webhook, the client's OnRevoke or the
// Redis feed of another replica) and when its token's exp passes. A request
// is authenticated once, when it opens the tunnel; without this, bytes would
// go on flowing for as long as the connection stays up.
//
// It is engine-neutral: an engine calls Open when it starts splicing an
// upgraded connection for an authenticated user, with a function that
// closes that tunnel, and calls the returned release once the tunnel has
// ended. Tunnels is a verifier.Revoker, registered on the gateway's
// revocation chain beside the cache. It is safe for concurrent use.
type Tunnels struct {
	mu     sync.Mutex // guards byUser
	byUser map[string]map[*tunnel]struct{}

	now       func() time.Time
	afterFunc func(time.Duration, func()) (stop func() bool) // time.AfterFunc; tests replace it

	open   prometheus.Gauge
	closed [numTunnelReasons]prometheus.Counter
}

// tunnelReason is why a tunnel was closed.
type tunnelReason uint8

const (
	tunnelRevoked tunnelReason = iota
	tunnelExpired
	numTunnelReasons
)

var tunnelReasonNames = [numTunnelReasons]string{"revoked", "expired"}

type tunnel struct {
	user     string
	issuedAt time.Time // zero: unknown, so any revocation of the user covers it
	close    func()
	once     sync.Once
	stop     func() bool // the expiry timer's
}

var _ verifier.Revoker = (*Tunnels)(nil)

// newTunnels returns a Tunnels on clock now (nil: time.Now) that registers
// its metrics with reg (nil: none).
func newTunnels(now func() time.Time, reg prometheus.Registerer) *Tunnels {
	if now == nil {
		now = time.Now
	}
	ts := &Tunnels{
		byUser: make(map[string]map[*tunnel]struct{}),
		now:    now,
		afterFunc: func(d time.Duration, f func()) func() bool {
			return time.AfterFunc(d, f).Stop
		},
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenguard_tunnels_open",
			Help: "Upgraded connections (WebSocket tunnels) open through the proxy.",
		}),
	}
	closed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenguard_tunnels_closed_total",
		Help: "Upgraded connections (WebSocket tunnels) the gateway closed, by reason: the user was revoked, or the token expired.",
	}, []string{"reason"})
	for i, name := range tunnelReasonNames {
		ts.closed[i] = closed.WithLabelValues(name)
	}
	if reg != nil {
		reg.MustRegister(ts.open, closed)
	}
	return ts
}

// Open registers a tunnel of u, closed by closeTunnel when u is revoked or
// when u.ExpiresAt passes (at once if it has; never if it is zero). The
// caller must call release when the tunnel has ended, however it ended;
// closeTunnel may run concurrently with the tunnel's own end, and runs at
// most once.
func (ts *Tunnels) Open(u *verifier.User, closeTunnel func()) (release func()) {
	t := &tunnel{user: u.ID, issuedAt: u.IssuedAt, close: closeTunnel}
	ts.mu.Lock()
	set := ts.byUser[u.ID]
	if set == nil {
		set = make(map[*tunnel]struct{})
		ts.byUser[u.ID] = set
	}
	set[t] = struct{}{}
	ts.mu.Unlock()
	ts.open.Inc()
	if !u.ExpiresAt.IsZero() {
		t.stop = ts.afterFunc(u.ExpiresAt.Sub(ts.now()), func() { ts.shut(t, tunnelExpired) })
	}
	return func() {
		if t.stop != nil {
			t.stop()
		}
		if ts.remove(t) {
			ts.open.Dec()
		}
	}
}

// Revoke closes every tunnel of userID whose token was issued at or before
// at (a zero at: every one), as the cache refuses those tokens. It never
// fails.
func (ts *Tunnels) Revoke(_ context.Context, userID string, at time.Time) error {
	ts.mu.Lock()
	var doomed []*tunnel
	for t := range ts.byUser[userID] {
		if at.IsZero() || t.issuedAt.IsZero() || !t.issuedAt.After(at) {
			doomed = append(doomed, t)
		}
	}
	ts.mu.Unlock()
	for _, t := range doomed {
		ts.shut(t, tunnelRevoked)
	}
	return nil
}

// shut closes t once, counting why, unless it has already ended.
func (ts *Tunnels) shut(t *tunnel, why tunnelReason) {
	t.once.Do(func() {
		if !ts.tracked(t) {
			return // ended on its own first
		}
		ts.closed[why].Inc()
		t.close()
	})
}

func (ts *Tunnels) tracked(t *tunnel) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	_, ok := ts.byUser[t.user][t]
	return ok
}

// remove forgets t and reports whether it was still tracked.
func (ts *Tunnels) remove(t *tunnel) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	set := ts.byUser[t.user]
	if _, ok := set[t]; !ok {
		return false
	}
	delete(set, t)
	if len(set) == 0 {
		delete(ts.byUser, t.user)
	}
	return true
}

// revokers fans one revocation out to several Revokers, all of them asked
// whatever the others answer; the first error is returned.
type revokers []verifier.Revoker

func (rs revokers) Revoke(ctx context.Context, userID string, at time.Time) error {
	var first error
	for _, r := range rs {
		if err := r.Revoke(ctx, userID, at); err != nil && first == nil {
			first = err
		}
	}
	return first
}
