package stripe

import (
	"sync"
	"testing"
	"unsafe"
)

func TestCellFillsTwoLines(t *testing.T) {
	if s := unsafe.Sizeof(cell{}); s != 128 {
		t.Fatalf("cell is %d bytes, want 128", s)
	}
}

// Concurrent increments from many goroutines, on every counter, sum exactly.
func TestConcurrentAddsSumExactly(t *testing.T) {
	c := New()
	const goroutines, perGoroutine = 32, 5000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for j := range perGoroutine {
				c.Add((g+j)%Width, uint64(1+(g+j)%Width))
			}
		})
	}
	wg.Wait()
	var want [Width]uint64
	for g := range goroutines {
		for j := range perGoroutine {
			want[(g+j)%Width] += uint64(1 + (g+j)%Width)
		}
	}
	for i := range Width {
		if got := c.Load(i); got != want[i] {
			t.Errorf("counter %d = %d, want %d", i, got, want[i])
		}
	}
}

// Goroutines spread over the stripes: 64 goroutines alive at once do not
// all land on one.
func TestGoroutinesSpread(t *testing.T) {
	c := New()
	var ready, done sync.WaitGroup
	release := make(chan struct{})
	for range 64 {
		ready.Add(1)
		done.Go(func() {
			c.Add(0, 1)
			ready.Done()
			<-release // keep this stack alive while the others add
		})
	}
	ready.Wait()
	close(release)
	done.Wait()
	used := 0
	for j := range c.cells {
		if c.cells[j].n[0].Load() != 0 {
			used++
		}
	}
	if used < 16 {
		t.Errorf("64 live goroutines used %d of %d stripes", used, len(c.cells))
	}
}

func TestAddDoesNotAllocate(t *testing.T) {
	c := New()
	if n := testing.AllocsPerRun(100, func() { c.Add(3, 1) }); n != 0 {
		t.Errorf("Add: %v allocs, want 0", n)
	}
}

func BenchmarkAddParallel(b *testing.B) {
	c := New()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(0, 1)
		}
	})
}
