package replicas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/verifier"
)

// Version is the version of the keys and messages this package writes.
const Version = 1

// Defaults of Options.
const (
	DefaultKeyPrefix        = "tokenguard:"
	DefaultMaxTokenLifetime = 30 * time.Minute
	DefaultMargin           = 5 * time.Minute
	DefaultMinBackoff       = 100 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
	DefaultHealthInterval   = 15 * time.Second
)

// Options configure a Feed. Zero values mean the documented defaults.
type Options struct {
	// KeyPrefix starts every key and the channel, so that several apps can
	// share one Redis. Default: DefaultKeyPrefix.
	KeyPrefix string
	// MaxTokenLifetime is the longest an access token lives (App Services:
	// 30 minutes), and Margin what is added for clock skew: an entry is kept
	// that long after its time. Defaults: DefaultMaxTokenLifetime,
	// DefaultMargin.
	MaxTokenLifetime, Margin time.Duration
	// ReplicaID names this replica in messages. Default: random.
	ReplicaID string
	// MinBackoff and MaxBackoff bound the wait between reconnection tries.
	// Defaults: DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// HealthInterval is how long the subscription may be silent before it
	// is pinged; a failed ping counts as a lost connection.
	// Default: DefaultHealthInterval.
	HealthInterval time.Duration
	// Logger receives the feed's lines. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Registerer, if not nil, gets the feed's metrics.
	Registerer prometheus.Registerer
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
}

// A Feed shares revocations among replicas through Redis. Build it with
// New and call Run once; Revoke is safe for concurrent use.
type Feed struct {
	rdb     redis.UniversalClient
	local   verifier.Revoker
	opts    Options
	key     string // the sorted set
	channel string
	log     *slog.Logger
	m       *metrics

	loaded     chan struct{} // closed after the first resync
	loadedOnce sync.Once
	up         atomic.Bool

	// testHookDown, if set, is called after a connection is lost and
	// before the next try.
	testHookDown func()
}

// New returns a Feed over rdb that applies revocations to local. It panics
// if rdb or local is nil.
func New(rdb redis.UniversalClient, local verifier.Revoker, opts Options) *Feed {
	if rdb == nil || local == nil {
		panic("replicas: nil Redis client or local Revoker")
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultKeyPrefix
	}
	setDefault(&opts.MaxTokenLifetime, DefaultMaxTokenLifetime)
	setDefault(&opts.Margin, DefaultMargin)
	setDefault(&opts.MinBackoff, DefaultMinBackoff)
	setDefault(&opts.MaxBackoff, DefaultMaxBackoff)
	setDefault(&opts.HealthInterval, DefaultHealthInterval)
	if opts.ReplicaID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		opts.ReplicaID = hex.EncodeToString(b[:])
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	key := opts.KeyPrefix + "revocations:v" + strconv.Itoa(Version)
	return &Feed{
		rdb: rdb, local: local, opts: opts,
		key: key, channel: key + ":events",
		log:    log,
		m:      newMetrics(opts.Registerer),
		loaded: make(chan struct{}),
	}
}

func setDefault(p *time.Duration, d time.Duration) {
	if *p <= 0 {
		*p = d
	}
}

// Key and Channel are the names of the sorted set and the pub/sub channel.
func (f *Feed) Key() string     { return f.key }
func (f *Feed) Channel() string { return f.channel }

// Ready reports whether the durable set has been loaded at least once.
func (f *Feed) Ready() bool {
	select {
	case <-f.loaded:
		return true
	default:
		return false
	}
}

// Loaded returns a channel closed once the durable set has been loaded for
// the first time.
func (f *Feed) Loaded() <-chan struct{} { return f.loaded }

// Up reports whether the feed is connected and subscribed now.
func (f *Feed) Up() bool { return f.up.Load() }

// message is one revocation on the channel.
type message struct {
	V         int    `json:"v"`
	UserID    string `json:"user_id"`
	RevokedAt int64  `json:"revoked_at_ms"`
	Published int64  `json:"published_at_ms"`
	Origin    string `json:"origin"`
}

