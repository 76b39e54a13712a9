package gateway

import "time"

// Defaults of the listener limits (Config.ReadHeaderTimeout,
// Config.BodyIdleTimeout, Config.MaxHeaderBytes).
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyIdleTimeout   = 30 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
)

// Limits bound how a request may arrive on every listener, data and admin,
// whatever the engine. A refused request's body is never read (the
// middleware answers at once and closes the connection when body bytes are
// owed), so these bound what an authenticated request, or a request the
// admin listener reads, may cost.
type Limits struct {
	// ReadHeaderTimeout bounds the arrival of a request's line and header,
	// from its first byte (slowloris).
	ReadHeaderTimeout time.Duration
	// BodyIdleTimeout bounds, on the data listener, each wait for more of
	// an authenticated request's body: every read of it that brings bytes
	// grants another BodyIdleTimeout, so a long upload that keeps moving
	// goes through and one that stalls is cut. On the admin listener, whose
	// bodies are small, it bounds the whole body.
	BodyIdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and header; a request over it
	// is answered 431.
	MaxHeaderBytes int
}
