package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// rejectKind is the refusal a negative entry repeats.
type rejectKind uint8

const (
	kindInvalid rejectKind = iota
	kindExpired
	kindRevoked
)

// negativeErrs are the errors of negative hits, fixed so that a negative
// hit allocates nothing.
var negativeErrs = [...]error{
	kindInvalid: fmt.Errorf("cache: token refused (cached answer): %w", verifier.ErrInvalidToken),
	kindExpired: fmt.Errorf("cache: token expired (cached answer): %w", verifier.ErrTokenExpired),
	kindRevoked: fmt.Errorf("cache: token revoked (cached answer): %w", verifier.ErrRevoked),
}

var (
	errNoSlot  = fmt.Errorf("cache: no upstream slot free within VerifyTimeout (MaxInflight): %w", verifier.ErrUnavailable)
	errNilUser = fmt.Errorf("cache: upstream returned neither user nor error: %w", verifier.ErrUnavailable)
	// errAbandoned ends a call every caller left; no caller sees it.
	errAbandoned = fmt.Errorf("cache: verification abandoned by every caller: %w", verifier.ErrUnavailable)
)

// abandoned reports whether the flight's context was cancelled because
// every caller left (not ended by VerifyTimeout).
func abandoned(ctx context.Context) bool { return errors.Is(ctx.Err(), context.Canceled) }

func kindOf(err error) rejectKind {
	switch {
	case errors.Is(err, verifier.ErrRevoked):
		return kindRevoked
	case errors.Is(err, verifier.ErrTokenExpired):
		return kindExpired
	}
	return kindInvalid
}

// maxLife caps entry lifetimes so deadline arithmetic cannot overflow.
const maxLife = 100 * 365 * 24 * time.Hour

// flight is the value a shared upstream call hands to its callers.
type flight struct {
	user  *verifier.User
	iat   time.Time // the token's issue time, for the callers' revocation re-check
	stale bool
}

// verifyMiss answers a token the positive table could not: from the
// negative table, or through resolve.
func (c *Cache) verifyMiss(ctx context.Context, token string, k key128, now int64) (*verifier.User, error) {
	if c.neg != nil {
		s := c.neg.shard(k)
		if e, fresh := s.lookup(k, now); fresh {
			if c.m != nil {
				c.m.lookups.Add(lookupNegativeHit, 1)
			}
			if c.tracer != nil {
				event(ctx, EventNegativeHit)
			}
			return nil, negativeErrs[e.kind]
		}
	}
	u, stale, err := c.resolve(ctx, token, k)
	if stale {
		c.m.stale()
		if c.tracer != nil {
			event(ctx, EventStale)
		}
	} else {
		c.m.miss()
	}
	return u, err
}

// refuseUnhashed refuses a token too short or too long to be worth hashing.
func (c *Cache) refuseUnhashed(token string) (*verifier.User, error) {
	c.m.miss()
	c.m.rejected(reasonMalformed)
	if token == "" {
		return nil, errEmpty
	}
	return nil, errTooLong
}

// resolve pre-checks token, then joins (or starts) the one upstream call for
// it and waits for its answer or for ctx, whichever comes first.
func (c *Cache) resolve(ctx context.Context, token string, k key128) (*verifier.User, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("cache: %w", err)
	}
	wall, _ := c.clock.read()
	cl, r, err := precheck(token, wall, c.opts.ClockSkew)
	if err != nil {
		c.m.rejected(r)
		return nil, false, err
	}
	if err := c.revs.denies(cl.sub, cl.iat); err != nil {
		// The claims are unverified, but refusing on them is safe: a forger
		// can only get its own token refused.
		c.m.rejected(reasonRevoked)
		return nil, false, err
	}
	fl, started := c.flights.join(ctx, token, func(fctx context.Context) (flight, error) {
		f, err := c.fetch(fctx, token, k, cl)
		if c.testHookFetched != nil {
			c.testHookFetched()
		}
		return f, err
	})
	if c.testHookJoined != nil {
		c.testHookJoined()
	}
	select {
	case <-fl.done:
		if !started {
			c.m.sharedFlight()
			if c.tracer != nil {
				event(ctx, EventShared)
			}
		}
		if fl.err != nil {
			return nil, false, fl.err
		}
		f := fl.val
		// A Revoke may have landed after the call's own check; a caller that
		// gets its answer after Revoke returned must see it.
		if err := c.revs.denies(f.user.ID, f.iat); err != nil {
			c.m.rejected(reasonRevoked)
			return nil, false, err
		}
		return f.user, f.stale, nil
	case <-ctx.Done():
		c.flights.leave(token, fl) // the last caller to leave cancels the call
		return nil, false, fmt.Errorf("cache: waiting for verification: %w", ctx.Err())
	}
}