// revokeScript raises the user's entry (never lowers it), drops entries
// nobody needs, and publishes the message: one atomic step in Redis.
// KEYS[1] the set, KEYS[2] the channel; ARGV: user, time ms, cut-off ms,
// message.
var revokeScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
return redis.call('PUBLISH', KEYS[2], ARGV[4])
`)

// Revoke makes userID's tokens issued at or before at refused on every
// replica: written to Redis, published, and applied locally. A zero at
// means now. If Redis did not accept the write, the revocation is applied
// locally all the same and the error wraps verifier.ErrUnavailable.
func (f *Feed) Revoke(ctx context.Context, userID string, at time.Time) error {
	now := f.opts.Now()
	if at.IsZero() {
		at = now
	}
	ms := ceilMillis(at)
	msg, err := json.Marshal(message{V: Version, UserID: userID, RevokedAt: ms, Published: now.UnixMilli(), Origin: f.opts.ReplicaID})
	if err != nil {
		return fmt.Errorf("replicas: %w", err) // unreachable: plain fields
	}
	cut := now.Add(-f.keep()).UnixMilli()
	_, werr := revokeScript.Run(ctx, f.rdb, []string{f.key, f.channel}, userID, ms, cut, msg).Result()
	lerr := f.local.Revoke(ctx, userID, time.UnixMilli(ms))
	if werr != nil {
		f.m.publishFailed.Inc()
		return errors.Join(fmt.Errorf("replicas: revocation of %s not shared (applied here only): %w: %w", userID, verifier.ErrUnavailable, werr), lerr)
	}
	f.m.published.Inc()
	return lerr
}

// ceilMillis is t in Unix milliseconds, rounded up: revoking a little too
// much is safe, too little is not.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

func (f *Feed) keep() time.Duration { return f.opts.MaxTokenLifetime + f.opts.Margin }

// Run keeps the replica subscribed until ctx ends, resynchronising on every
// connection and reconnecting with backoff. It returns nil once ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	backoff := f.opts.MinBackoff
	connected := false // ever, for the reconnect count
	downLogged := false
	for {
		wasUp, err := f.session(ctx, connected)
		if wasUp {
			connected = true
			backoff = f.opts.MinBackoff
			downLogged = false
		}
		f.setUp(false)
		if ctx.Err() != nil {
			return nil
		}
		if !downLogged {
			f.log.Warn("tokenguard: revocation feed down; serving with the revocations known here, retrying",
				slog.String("error", err.Error()))
			downLogged = true
		}
		if f.testHookDown != nil {
			f.testHookDown()
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, f.opts.MaxBackoff)
	}
}

// session subscribes, resyncs and applies messages until the connection is
// lost or ctx ends. It reports whether it got as far as subscribing and
// loading the set.
func (f *Feed) session(ctx context.Context, reconnect bool) (bool, error) {
	ps := f.rdb.Subscribe(ctx)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // Receive does not watch ctx
	defer stop()

	if err := ps.Subscribe(ctx, f.channel); err != nil {
		return false, err
	}
	if err := f.awaitSubscription(ctx, ps); err != nil {
		return false, err
	}
	// Subscribed: from now on nothing published is missed, so the set read
	// next covers everything published before.
	if err := f.resync(ctx); err != nil {
		return false, err
	}
	if reconnect {
		f.m.reconnects.Inc()
	}
	f.setUp(true)
	f.log.Info("tokenguard: revocation feed up", slog.String("channel", f.channel))

	pinged := false
	for {
		v, err := ps.ReceiveTimeout(ctx, f.opts.HealthInterval)
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && !pinged && ctx.Err() == nil {
				if err := ps.Ping(ctx); err != nil {
					return true, err
				}
				pinged = true
				continue
			}
			return true, err
		}
		pinged = false
		switch m := v.(type) {
		case *redis.Message:
			f.apply(ctx, m.Payload)
		case *redis.Subscription:
			// The client subscribed again on a new connection by itself:
			// messages may have been missed in between.
			if err := f.resync(ctx); err != nil {
				return true, err
			}
		case *redis.Pong:
		}
	}
}

// awaitSubscription waits for Redis to confirm the subscription.
func (f *Feed) awaitSubscription(ctx context.Context, ps *redis.PubSub) error {
	for {
		v, err := ps.ReceiveTimeout(ctx, f.opts.HealthInterval)
		if err != nil {
			return err
		}
		if s, ok := v.(*redis.Subscription); ok && s.Kind == "subscribe" && s.Channel == f.channel {
			return nil
		}
	}
}

// apply applies one message, or resyncs when it cannot be read.
func (f *Feed) apply(ctx context.Context, payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.V != Version || m.UserID == "" || m.RevokedAt <= 0 {
		f.log.Warn("tokenguard: revocation message of an unknown version or shape; resynchronising",
			slog.Int("version", m.V), slog.Int("bytes", len(payload)))
		if err := f.resync(ctx); err != nil {
			f.log.Warn("tokenguard: revocation resync failed", slog.String("error", err.Error()))
		}
		return
	}
	f.m.received.Inc()
	if m.Published > 0 {
		f.m.propagation.Observe(max(0, float64(f.opts.Now().UnixMilli()-m.Published)/1e3))
	}
	if err := f.local.Revoke(ctx, m.UserID, time.UnixMilli(m.RevokedAt)); err != nil {
		f.log.Warn("tokenguard: applying a shared revocation failed", slog.String("user_id", m.UserID), slog.String("error", err.Error()))
	}
}

// resync drops expired entries, reads every remaining one and applies it.
func (f *Feed) resync(ctx context.Context) error {
	cut := f.opts.Now().Add(-f.keep()).UnixMilli()
	err := f.rdb.ZRemRangeByScore(ctx, f.key, "-inf", "("+strconv.FormatInt(cut, 10)).Err()
	var entries []redis.Z
	if err == nil {
		entries, err = f.rdb.ZRangeWithScores(ctx, f.key, 0, -1).Result()
	}
	if err != nil {
		return fmt.Errorf("replicas: resync: %w", err)
	}
	for _, z := range entries {
		id, _ := z.Member.(string)
		if id == "" || z.Score < float64(cut) {
			continue
		}
		if err := f.local.Revoke(ctx, id, time.UnixMilli(int64(z.Score))); err != nil {
			f.log.Warn("tokenguard: applying a shared revocation failed", slog.String("user_id", id), slog.String("error", err.Error()))
		}
	}
	f.m.resyncs.Inc()
	f.m.resynced.Add(float64(len(entries)))
	f.loadedOnce.Do(func() { close(f.loaded) })
	return nil
}

func (f *Feed) setUp(up bool) {
	f.up.Store(up)
	if up {
		f.m.up.Set(1)
	} else {
		f.m.up.Set(0)
	}
}
