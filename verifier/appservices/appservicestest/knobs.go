package appservicestest

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// SetLatency changes the delay applied to every Admin API call: fixed plus a
// uniformly random duration in [0, jitter). Zero values remove it.
func (s *Server) SetLatency(fixed, jitter time.Duration) {
	s.latency.Store(int64(fixed))
	s.jitter.Store(int64(jitter))
}

// delay waits out the configured latency. It reports false if ctx ended
// first (the client gave up or the server stopped).
func (s *Server) delay(ctx context.Context) bool {
	d := time.Duration(s.latency.Load())
	if j := s.jitter.Load(); j > 0 {
		d += time.Duration(rand.Int64N(j))
	}
	return sleepCtx(ctx, d)
}

// sleepCtx waits for d or until ctx is done, whichever is first, and reports
// whether the full duration passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Calls returns how many requests reached endpoint e, including those that
// were failed by a fault, delayed or blocked. Unknown endpoints count 0.
func (s *Server) Calls(e Endpoint) int64 {
	if c, ok := s.calls[e]; ok {
		return c.Load()
	}
	return 0
}

// Block makes verify_token calls wait, before they are handled, until release
// is called or their request context ends (client cancellation, Stop, Close).
// release may be called more than once. A second Block before release shares
// the same gate.
func (s *Server) Block() (release func()) {
	return s.gate.block()
}

// WaitBlocked returns once at least n verify_token calls are waiting behind
// Block, or with ctx's error when ctx ends first.
func (s *Server) WaitBlocked(ctx context.Context, n int) error {
	return s.gate.waitFor(ctx, n)
}

// gate holds verify_token calls while blocked.
type gate struct {
	mu      sync.Mutex    // guards closed, release, waiting, changed
	closed  chan struct{} // non-nil while blocked; closed by release
	release func()        // closes closed, once
	waiting int
	changed chan struct{} // closed and replaced whenever waiting changes
}

func (g *gate) init() { g.changed = make(chan struct{}) }

func (g *gate) block() func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed == nil {
		ch := make(chan struct{})
		g.closed = ch
		g.release = sync.OnceFunc(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.closed == ch {
				g.closed = nil
			}
			close(ch)
		})
	}
	return g.release
}

// wait holds the caller while the gate is blocked and reports false if ctx
// ended first.
func (g *gate) wait(ctx context.Context) bool {
	g.mu.Lock()
	ch := g.closed
	if ch == nil {
		g.mu.Unlock()
		return true
	}
	g.add(1)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.add(-1)
		g.mu.Unlock()
	}()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// add changes waiting and wakes WaitBlocked callers; g.mu must be held.
func (g *gate) add(d int) {
	g.waiting += d
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *gate) waitFor(ctx context.Context, n int) error {
	for {
		g.mu.Lock()
		w, ch := g.waiting, g.changed
		g.mu.Unlock()
		if w >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
