package appservices

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/verifier"
)

const (
	// adminTokenLifetime is how long App Services keeps an admin access
	// token valid; it is assumed when the token carries no usable exp.
	adminTokenLifetime = 30 * time.Minute

	// unboundedFlightTimeout bounds a shared login or refresh when
	// Config.Timeout is negative: one stalled flight would otherwise hold up
	// every later caller of the Client for good.
	unboundedFlightTimeout = time.Minute
)

// adminSession holds the admin tokens and the login or refresh under way.
type adminSession struct {
	mu      sync.Mutex // guards access, refresh, expiry, flight
	access  string     // admin access token; "" when none is usable
	refresh string     // admin refresh token; "" when none
	expiry  time.Time  // when access expires, by Config.Now
	flight  *flight    // the login or refresh under way; nil when none

	// joined, if not nil, is called each time a caller starts waiting on a
	// flight. Tests use it to know that every caller is waiting.
	joined func()
}

// flight is one login or refresh shared by every caller that needs it. It
// runs on its own context, so each caller can leave on its own ctx without
// cancelling it for the others (the go-oidc RemoteKeySet inflight pattern).
type flight struct {
	done   chan struct{} // closed once access and err are set
	access string
	err    error
}

// Login makes sure the Client holds a valid admin session, logging in with
// the API key pair (or refreshing the session) if it does not. A gateway can
// call it at start-up to fail fast on bad credentials, and as a readiness
// check. Every other method logs in on demand, so calling Login is optional.
//
// The error, if any, satisfies errors.Is(err, verifier.ErrUnavailable); an *APIError
// with the Admin API's answer can be had with errors.As.
func (c *Client) Login(ctx context.Context) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	if _, err := c.adminToken(ctx, ""); err != nil {
		return &unavailableError{op: "admin session", err: err}
	}
	return nil
}