// fetch is the shared upstream call for one token. ctx is the flight's
// (see flights): detached from the caller that started it, so that no one
// caller's cancellation fails the others, and cancelled once every caller
// has left. fetch bounds it by VerifyTimeout.
func (c *Cache) fetch(ctx context.Context, token string, k key128, cl claims) (flight, error) {
	gen := c.gen.Load() // before the call: a Purge from now on blocks the store
	if ok, f, err := c.settled(k, cl); ok {
		return f, err
	}
	ctx, span := c.startVerify(ctx)
	ctx, cancel := context.WithTimeout(ctx, c.opts.VerifyTimeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
	default:
		if c.testHookSemWait != nil {
			c.testHookSemWait()
		}
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			if abandoned(ctx) {
				span.done(c.m, outcomeAbandoned, -1)
				return flight{}, errAbandoned
			}
			span.done(c.m, outcomeUnavailable, -1)
			return c.serveStale(k, cl, errNoSlot)
		}
	}
	start := time.Now()
	u, err := c.callNext(ctx, token)
	<-c.sem
	elapsed := time.Since(start)

	invalid := errors.Is(err, verifier.ErrInvalidToken)
	unavailable := errors.Is(err, verifier.ErrUnavailable)
	switch {
	case err == nil && u != nil:
		span.done(c.m, outcomeValid, elapsed)
		return c.accept(u, k, cl, gen)
	case err == nil:
		span.done(c.m, outcomeUnavailable, elapsed)
		return c.serveStale(k, cl, errNilUser)
	case invalid && !unavailable:
		span.done(c.m, outcomeInvalid, elapsed)
		c.storeNegative(k, kindOf(err))
		return flight{}, fmt.Errorf("cache: upstream: %w", err)
	case abandoned(ctx):
		// Every caller left and the call was cancelled: nobody reads this
		// failure, and it says nothing about the token or the upstream.
		span.done(c.m, outcomeAbandoned, elapsed)
		return flight{}, errAbandoned
	case unavailable || ctx.Err() != nil:
		span.done(c.m, outcomeUnavailable, elapsed)
		if !unavailable { // our VerifyTimeout ended the call
			err = fmt.Errorf("cache: upstream: %w: %w", verifier.ErrUnavailable, err)
		} else {
			err = fmt.Errorf("cache: upstream: %w", err)
		}
		return c.serveStale(k, cl, err)
	default:
		// An error of no known kind (or of both): never cached, never
		// papered over with a stale answer.
		span.done(c.m, outcomeUnavailable, elapsed)
		return flight{}, fmt.Errorf("cache: upstream: %w", err)
	}
}

