package cache

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tokenguard/tokenguard/verifier"
)

// Cache is a verifier.Verifier that remembers the answers of another one.
// It is safe for concurrent use. The *verifier.User it returns for a cached
// token is shared by every caller and must not be modified.
type Cache struct {
	next  verifier.Verifier
	opts  Options
	clock clock
	keys  keyer

	pos *table // verified tokens, indexed by user
	neg *table // refused tokens; nil when NegativeTTL < 0

	revs *revocations
	// gen changes on every Purge. An upstream answer is stored only if gen
	// has not changed since its call began, so an answer that raced a Purge
	// is never written back. Revoke does not move it: a revocation is
	// checked per user when an answer is stored (storePositive).
	gen atomic.Uint64

	flights flights
	sem     chan struct{} // MaxInflight slots

	m      *metrics     // nil: no metrics
	tracer trace.Tracer // nil: no tracing

	// Test hooks, nil outside tests: a caller has joined (or started) the
	// flight for its token; a flight is about to wait for a MaxInflight slot;
	// a flight's fetch has returned.
	testHookJoined  func()
	testHookSemWait func()
	testHookFetched func()
}

var (
	_ verifier.Verifier = (*Cache)(nil)
	_ verifier.Revoker  = (*Cache)(nil)
)

// New returns a Cache in front of next, configured by opts (see Options for
// the defaults). It panics if next is nil or an option is invalid.
func New(next verifier.Verifier, opts Options) *Cache {
	if next == nil {
		panic("cache: nil verifier")
	}
	opts = opts.withDefaults()
	c := &Cache{
		next:  next,
		opts:  opts,
		clock: newClock(opts.Now),
		keys:  newKeyer(),
		pos:   newTable(opts.Size, true),
		revs:  newRevocations(opts.MaxRevocations, opts.MaxTokenLifetime+opts.ClockSkew),
		sem:   make(chan struct{}, opts.MaxInflight),
	}
	if opts.NegativeTTL > 0 {
		c.neg = newTable(opts.NegativeSize, false)
	}
	c.m = newMetrics(opts.Registerer, c)
	if opts.TracerProvider != nil {
		c.tracer = opts.TracerProvider.Tracer(tracerName)
	}
	return c
}

// Verify returns the user token was issued to, from the cache when it holds
// a fresh answer, else from the upstream Verifier through the miss path:
// negative cache, local pre-check (verifier.CheckSyntax, then the JWT's
// shape, type and expiry), revocation memory, then one shared upstream call
// per token (see the package documentation). The lookup comes first and a
// hit answers at once: only tokens that passed every check of the miss path
// are ever stored, so a hit has nothing left to check.
//
// Errors satisfy errors.Is with verifier.ErrInvalidToken (refused, cached or
// not; verifier.ErrMalformedToken, verifier.ErrTokenExpired and
// verifier.ErrRevoked are kinds of it),
// verifier.ErrUnavailable (the upstream could not answer), or ctx's error
// when the caller's context ended first; an upstream error of any other
// kind is passed on wrapped, and must be taken as a failure. A token that is
// empty or longer than 64 KiB is refused before it is hashed.
func (c *Cache) Verify(ctx context.Context, token string) (*verifier.User, error) {
	if len(token) == 0 || len(token) > maxTokenLen {
		return c.refuseUnhashed(token)
	}
	k := c.keys.key(token)
	now := c.clock.mono()
	s := c.pos.shard(k)
	if e, fresh := s.lookup(k, now); fresh {
		if c.m != nil {
			c.m.lookups.Add(lookupHit, 1)
		}
		if c.tracer != nil {
			event(ctx, EventHit)
		}
		return e.user, nil
	}
	return c.verifyMiss(ctx, token, k, now)
}

// Purge drops every cached answer, verified or refused. Revocations are
// kept: forgetting them would let revoked tokens in again. Answers of
// upstream calls in flight are not stored.
func (c *Cache) Purge() {
	c.gen.Add(1)
	c.pos.purge()
	if c.neg != nil {
		c.neg.purge()
	}
}

// clock reads the time both as wall time, for token claims, and as
// nanoseconds since the Cache was made, for entry deadlines. With the real
// clock the latter is monotonic and costs one clock read (time.Since).
type clock struct {
	now  func() time.Time // nil: time.Now
	base time.Time
}

func newClock(now func() time.Time) clock {
	if now == nil {
		return clock{base: time.Now()}
	}
	return clock{now: now, base: now()}
}

func (c *clock) mono() int64 {
	if c.now == nil {
		return int64(time.Since(c.base))
	}
	return int64(c.now().Sub(c.base))
}

func (c *clock) read() (wall time.Time, mono int64) {
	if c.now == nil {
		wall = time.Now()
	} else {
		wall = c.now()
	}
	return wall, int64(wall.Sub(c.base))
}
