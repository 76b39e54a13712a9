package stripe

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Width is how many counters one Counters holds.
const Width = 8

// minStripes is the fewest stripes a Counters has. Two goroutines running at
// once on different cores share a stripe with probability 1/stripes.
const minStripes = 64

// cell is one stripe: Width counters on one 64-byte line, padded to 128 bytes
// (the unit of the adjacent-line prefetcher) so that no two stripes share a
// line or a prefetched pair.
type cell struct {
	n [Width]atomic.Uint64
	_ [128 - Width*8]byte
}

// Counters is a set of Width counters, striped. The zero Counters is not
// usable; make one with New. It is safe for concurrent use.
type Counters struct {
	cells []cell
	bits  uint // len(cells) == 1<<bits
}

// New returns a Counters, all zero, with at least 64 stripes and at least
// 8 per CPU.
func New() *Counters {
	bits := uint(0)
	for 1<<bits < max(minStripes, 8*runtime.NumCPU()) {
		bits++
	}
	return &Counters{cells: make([]cell, 1<<bits), bits: bits}
}

// Add adds delta to counter i (0 <= i < Width).
//
// The stripe is chosen by the address of the calling goroutine's stack:
// goroutines running at the same time have distinct stacks, so they spread
// over the stripes (Fibonacci hashing of the address), and one goroutine
// keeps its stripe from call to call while its stack stays in place. It
// costs a multiply and a shift; no runtime internals are used.
func (c *Counters) Add(i int, delta uint64) {
	var anchor byte
	p := uint64(uintptr(unsafe.Pointer(&anchor)))
	c.cells[(p*0x9E3779B97F4A7C15)>>(64-c.bits)].n[i].Add(delta)
}

// Load returns the sum of counter i over every stripe. Concurrent Adds may
// or may not be included; an Add that returned before Load began is.
func (c *Counters) Load(i int) uint64 {
	var n uint64
	for j := range c.cells {
		n += c.cells[j].n[i].Load()
	}
	return n
}