// adminToken returns an admin access token to send. stale, when not empty,
// is a token the Admin API just refused with 401 InvalidSession: it is
// dropped, and a fresh one is waited for unless another caller already
// replaced it.
//
// A token within Config.RefreshMargin of its expiry is still returned while a
// refresh runs in the background, so callers only wait when no usable token
// is left. Concurrent callers share one flight; a caller whose ctx ends
// stops waiting and gets ctx.Err(), and the flight goes on for the others.
func (c *Client) adminToken(ctx context.Context, stale string) (string, error) {
	s := &c.sess
	s.mu.Lock()
	if stale != "" && s.access == stale {
		s.access = ""
	}
	if s.access != "" {
		now := c.now()
		if now.Before(s.expiry.Add(-c.margin)) {
			tok := s.access
			s.mu.Unlock()
			return tok, nil
		}
		if now.Before(s.expiry) {
			if s.flight == nil {
				c.startFlight(ctx)
			}
			tok := s.access
			s.mu.Unlock()
			return tok, nil
		}
	}
	f := s.flight
	if f == nil {
		f = c.startFlight(ctx)
	}
	joined := s.joined
	s.mu.Unlock()

	if joined != nil {
		joined()
	}
	select {
	case <-f.done:
		return f.access, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// startFlight starts renewing the session. c.sess.mu must be held.
func (c *Client) startFlight(ctx context.Context) *flight {
	f := &flight{done: make(chan struct{})}
	c.sess.flight = f
	// Keep ctx's values (tracing), not its cancellation or deadline.
	go c.renew(context.WithoutCancel(ctx), f, c.sess.refresh)
	return f
}

// renew refreshes the session with refreshToken, or logs in afresh when there
// is none or the refresh fails, and completes f.
func (c *Client) renew(ctx context.Context, f *flight, refreshToken string) {
	limit := c.timeout
	if limit <= 0 {
		limit = unboundedFlightTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	var t adminTokens
	err := errors.New("no refresh token")
	if refreshToken != "" {
		t, err = c.refreshAdmin(ctx, refreshToken)
	}
	if err != nil {
		t, err = c.loginAdmin(ctx)
	}

	s := &c.sess
	s.mu.Lock()
	if err == nil {
		s.access, s.refresh, s.expiry = t.access, t.refresh, t.expiry
	}
	s.flight = nil
	f.access, f.err = t.access, err
	s.mu.Unlock()
	close(f.done)
}

// adminTokens is the outcome of a login or refresh.
type adminTokens struct {
	access, refresh string
	expiry          time.Time
}

// loginAdmin logs in with the API key pair:
// POST /auth/providers/mongodb-cloud/login -> 200 {access_token, refresh_token, ...}.
func (c *Client) loginAdmin(ctx context.Context) (adminTokens, error) {
	body, err := json.Marshal(struct {
		Username string `json:"username"`
		APIKey   string `json:"apiKey"`
	}{c.publicKey, c.privateKey})
	if err != nil {
		return adminTokens{}, &sessionError{op: "login", err: err}
	}
	sent := c.now()
	resp, err := c.roundTrip(ctx, http.MethodPost, c.adminURL+"/auth/providers/mongodb-cloud/login", "", body)
	if err != nil {
		return adminTokens{}, &sessionError{op: "login", err: err}
	}
	if resp.status != http.StatusOK {
		return adminTokens{}, &sessionError{op: "login", err: resp.apiError(c.now())}
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return adminTokens{}, &sessionError{op: "login", err: err}
	}
	if out.AccessToken == "" {
		return adminTokens{}, &sessionError{op: "login", err: errors.New("answer has no access_token")}
	}
	return adminTokens{out.AccessToken, out.RefreshToken, c.expiryOf(out.AccessToken, sent)}, nil
}

// refreshAdmin renews the access token: POST /auth/session with the refresh
// token as Bearer and no body -> 201 {access_token} (200 is accepted too).
func (c *Client) refreshAdmin(ctx context.Context, refreshToken string) (adminTokens, error) {
	sent := c.now()
	resp, err := c.roundTrip(ctx, http.MethodPost, c.adminURL+"/auth/session", refreshToken, nil)
	if err != nil {
		return adminTokens{}, &sessionError{op: "refresh", err: err}
	}
	if resp.status != http.StatusCreated && resp.status != http.StatusOK {
		return adminTokens{}, &sessionError{op: "refresh", err: resp.apiError(c.now())}
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return adminTokens{}, &sessionError{op: "refresh", err: err}
	}
	if out.AccessToken == "" {
		return adminTokens{}, &sessionError{op: "refresh", err: errors.New("answer has no access_token")}
	}
	return adminTokens{out.AccessToken, refreshToken, c.expiryOf(out.AccessToken, sent)}, nil
}

// expiryOf returns when an admin access token obtained by a request sent at
// sent (by Config.Now) expires. If the token is a JWT with exp and iat, its
// lifetime exp-iat is counted from sent, which is immune to clock skew
// between App Services and this host; with exp alone, exp is used unless it
// is already past. Otherwise the documented 30 minutes are assumed. The
// token's signature is not checked: only App Services can, and it does on
// every call.
func (c *Client) expiryOf(token string, sent time.Time) time.Time {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err == nil && claims.ExpiresAt != nil {
		exp := claims.ExpiresAt.Time
		if claims.IssuedAt != nil && exp.After(claims.IssuedAt.Time) {
			return sent.Add(exp.Sub(claims.IssuedAt.Time))
		}
		if exp.After(sent) {
			return exp
		}
	}
	return sent.Add(adminTokenLifetime)
}

// sessionError reports a failed admin login or refresh. It is verifier.ErrUnavailable
// and lets errors.Is and errors.As see its cause, with one exception: a
// refused login (a 401 *APIError) is never mistaken for a refused user token,
// so errors.Is(err, verifier.ErrInvalidToken) is false.
type sessionError struct {
	op  string // "login" or "refresh"
	err error
}

func (e *sessionError) Error() string { return "admin " + e.op + " failed: " + e.err.Error() }
func (e *sessionError) Unwrap() error { return verifier.ErrUnavailable }

func (e *sessionError) Is(target error) bool {
	return !errors.Is(target, verifier.ErrInvalidToken) && errors.Is(e.err, target)
}

func (e *sessionError) As(target any) bool { return errors.As(e.err, target) }
