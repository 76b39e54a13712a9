// Package verifier is the contract every layer of tokenguard shares: a
// Verifier turns a client access token into the *User it was issued to, and
// a Revoker makes a user's earlier tokens refused from now on.
//
// Verifiers stack: the middleware (package middleware) calls one, a cache
// (package cache) is one in front of another, and the App Services client
// (package appservices) is the one that asks the Admin API. None of them
// knows the others; each depends only on this package.
//
// A Verifier answers with a user or with an error to branch on with
// errors.Is:
//
//   - ErrInvalidToken (and ErrMalformedToken, ErrTokenExpired, ErrRevoked,
//     which are ErrInvalidToken too): the token is refused; answer 401, or
//     400 for ErrMalformedToken, whose credential cannot be a token at all.
//   - ErrUnavailable: the token could not be checked (network failure,
//     timeout, upstream 5xx or 429, an answer that cannot be read); answer
//     503, with the delay of a RetryAfterError if the error carries one, and
//     never treat the token as valid.
//
// A request's client address reaches a Verifier in its context
// (WithClient, ClientFromContext), for per-client limits. An HTTP layer may
// carry it in its own context value by embedding a ClientContext, which a
// Verifier may read after Verify has returned (a shared upstream call runs
// detached from its first caller): what a verifier can see of the context
// must be safe to read concurrently.
//
// CheckSyntax is the one syntax check of a token; a Verifier that sends
// tokens anywhere runs it first, so that junk never leaves the process.
package verifier
