package cache

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// revocations remembers, per user, the latest time at or before which that
// user's tokens were revoked, for as long as such a token could still be
// valid (at + MaxTokenLifetime + ClockSkew).
//
// It holds at most max users. When a revocation is forgotten, because it
// aged out or because the memory is full, its time is folded into floor:
// every token issued at or before floor is refused, whoever it belongs to.
// Folding an aged-out revocation changes nothing for tokens that honour
// MaxTokenLifetime (they have all expired); folding one out of a full memory
// fails closed: users whose tokens predate the oldest remembered revocation
// must present fresher tokens, but no revoked token is ever accepted again.
type revocations struct {
	mu       sync.RWMutex // guards byUser, order, floor, hasFloor
	byUser   map[string]*revocation
	order    revHeap // byUser's values, oldest at first
	floor    time.Time
	hasFloor bool

	max  int
	keep time.Duration
}

type revocation struct {
	user  string
	at    time.Time
	index int // in order
}

func newRevocations(max int, keep time.Duration) *revocations {
	return &revocations{byUser: make(map[string]*revocation), max: max, keep: keep}
}

// add records that user's tokens issued at or before at are revoked, then
// forgets what has aged out and what exceeds the bound. now is the wall
// clock.
func (r *revocations) add(user string, at, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.byUser[user]; ok {
		if at.After(v.at) {
			v.at = at
			heap.Fix(&r.order, v.index)
		}
	} else {
		v := &revocation{user: user, at: at}
		heap.Push(&r.order, v)
		r.byUser[user] = v
	}
	for len(r.order) > 0 && r.order[0].at.Add(r.keep).Before(now) {
		r.fold()
	}
	for len(r.order) > r.max {
		r.fold()
	}
}

// fold forgets the oldest revocation, raising the floor to its time.
// Callers hold r.mu.
func (r *revocations) fold() {
	v := heap.Pop(&r.order).(*revocation)
	delete(r.byUser, v.user)
	if !r.hasFloor || v.at.After(r.floor) {
		r.floor, r.hasFloor = v.at, true
	}
}

// denies reports whether a token of user issued at iat must be refused, and
// the error to refuse it with.
func (r *revocations) denies(user string, iat time.Time) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.hasFloor && !iat.After(r.floor) {
		return errBelowFloor
	}
	if v, ok := r.byUser[user]; ok && !iat.After(v.at) {
		return errRevoked
	}
	return nil
}

// revHeap is a min-heap of revocations by time.
type revHeap []*revocation

func (h revHeap) Len() int           { return len(h) }
func (h revHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h revHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *revHeap) Push(x any) {
	v := x.(*revocation)
	v.index = len(*h)
	*h = append(*h, v)
}
func (h *revHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return v
}

// Revoke drops every cached entry of userID and refuses, from now on, each
// of its tokens issued at or before at (verifier.User.IssuedAt <= at) with
// verifier.ErrRevoked, even while the upstream still accepts it, as App
// Services does until the token expires. A zero at means now. It makes the
// Cache a verifier.Revoker: register it with the App Services client
// (appservices.Client.OnRevoke) or hand it to the revoke webhook. It works in
// memory and never fails; the error is always nil, and ctx is not used.
//
// An upstream verification of one of userID's tokens already in flight when
// Revoke is called does not store its answer if the token is covered, and
// its callers get ErrRevoked. Flights of other users, and tokens of userID
// issued after at, are not affected: a revocation (or a replayed one) costs
// no other user a cache entry.
// The revocation is remembered for Options.MaxTokenLifetime +
// Options.ClockSkew after at; the memory holds Options.MaxRevocations users,
// and forgetting one (by age or because the memory is full) raises a
// watermark below which tokens of every user are refused (fail closed).
// Purge does not forget revocations.
func (c *Cache) Revoke(_ context.Context, userID string, at time.Time) error {
	wall, _ := c.clock.read()
	if at.IsZero() {
		at = wall
	}
	// Order matters: remember first, so that an answer checked from now on
	// is refused, and so that a store that takes its shard's lock from now
	// on sees the revocation (storePositive checks it under that lock); then
	// drop what is stored (each shard's lock orders this after any store
	// that checked before the revocation was remembered).
	c.revs.add(userID, at, wall)
	c.pos.dropUser(userID)
	c.m.revoked()
	return nil
}
