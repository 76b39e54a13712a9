// Package limit shares a verifier's capacity fairly between clients.
//
// PerClient wraps a verifier.Verifier and caps the verifications in progress
// at once for each client address, which an HTTP layer puts in the context
// with verifier.WithClient (package middleware does, from the peer and the
// trusted proxies). A client over its cap gets verifier.ErrTooManyRequests at
// once, so that a flood of forged tokens from one address, each of which
// costs an upstream call, cannot take every slot of a bounded upstream (the
// cache's MaxInflight) from everyone else.
//
// It belongs below the cache (cache -> limit -> upstream client): a hit never
// reaches it, and a shared flight counts once, against the client that
// started it. With the cache off it sits below the pre-check.
package limit
