package cache

import (
	"context"
	"sync"
)

// flights deduplicates the upstream calls for one token, like
// golang.org/x/sync/singleflight, and in one more way: it counts the callers
// waiting for each call, and cancels a call when the last of them has left.
// A call nobody waits for would otherwise hold its MaxInflight slot (and an
// upstream connection) until VerifyTimeout, and fire-and-forget clients with
// forged tokens could fill every slot with a few sockets.
//
// The call runs on a context detached from the caller that started it
// (context.WithoutCancel keeps its values, not its cancellation), so that
// caller leaving cancels nothing while another still waits.
type flights struct {
	mu sync.Mutex // guards m and every call's waiters
	m  map[string]*call
}

// call is one upstream call in progress or done.
type call struct {
	done    chan struct{} // closed once val and err are set
	val     flight
	err     error
	waiters int // callers that joined and have not left; guarded by flights.mu
	cancel  context.CancelFunc
}

// join returns the call in flight for key, or starts fn as a new one on a
// context detached from ctx. started reports whether this caller started it.
// The caller must either receive from the call's done channel or call leave.
func (g *flights) join(ctx context.Context, key string, fn func(context.Context) (flight, error)) (c *call, started bool) {
	g.mu.Lock()
	if c := g.m[key]; c != nil {
		c.waiters++
		g.mu.Unlock()
		return c, false
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c = &call{done: make(chan struct{}), waiters: 1, cancel: cancel}
	if g.m == nil {
		g.m = make(map[string]*call)
	}
	g.m[key] = c
	g.mu.Unlock()
	go func() {
		defer cancel()
		v, err := fn(fctx)
		g.mu.Lock()
		if g.m[key] == c {
			delete(g.m, key)
		}
		g.mu.Unlock()
		c.val, c.err = v, err
		close(c.done)
	}()
	return c, true
}

// leave records that a caller of c stopped waiting. The last one to leave
// cancels the call and takes it out of the group, so that a caller arriving
// later starts a fresh call instead of joining a cancelled one.
func (g *flights) leave(key string, c *call) {
	g.mu.Lock()
	c.waiters--
	abandoned := c.waiters == 0
	if abandoned && g.m[key] == c {
		delete(g.m, key)
	}
	g.mu.Unlock()
	if abandoned {
		c.cancel()
	}
}
