// Package replicas shares revocations among the replicas of a gateway
// through Redis, so that a revoke sent to one replica bites on all of them
// and survives restarts.
//
// A Feed wraps the replica's local verifier.Revoker (its cache) and is a
// verifier.Revoker itself. Revoke is durable first, then pushed:
//
//  1. one Lua script, atomic in Redis, raises the user's entry in a sorted
//     set (member: the user id; score: the revocation time in Unix
//     milliseconds; ZADD GT, so a later time never shrinks), drops entries
//     that no token can still need, and publishes the revocation on a
//     channel every replica subscribes to;
//  2. the revocation is applied locally.
//
// When Redis cannot be reached, Revoke still applies the revocation locally
// and returns an error wrapping verifier.ErrUnavailable: the caller (the
// revoke webhook) answers 503 so that the sender retries, since the other
// replicas do not know yet.
//
// Pub/sub is at-most-once: a replica that is disconnected when a message is
// published never gets it. So Run, on every connection, subscribes first and
// only then reads the whole sorted set and applies every entry (a resync):
// whatever was published while the replica was away is in the set. A
// message of an unknown version, or one that cannot be decoded, is logged
// and triggers a resync instead of being dropped silently. While Redis is
// unreachable Run retries with exponential backoff and says so: the
// tokenguard_revocation_feed_up gauge is 0 and a warning is logged.
//
// Ready reports whether the set was loaded at least once since the Feed
// started: a replica that never loaded it knows no revocation at all and
// must not serve. A later outage does not clear it: the replica keeps
// serving with the revocations it has (and those made through it), which is
// better than refusing everyone.
//
// # Keys, channel and messages (version 1)
//
// With the default KeyPrefix "tokenguard:":
//
//	tokenguard:revocations:v1          sorted set: user id -> revoked-at, Unix ms
//	tokenguard:revocations:v1:events   pub/sub channel
//
// Each message is one JSON object:
//
//	{"v":1,"user_id":"...","revoked_at_ms":1765000000000,"published_at_ms":1765000000003,"origin":"<replica>"}
//
// A replica applies every message, its own included (revocation is
// idempotent). Entries are removed once MaxTokenLifetime + Margin has
// passed since their time: no token issued before then can still be valid.
// A later release that changes the format uses new key names and a new
// version, and keeps reading version 1 for one release, so that replicas of
// two adjacent releases interoperate during a rolling deploy.
package replicas
