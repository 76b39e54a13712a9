//go:build race

package gateway

// raceEnabled reports a -race build, whose instrumentation allocates.
const raceEnabled = true
