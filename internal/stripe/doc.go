// Package stripe provides counters that many goroutines can increment at
// once without writing a shared cache line: each counter is split into
// stripes, each on its own pair of cache lines, an increment adds to one
// stripe, and a read sums them all.
//
// It serves hot paths whose counts are read rarely (a Prometheus scrape):
// one process-wide atomic counter incremented by every request moves its
// cache line between cores on every increment, which serialises them.
package stripe
