//go:build !race

package bench

// raceEnabled reports a -race build, whose instrumentation allocates.
const raceEnabled = false
