package reliability

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// soakTruth is the soak's ground truth, checked by the hello upstream
// behind the gateway: every session the emulator opened, and every
// revocation the gateway has confirmed.
type soakTruth struct {
	mu        sync.Mutex           // guards sessions, revokedAt, started, confirmed, first
	sessions  map[string]issued    // session id (iss) -> user, iat
	revokedAt map[string]time.Time // user -> tokens issued at or before are revoked
	started   map[string]time.Time // user -> when the webhook call began
	confirmed map[string]time.Time // user -> when the webhook answered 204
	first     string

	admitted, violations atomic.Int64
}

func newSoakTruth() *soakTruth {
	return &soakTruth{sessions: map[string]issued{}, revokedAt: map[string]time.Time{},
		started: map[string]time.Time{}, confirmed: map[string]time.Time{}}
}

// sentHeader carries the load generator's send time, so that the upstream
// can tell a request sent after a confirmed revocation from one in flight
// when it landed.
const sentHeader = "X-Soak-Sent"

// hello is the upstream: it answers the identity it received, and records a
// violation for any request that arrives without a verified, unrevoked
// identity, with a spoofed one, or with the client's credential.
func (g *soakTruth) hello() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.admitted.Add(1)
		if why := g.check(r); why != "" {
			g.violations.Add(1)
			g.mu.Lock()
			if g.first == "" {
				g.first = why
			}
			g.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"user_id\":%q}\n", r.Header.Get("X-Auth-User-Id"))
	})
}

// gatewayIdentity are the identity headers the gateway sets.
var gatewayIdentity = map[string]bool{
	"X-Auth-User-Id": true, "X-Auth-Session-Id": true, "X-Auth-Domain-Id": true,
	"X-Auth-Device-Id": true, "X-Auth-Expires": true, "X-Auth-User-Data": true,
}

func (g *soakTruth) check(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return "the client's credential reached the upstream"
	}
	for k := range r.Header {
		folded := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(k))
		if strings.HasPrefix(folded, "x-auth-") && !gatewayIdentity[k] {
			return "client identity header reached the upstream: " + k
		}
	}
	uids, sids := r.Header["X-Auth-User-Id"], r.Header["X-Auth-Session-Id"]
	if len(uids) != 1 || len(sids) != 1 {
		return fmt.Sprintf("identity headers %q %q", uids, sids)
	}
	ns, _ := strconv.ParseInt(r.Header.Get(sentHeader), 10, 64)
	sent := time.Unix(0, ns)
	g.mu.Lock()
	defer g.mu.Unlock()
	is, ok := g.sessions[sids[0]]
	switch {
	case !ok:
		return "unknown session " + sids[0]
	case is.user != uids[0]:
		return fmt.Sprintf("session of %s admitted as %s", is.user, uids[0])
	}
	if c, rev := g.confirmed[is.user]; rev && sent.After(c) && !is.iat.After(g.revokedAt[is.user]) {
		return fmt.Sprintf("revoked token of %s admitted %v after the revocation", is.user, sent.Sub(c))
	}
	return ""
}

// mint opens a session for user on the emulator and records it.
func (g *soakTruth) mint(srv *appservicestest.Server, user string) (string, issued, error) {
	tok, err := srv.NewAccessToken(user)
	if err != nil {
		return "", issued{}, err
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		return "", issued{}, err
	}
	is := issued{user: user, iat: c.IssuedAt.Time}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sessions[c.Issuer] = is
	return tok, is, nil
}

// freshClass is the class of a fresh token's request that ran from start
// to end (unix ns): fresh, unless a revocation of its user covers it (a
// fresh token minted before its user's revocation, or in the same second:
// revoked_at is whole seconds). Then it is revoked if sent after the
// gateway confirmed the revocation, and revoking if it overlapped the call.
func (g *soakTruth) freshClass(is issued, start, end int64) uint8 {
	g.mu.Lock()
	defer g.mu.Unlock()
	at, ok := g.revokedAt[is.user]
	switch {
	case !ok || is.iat.After(at):
		return soakFresh
	case !g.confirmed[is.user].IsZero() && start > g.confirmed[is.user].UnixNano():
		return soakRevoked
	case end >= g.started[is.user].UnixNano():
		return soakRevoking
	}
	return soakFresh
}

// Soak request classes.
const (
	soakHot      = iota // a token the gateway has seen, of a user not revoked
	soakFresh           // a new session's token
	soakForged          // badly signed
	soakJunk            // not a JWT
	soakRevoked         // issued before its user's (confirmed) revocation
	soakRevoking        // a token whose user's revocation raced it: 200 or 401
	numSoakClasses
)

