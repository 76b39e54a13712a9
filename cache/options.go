package cache

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Options configures a Cache. The zero value of every field selects the
// default stated beside it; New panics on a negative size, count or duration
// where none is allowed.
type Options struct {
	// Size bounds the number of verified tokens kept. It is divided evenly
	// among up to 32 shards, so eviction may begin slightly before Size
	// entries are held. Default: 100,000.
	Size int

	// TTL is how long a verified token is answered from the cache before the
	// upstream is asked again. An entry never outlives its token: it lapses
	// ClockSkew before the token's exp. Default: 5m.
	TTL time.Duration

	// NegativeTTL is how long a token the upstream refused is refused from
	// the cache. Default: 10s. Negative: refusals are not cached.
	NegativeTTL time.Duration

	// NegativeSize bounds the refused tokens kept. They live in a table of
	// their own, so a flood of junk tokens cannot evict verified ones.
	// Default: 10,000.
	NegativeSize int

	// VerifyTimeout bounds one upstream verification, the wait for a
	// MaxInflight slot included. The call is shared by every caller that
	// presents the same token and does not end when any of them gives up;
	// each caller leaves on its own context. Default: 5s.
	VerifyTimeout time.Duration

	// MaxInflight bounds the upstream verifications in progress at once.
	// Further ones wait for a slot, within VerifyTimeout. Default: 64.
	MaxInflight int

	// StaleIfError, when positive, lets a verified entry whose TTL lapsed
	// less than StaleIfError ago answer while the upstream is unavailable,
	// never past its token's exp minus ClockSkew. Default: 0, off.
	StaleIfError time.Duration

	// ClockSkew is the tolerance for clock differences with App Services. The
	// pre-check refuses a token as expired only once exp + ClockSkew has
	// passed (App Services judges the last seconds), while a cached answer
	// stops ClockSkew before exp. Default: 5s. Negative: no tolerance.
	ClockSkew time.Duration

	// MaxTokenLifetime is the longest lifetime (exp - iat) of an access
	// token; App Services issues 30-minute tokens. A revocation is remembered
	// for MaxTokenLifetime + ClockSkew after its time, by when every token it
	// covers has expired; afterwards tokens issued before it are refused as
	// revoked whoever they belong to (see Revoke), so a longer-lived token
	// fails closed. Default: 30m.
	MaxTokenLifetime time.Duration

	// MaxRevocations bounds the users whose revocation is remembered. When
	// it is exceeded the oldest revocation is forgotten and folded into a
	// watermark: tokens issued at or before it are refused for every user
	// (fail closed; see Revoke). Default: 100,000.
	MaxRevocations int

	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time

	// Registerer receives the cache's metrics (see package doc). If nil, no
	// metrics are kept and counting costs nothing. The global registry is
	// used only when passed here. New panics if registration fails; to
	// share a registry, give each cache its own
	// prometheus.WrapRegistererWith label.
	Registerer prometheus.Registerer

	// TracerProvider, if not nil, turns tracing on (see the package doc):
	// each upstream verification is a span (VerifySpanName), and a hit, a
	// stale answer and a shared verification are events on the caller's
	// span (the one in Verify's context). If nil, nothing is traced and
	// tracing costs one branch per request.
	TracerProvider trace.TracerProvider
}

// Defaults.
const (
	DefaultSize             = 100_000
	DefaultTTL              = 5 * time.Minute
	DefaultNegativeTTL      = 10 * time.Second
	DefaultNegativeSize     = 10_000
	DefaultVerifyTimeout    = 5 * time.Second
	DefaultMaxInflight      = 64
	DefaultClockSkew        = 5 * time.Second
	DefaultMaxTokenLifetime = 30 * time.Minute
	DefaultMaxRevocations   = 100_000
)

// withDefaults returns o with zero fields set to their defaults, panicking
// on values that can only be a programming error.
func (o Options) withDefaults() Options {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Size", int64(o.Size)},
		{"TTL", int64(o.TTL)},
		{"NegativeSize", int64(o.NegativeSize)},
		{"VerifyTimeout", int64(o.VerifyTimeout)},
		{"MaxInflight", int64(o.MaxInflight)},
		{"StaleIfError", int64(o.StaleIfError)},
		{"MaxTokenLifetime", int64(o.MaxTokenLifetime)},
		{"MaxRevocations", int64(o.MaxRevocations)},
	} {
		if f.v < 0 {
			panic("cache: negative Options." + f.name)
		}
	}
	setDefault(&o.Size, DefaultSize)
	setDefault(&o.TTL, DefaultTTL)
	setDefault(&o.NegativeTTL, DefaultNegativeTTL)
	setDefault(&o.NegativeSize, DefaultNegativeSize)
	setDefault(&o.VerifyTimeout, DefaultVerifyTimeout)
	setDefault(&o.MaxInflight, DefaultMaxInflight)
	setDefault(&o.ClockSkew, DefaultClockSkew)
	setDefault(&o.MaxTokenLifetime, DefaultMaxTokenLifetime)
	setDefault(&o.MaxRevocations, DefaultMaxRevocations)
	if o.ClockSkew < 0 {
		o.ClockSkew = 0
	}
	return o
}

func setDefault[T int | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}
