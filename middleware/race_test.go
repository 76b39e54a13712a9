//go:build race

package middleware

// raceEnabled reports a -race build, whose instrumentation allocates.
const raceEnabled = true
