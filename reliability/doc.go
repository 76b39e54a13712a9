// Package reliability is tokenguard's reliability and security suite. It
// holds no library code: its tests drive the real packages together, over
// loopback HTTP, and check that the request path fails closed, recovers,
// and leaks nothing.
//
// # What runs with go test (make test)
//
//   - TestFaultMatrix: the whole chain, an httptest server running
//     middleware.New(cache.New(verifier client)) in front of a handler that
//     checks every admitted request against the ground truth (the emulator
//     issued the token to that user, the user exists, the token was issued
//     after any revocation of the user), over an appservicestest emulator. The
//     emulator, the client and the cache share one fake clock, so cache TTLs
//     and stale windows are crossed without sleeping. For each fault (500,
//     502, 503, 429 with Retry-After, connection reset, connection refused,
//     a stall past the cache's VerifyTimeout, a slow-drip body past the
//     client's Timeout, malformed JSON, an oversized body, the admin session
//     expiring mid-load, admin login failing, refresh and login failing,
//     refresh failing with login working) it sends a mix of cached, fresh,
//     forged (badly signed), junk and revoked tokens in three phases (within
//     the TTL, inside the stale window, past it), heals the fault and sends
//     the mix again. Every answer is checked against the status its class
//     must get, 503s against their Retry-After, stale answers are counted,
//     and each fault ends with no goroutine left (goleak) and the heap back
//     at its baseline. The matrix is printed with t.Log, and written to the
//     file named by $TOKENGUARD_MATRIX_OUT when set.
//   - TestFirstCallerCancelled, TestRevokeRacingInflight,
//     TestPurgeDuringLoad: the cache's concurrency contract under -race,
//     with upstream calls held at the emulator's gate (Block, WaitBlocked)
//     and callers known to be waiting through their context's Done.
//   - TestJunkFlood: 200,000 distinct junk tokens against a warm cache of
//     1,000 users: upstream calls only for the badly signed ones, the
//     negative table within its bound, no hot user evicted.
//   - TestFuzzCorpora: every Fuzz target in the module has a seed corpus
//     under its package's testdata/fuzz, where crashers become regression
//     tests.
//   - TestGroundTruthCatchesAnOpenDoor: the ground-truth check itself
//     catches each kind of wrongly admitted request.
//
// # Soak (make soak; not in CI)
//
// With -soak, TestFaultMatrix sends 48 tokens of each class per phase, four
// times over, instead of 4 once, and TestSoak builds cmd/tokenguard, starts `tokenguard proxy` as a
// process on loopback ports in front of a hello upstream that checks the
// identity headers it receives against the ground truth, and loads it for
// -soak-duration (default 5m) at up to 200 requests a second: hot, fresh,
// forged, junk and revoked tokens, some with spoofed identity headers. It
// revokes a user through the signed webhook every 10 s, expires the admin
// session every 30 s, and stops the emulator for 20 s in the middle. Every
// 30 s it prints requests, answers, stale answers, the process's RSS (from
// /proc) and goroutines (go_goroutines from the admin /metrics); at the end,
// a summary by token class inside and outside the outage. It fails on any
// admitted unverified request, any 5xx outside the outage, any answer its
// class must not get, a non-zero exit on SIGTERM, or a token in the log.
//
// Test binary flags go after the package:
//
//	go test -race -count=1 -timeout 20m -run 'TestSoak|TestFaultMatrix' ./reliability/ -soak
//	go test -race -count=1 -run TestSoak ./reliability/ -soak -soak-duration=45s
package reliability
