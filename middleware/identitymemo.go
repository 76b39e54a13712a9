package middleware

import (
	"sync/atomic"
	"unsafe"

	"github.com/tokenguard/tokenguard/verifier"
)

// identityMemoBits sizes the identity memo: 1<<12 = 4096 slots, 32 KiB of
// pointers per Middleware with identity headers on.
const identityMemoBits = 12

// identityMemo remembers the identity headers of recently seen users, so
// that a cache hit, which hands every request the same *verifier.User,
// does not format the expiry and encode the custom data again each time.
//
// It is a direct-mapped table indexed by the user's address: lock-free,
// bounded, and each slot is replaced whole, never modified. A slot holds its
// *User, which keeps that User alive, so no other User can take its address
// while the slot refers to it and a hit (slot.user == u) is exact. A *User
// is read-only (see verifier.Verifier), so its headers never change; a
// verifier that returns a fresh *User per call only ever misses, which costs
// what no memo would, plus the slot.
type identityMemo struct {
	slots [1 << identityMemoBits]atomic.Pointer[identitySlot]
}

// identitySlot is one memoized user. headers is read-only: it is handed out
// as Decision.Identity to every request of that user.
type identitySlot struct {
	user    *verifier.User
	headers []Header
}

// get returns u's identity headers, shared and read-only, computing them
// with compute and remembering them on a miss.
func (t *identityMemo) get(u *verifier.User, compute func(*verifier.User) []Header) []Header {
	slot := &t.slots[memoIndex(u)]
	if s := slot.Load(); s != nil && s.user == u {
		return s.headers
	}
	hs := compute(u)
	hs = hs[:len(hs):len(hs)] // an append by a caller copies, never writes into it
	slot.Store(&identitySlot{user: u, headers: hs})
	return hs
}

// memoIndex hashes u's address to a slot (Fibonacci hashing: the top bits
// of the product, which every bit of the address reaches). The address is
// only hashed, never turned back into a pointer.
func memoIndex(u *verifier.User) uint64 {
	p := uint64(uintptr(unsafe.Pointer(u)))
	return (p * 0x9E3779B97F4A7C15) >> (64 - identityMemoBits)
}