var soakClassNames = [numSoakClasses]string{"hot", "fresh", "forged", "junk", "revoked", "revoking"}

// hotToken is a token in the hot pool. revoking is set (unix ns) when its
// user's revocation starts.
type hotToken struct {
	user, tok string
	revoking  atomic.Int64
}

// soakRecord is one request of the load.
type soakRecord struct {
	class      uint8
	status     int // 0: transport error
	start, end int64
	tok        *hotToken // hot requests only
	fresh      issued    // fresh requests only
}

// soakLoad generates the mixed load and keeps the pools.
type soakLoad struct {
	srv    *appservicestest.Server
	truth  *soakTruth
	target string // http://listen/
	hc     *http.Client

	mu      sync.Mutex // guards hot, revoked, users, records
	hot     []*hotToken
	revoked []string
	users   []string
	records []soakRecord
}

// pick chooses a request: 65% hot, 10% fresh, 10% forged, 7% junk, 8%
// revoked (hot while none is). One request in ten also carries spoofed
// identity headers.
func (l *soakLoad) pick() (rec soakRecord, tok string, err error) {
	l.mu.Lock()
	p := rand.IntN(100)
	switch {
	case p >= 92 && len(l.revoked) > 0:
		tok = l.revoked[rand.IntN(len(l.revoked))]
		l.mu.Unlock()
		return soakRecord{class: soakRevoked}, tok, nil
	case p >= 85 && p < 92:
		l.mu.Unlock()
		return soakRecord{class: soakJunk}, "junk-" + randHex(20), nil
	case p >= 75 && p < 85:
		u := l.users[rand.IntN(len(l.users))]
		l.mu.Unlock()
		return soakRecord{class: soakForged}, forged(u, time.Now()), nil
	case p >= 65 && p < 75:
		u := l.users[rand.IntN(len(l.users))]
		l.mu.Unlock()
		rec = soakRecord{class: soakFresh}
		tok, rec.fresh, err = l.truth.mint(l.srv, u)
		return rec, tok, err
	}
	h := l.hot[rand.IntN(len(l.hot))]
	l.mu.Unlock()
	return soakRecord{class: soakHot, tok: h}, h.tok, nil
}

// one sends one request and records it.
func (l *soakLoad) one(ctx context.Context) error {
	rec, tok, err := l.pick()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.target+"hello", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if rand.IntN(10) == 0 {
		req.Header.Set("X-Auth-User-Id", l.users[0])
		req.Header.Set("x_auth_session_id", "spoofed")
	}
	start := time.Now()
	req.Header.Set(sentHeader, strconv.FormatInt(start.UnixNano(), 10))
	rec.start = start.UnixNano()
	resp, err := l.hc.Do(req)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil // the load ended while it was in flight: not an answer
	case err == nil:
		var buf [512]byte
		for {
			if _, err := resp.Body.Read(buf[:]); err != nil {
				break
			}
		}
		resp.Body.Close()
		rec.status = resp.StatusCode
	}
	rec.end = time.Now().UnixNano()
	l.mu.Lock()
	l.records = append(l.records, rec)
	l.mu.Unlock()
	return nil
}

// revokeOne takes a hot user out of the pool, revokes it through the
// gateway's webhook, and once confirmed adds its token to the revoked pool.
func (l *soakLoad) revokeOne(adminURL string, secret []byte) error {
	l.mu.Lock()
	if len(l.hot) <= 1 {
		l.mu.Unlock()
		return nil
	}
	i := rand.IntN(len(l.hot))
	h := l.hot[i]
	l.hot = append(l.hot[:i:i], l.hot[i+1:]...)
	l.mu.Unlock()

	now := time.Now()
	h.revoking.Store(now.UnixNano())
	at := time.Unix(now.Unix(), 0)
	l.truth.mu.Lock()
	l.truth.revokedAt[h.user] = at // before the gateway knows: never behind it
	l.truth.started[h.user] = now
	l.truth.mu.Unlock()
	body := fmt.Appendf(nil, `{"user_id":%q,"revoked_at":%d}`, h.user, at.Unix())
	req, err := http.NewRequest(http.MethodPost, adminURL+"/revoke", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(middleware.SignatureHeader, middleware.SignWebhook(secret, body, time.Now()))
	resp, err := plainClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("revoke webhook: status %d", resp.StatusCode)
	}
	l.truth.mu.Lock()
	l.truth.confirmed[h.user] = time.Now()
	l.truth.mu.Unlock()
	l.mu.Lock()
	l.revoked = append(l.revoked, h.tok)
	l.mu.Unlock()
	return nil
}
