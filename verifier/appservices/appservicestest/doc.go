// Package appservicestest provides an in-memory emulator of the MongoDB Atlas
// App Services APIs that tokenguard uses, for tests, benchmarks and demos.
//
// A Server is shaped like httptest.Server: NewServer starts it on a loopback
// port, URL is its base, Client returns a client for it and Close shuts it
// down, leaving no goroutine behind. It serves
//
//   - the Admin API under /api/admin/v3.0: admin login, refresh, logout and
//     profile with an API key pair; the 12 Users operations of
//     /groups/{groupId}/apps/{appId}, verify_token included; the pending
//     users' send_confirm, confirm and run_confirm; and server API keys;
//   - the client API under /api/client/v2.0 as the Realm SDKs (realm-web,
//     realm-core) call it: the app's location, login with local-userpass,
//     anon-user and api-key (recording the SDK's device), the user's profile,
//     session refresh and logout, self-deletion, and the email/password
//     provider's register, confirm and reset operations, confirmed at once,
//     by the token of a confirmation email or by a confirmation function
//     (WithConfirmation, WithConfirmationFunction, WithResetFunction,
//     WithMailer).
//
// Answers follow the App Services documentation, the Admin API's OpenAPI
// spec and the SDKs' sources (status codes, JSON field names, error bodies
// {"error","error_code"}, also for routes it does not serve); where the
// sources disagree or are silent, the code says which answer the emulator
// gives and whether it was observed or assumed. Access tokens are HS256
// JWTs with the service's claim names; verify_token checks signature and
// expiry, answers 200 with the JSON string "token expired" for expired
// tokens and, like the real service, keeps accepting tokens whose session
// was revoked or whose user was disabled until they expire, unless
// WithStrictRevocation is set.
//
// Tests drive the server directly (AddUser, LoginUser, NewAccessToken, Sign),
// move its clock (Now, Advance) and inject trouble: latency (SetLatency),
// failures (FailNext, FailFraction with a Fault: status codes, connection
// resets, stalls, slow or malformed or oversized bodies), verify calls held
// at a gate (Block, WaitBlocked), expired admin sessions
// (ExpireAdminSessions) and a stopped listener (Stop, Restart). Calls counts
// requests per Endpoint.
//
// The server is safe for concurrent use and cheap enough for load benchmarks:
// verify_token parses the tokens with a shared parser, starts no goroutine
// and takes only read locks.
package appservicestest
