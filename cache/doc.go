// Package cache puts a bounded, revocation-aware cache in front of a
// verifier.Verifier, so that most requests are authenticated without a
// call to App Services.
//
//	c := cache.New(client, cache.Options{Registerer: prometheus.DefaultRegisterer})
//	user, err := c.Verify(ctx, token)
//
// A *Cache is itself a verifier.Verifier: it stacks, and the middleware takes
// it where it takes the client. Options documents every knob and its
// default; the zero Options is a sensible production configuration.
//
// # The request path
//
// Verify on a token the cache holds (a hit) hashes the token, looks the key
// up in its shard's read index and, if the entry is not yet marked
// referenced, marks it. It takes no lock and allocates nothing (see Shared
// writes on a hit, below). Anything else is a miss:
//
//  1. the negative table: a token the upstream refused within NegativeTTL
//     is refused again, with the same kind of error;
//  2. the pre-check: a token that is not a well-formed JWT, is not an
//     access token (typ present and not "access") or expired ClockSkew ago
//     is refused locally (verifier.ErrInvalidToken or
//     verifier.ErrTokenExpired) without a network call. The signature cannot
//     be checked here (App Services holds the key), so the upstream remains
//     the judge of every token that passes. Pre-check refusals are not
//     cached: they are cheap to repeat, and caching them would let junk
//     crowd out the refusals that cost an upstream call;
//  3. the revocation memory (see Revocation), on the token's own claims;
//  4. one upstream call per token, shared by every concurrent caller (a
//     singleflight that counts its waiters). The call runs detached from
//     the caller that started it (context.WithoutCancel) under
//     VerifyTimeout, after taking one of MaxInflight slots; each caller
//     waits for it or for its own context, so one caller giving up fails
//     no other. When the last caller has given up, the call is cancelled
//     and its slot freed, so clients that hang up (forged tokens sent
//     fire-and-forget, say) cannot keep slots from the callers still
//     waiting; the cost is that a client that retries after its own
//     timeout starts a fresh call instead of finding the old one's answer. A valid answer is checked against the revocation memory
//     again and stored; an ErrInvalidToken answer is stored in the negative
//     table; ErrUnavailable (or the call's own timeout) is never stored and
//     may be answered stale (see StaleIfError); any other error is passed
//     on, never stored and never answered stale. A panic in the upstream
//     verifier is recovered and answered as ErrUnavailable, its value and
//     stack in the error: left to run on the flight's own goroutine, it
//     would end the process.
//
// A verified entry lives for TTL but never past the token's exp minus
// ClockSkew, taken from the answer's ExpiresAt or the token's own exp claim
// (authentic once the upstream accepted the token), whichever is earlier.
// Entry deadlines are kept on the monotonic clock (nanoseconds since New),
// which time.Since reads in one clock read, cheaper than time.Now.
//
// # Storage
//
// Each table (verified, refused) is split into up to 32 shards, a power of
// two chosen so that each holds at least 256 entries; a key's shard is its
// low bits. Each shard is a hashicorp/golang-lru/v2 simplelru.LRU under the
// shard's sync.RWMutex. Size is divided evenly among the shards, so with
// keys spread at random the cache starts evicting slightly before it holds
// Size entries.
//
// Eviction is CLOCK (second chance), an approximation of LRU that lets a hit
// record recency without an exclusive lock: a hit only sets the entry's
// atomic referenced bit (loading it first, so hot entries stay in every
// core's cache). An insertion, under the shard's write lock, looks at the
// oldest entry: if its bit is set, the bit is cleared and the entry moves to
// the front (simplelru.Get); otherwise, or once it is past every deadline,
// it is evicted. At most 32 second chances are given per insertion, then
// the oldest entry goes whatever its bit, so an insertion's cost is bounded.
// A token seen once is evicted before one seen twice, which keeps a scan of
// one-off tokens from flushing the working set.
//
// # Shared writes on a hit
//
// A write to memory other cores read moves its cache line between them, so
// a hit writes as little shared memory as it can:
//
//   - No lock. Each shard keeps, beside its LRU (which only writers touch,
//     under the shard's mutex), a read index: a fixed power-of-two array of
//     hash chains, by the key's second half, holding exactly the LRU's
//     entries. Writers link and unlink under the mutex with atomic stores; a
//     hit walks its chain with atomic loads. An entry is never linked twice
//     and keeps its own link when unlinked, so a walk in progress stays on a
//     valid chain, and a lookup that begins after Revoke (or a removal,
//     eviction or Purge) has returned cannot reach the entries it dropped.
//     The index costs one pointer per bucket and one per entry.
//   - The hit counter is striped (internal/stripe): a goroutine adds to a
//     stripe chosen by its stack's address, on its own pair of cache lines,
//     and a scrape sums the stripes. Two goroutines running at once share a
//     stripe with probability 1/64 or less.
//   - The entry's referenced bit, the one shared write left: it is loaded
//     first and stored only when unset, so a hot entry's line is written once
//     per eviction sweep that clears it, not once per hit. CLOCK needs it.
//
// The verified table indexes entries by user for Revoke: a per-shard map from
// user id to the head of a doubly linked list threaded through the entries.
// The LRU's eviction callback unlinks, so every way an entry leaves (eviction,
// replacement, Revoke, Purge) keeps the index exact. Linked lists
// threaded through the entries cost less per entry than a map of slices or
// of sets of keys (BenchmarkMemoryPerEntry measures the whole).
//
// # Keys
//
// Tokens are bearer credentials, so the cache does not keep them: an entry
// is keyed by 128 bits made of two hash/maphash hashes of the token under
// two independent seeds (maphash.Comparable: one pass each of the runtime's
// string hash, AES-based on CPUs with AES instructions). The seeds come from
// the runtime's secure random source, are drawn per Cache and never leave
// the process: no hash value appears in an error, a log line or a metric.
// The table's map is keyed by the low 64 bits and the entry holds the full
// key, so the runtime's uint64 map fast path serves lookups and both halves
// are compared.
//
// Two different tokens sharing an entry would hand one user's identity to
// another's token, so the key must make that practically impossible:
//
//   - By accident: modelling each seeded hash as a random function, a pair
//     of distinct tokens collides with probability 2^-128. With N = 2^20
//     (about 1,000,000) cached entries, the chance that any two of them
//     collide is about N^2/2 * 2^-128 = 2^-89, and the chance that a token
//     not in the cache matches some entry is N * 2^-128 = 2^-108 per
//     lookup: at a million lookups a second for a century (2^52 lookups),
//     2^-56.
//   - On purpose: to be served another user's entry, an attacker must
//     present a token T' whose key equals that of a cached token T that he
//     does not know (if he knew T he would not need T'), under seeds he does
//     not know, with no oracle that reveals hash values. That is a second
//     preimage of an unknown input under an unknown key; each guess
//     succeeds with probability at most N * 2^-128. maphash is not a
//     cryptographic hash and may admit collisions an attacker can build
//     for inputs he chooses, but a collision between two tokens of his own
//     gains him nothing.
//
// Alternatives, compared by BenchmarkKey: a sha256 key gives a
// cryptographic argument but costs several times a whole hit; the raw token
// as the map key is exact and fast but multiplies the memory per entry and
// keeps every live credential in the heap, readable from a core dump. The
// maphash key costs two passes over the token and 16 bytes; maphash.String
// would feed the runtime 128 bytes at a time, several calls per pass for a
// token of App Services' size, where maphash.Comparable makes one.
//
// # Negative cache
//
// Refusals live in a table of their own (NegativeSize, NegativeTTL), so that
// a flood of junk tokens cannot evict verified ones. Only answers for which
// errors.Is(err, verifier.ErrInvalidToken) holds are stored; a negative hit
// returns a fixed error of the same kind (ErrInvalidToken, ErrTokenExpired
// or ErrRevoked) and allocates nothing. Storing a refusal drops any verified
// entry of the token, so it cannot be served stale later.
//
// # Stale answers
//
// With StaleIfError > 0, an entry whose TTL has lapsed is kept (until
// evicted) and, while the upstream is unavailable, answered for up to
// StaleIfError past its TTL, never past its token's exp minus ClockSkew.
// The upstream is always tried first, and such answers count as
// result="stale".
//
// # Revocation
//
// App Services keeps accepting an access token until it expires even after
// the user's sessions were revoked or the user was disabled or deleted.
// Revoke (the Cache is a verifier.Revoker: register it with
// appservices.Client.OnRevoke, or hand it to the revoke webhook) closes that
// gap for this process: it drops the user's cached entries and remembers, for
// MaxTokenLifetime + ClockSkew after the revocation time, to refuse the
// user's tokens issued at or before it with verifier.ErrRevoked. The check
// runs on the miss path only, before the upstream call on the token's own
// claims (refusing on unverified claims is safe: a forger only gets his own
// token refused) and after it on the verified answer; a hit needs none,
// since Revoke removed every entry it covers and none can be stored again:
//
//   - Revoke records the revocation, then drops the user's entries shard by
//     shard;
//   - an upstream answer is stored, under the shard's lock, only if the
//     revocation memory does not cover it at that moment.
//
// So an answer checked before the revocation was recorded is either stored
// before the drop reaches its shard (and dropped) or not stored at all, and
// one checked after is refused. Each waiting caller re-checks the answer it
// receives, so no Verify that starts after Revoke returns accepts a covered
// token. A revocation touches only its own user's entries and flights (and
// only tokens issued at or before its time): replaying one, however often,
// costs no other user a cache entry or an upstream call. Purge alone is
// global: it moves a generation counter, and an answer whose call began
// before it is not stored.
//
// The memory holds at most MaxRevocations users. A revocation is forgotten
// when it ages out or, if the memory is full, when it is the oldest; either
// way its time is folded into a watermark, and tokens of every user issued
// at or before the watermark are refused as revoked. For an aged-out
// revocation this changes nothing for tokens that honour MaxTokenLifetime
// (they have all expired) and fails closed for any that outlive it. For a
// full memory it fails closed: no revoked token is ever accepted again, at
// the price of refusing some older tokens of users who were not revoked,
// who must present fresher ones (clients refresh). Purge does not forget
// revocations.
//
// # Metrics
//
// With Options.Registerer set, the cache registers:
//
//	tokenguard_cache_lookups_total{result="hit|miss|negative_hit|stale"}  Verify calls by how they were answered
//	tokenguard_cache_entries{kind="positive|negative"}                     entries held (lapsed ones not yet evicted included)
//	tokenguard_cache_evictions_total{kind="positive|negative"}             live entries evicted to make room
//	tokenguard_upstream_verifications_total{outcome="valid|invalid|unavailable|abandoned"}
//	tokenguard_upstream_verification_seconds                               upstream call latency (histogram)
//	tokenguard_singleflight_shared_total                                   callers answered by a call another caller started
//	tokenguard_precheck_rejections_total{reason="malformed|expired|wrong_type|revoked"}
//	tokenguard_revocations_total                                           Revoke calls
//
// Hits are counted in striped counters summed at scrape time, so counting a
// hit neither allocates nor makes cores write one cache line; the other label children are
// resolved once, in New. Without a Registerer nothing is counted.
//
// # Tracing
//
// With Options.TracerProvider set, each upstream verification is a span,
// VerifySpanName, whose parent is the span of the request that started it
// (the flight's context keeps the starter's values) and whose
// VerifyOutcomeKey attribute is its outcome, as in the metric; and a hit,
// a negative hit, a stale answer and a shared verification are events
// (EventHit, EventNegativeHit, EventStale, EventShared) on the span in the
// caller's context. The cache uses the OpenTelemetry trace API only and puts
// no token on a span. Without a TracerProvider a hit pays one nil check. Precheck,
// without a cache, makes each call of its upstream such a span too.
//
// # The pre-check's parser
//
// The pre-check uses golang-jwt's ParseUnverified: decoding by hand would
// save little on a path that goes on to an upstream HTTP call, and the
// library reads the header exactly (FuzzPrecheck found a hand decoder
// taking "Alg" for "alg", as encoding/json matches struct fields).
package cache