// callNext asks the upstream verifier about token. A panic in it becomes an
// error of the unavailable kind that carries the panic's value and stack:
// left alone, it would be raised on the flight's own goroutine, where no
// recover can reach it, and end the process with every request in flight.
// The callers of this flight get 503s; the next request for the token asks
// again.
func (c *Cache) callNext(ctx context.Context, token string) (u *verifier.User, err error) {
	defer func() {
		if v := recover(); v != nil {
			u, err = nil, &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return c.next.Verify(ctx, token)
}

// panicError is the error of an upstream verifier that panicked.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("cache: upstream verifier panicked: %v\n%s", e.value, e.stack)
}

// Unwrap makes a panic count as the upstream being unavailable: fail closed,
// and never log the user out.
func (e *panicError) Unwrap() error { return verifier.ErrUnavailable }

// settled answers from the tables when an earlier flight for the same token
// stored its answer after this caller missed them but before it started this
// flight: without it, a stampede that straddles the end of a flight makes a
// second upstream call. The check is cheap next to that call.
func (c *Cache) settled(k key128, cl claims) (ok bool, res flight, err error) {
	now := c.clock.mono()
	if e, fresh := c.pos.shard(k).lookup(k, now); fresh {
		iat := e.user.IssuedAt
		if iat.IsZero() {
			iat = cl.iat
		}
		return true, flight{user: e.user, iat: iat}, nil
	}
	if c.neg != nil {
		if e, fresh := c.neg.shard(k).lookup(k, now); fresh {
			return true, flight{}, negativeErrs[e.kind]
		}
	}
	return false, flight{}, nil
}

// accept checks a verified user against the revocation memory and stores it.
func (c *Cache) accept(u *verifier.User, k key128, cl claims, gen uint64) (flight, error) {
	iat := u.IssuedAt
	if iat.IsZero() {
		iat = cl.iat
	}
	if err := c.revs.denies(u.ID, iat); err != nil {
		c.m.rejected(reasonRevoked)
		c.storeNegative(k, kindRevoked)
		return flight{}, err
	}
	exp := cl.exp // authentic now that the upstream accepted the token
	if !u.ExpiresAt.IsZero() && u.ExpiresAt.Before(exp) {
		exp = u.ExpiresAt
	}
	c.storePositive(k, u, iat, exp, gen)
	return flight{user: u, iat: iat}, nil
}

// storePositive caches u (whose token was issued at iat) for
// min(TTL, exp - ClockSkew - now), unless a Purge happened since gen was read
// or a revocation of u's user now covers iat.
//
// The revocation is checked under the shard's lock: Revoke records the
// revocation before it drops the user's entries shard by shard, so either
// this check sees the revocation, or the entry is in place before Revoke
// takes this shard's lock and is dropped there. A revocation of another user
// does not stop the store; only Purge is global.
func (c *Cache) storePositive(k key128, u *verifier.User, iat, exp time.Time, gen uint64) {
	wall, now := c.clock.read()
	life := min(exp.Add(-c.opts.ClockSkew).Sub(wall), maxLife)
	if life <= 0 {
		return // about to expire: answered, not cached
	}
	ttl := min(c.opts.TTL, life)
	dead := life
	if c.opts.StaleIfError < life-ttl {
		dead = ttl + c.opts.StaleIfError
	}
	e := &entry{user: u, key: k, expires: now + int64(ttl), deadAt: now + int64(dead)}
	s := c.pos.shard(k)
	s.mu.Lock()
	if c.gen.Load() == gen && c.revs.denies(u.ID, iat) == nil {
		s.put(e, now)
	}
	s.mu.Unlock()
}

// storeNegative caches a refusal and drops any verified entry for the same
// token, so that it cannot be served stale later.
func (c *Cache) storeNegative(k key128, kind rejectKind) {
	c.pos.shard(k).remove(k)
	if c.neg == nil {
		return
	}
	now := c.clock.mono()
	ttl := int64(min(c.opts.NegativeTTL, maxLife))
	e := &entry{key: k, kind: kind, expires: now + ttl, deadAt: now + ttl}
	s := c.neg.shard(k)
	s.mu.Lock()
	s.put(e, now)
	s.mu.Unlock()
}

// serveStale answers from a lapsed entry when StaleIfError allows, else
// returns err.
func (c *Cache) serveStale(k key128, cl claims, err error) (flight, error) {
	if c.opts.StaleIfError <= 0 {
		return flight{}, err
	}
	now := c.clock.mono()
	e := c.pos.shard(k).peek(k)
	if e == nil || now >= e.deadAt {
		return flight{}, err
	}
	iat := e.user.IssuedAt
	if iat.IsZero() {
		iat = cl.iat
	}
	return flight{user: e.user, iat: iat, stale: now >= e.expires}, nil
}
