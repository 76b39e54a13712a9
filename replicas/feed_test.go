package replicas

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/verifier"
)

// revocation is one call of a local Revoker.
type revocation struct {
	user string
	at   time.Time
}

// localRevoker records what a feed applies and sends each on ch.
type localRevoker struct {
	ch chan revocation
	mu sync.Mutex
	by map[string]time.Time // latest per user
}

func newLocal() *localRevoker {
	return &localRevoker{ch: make(chan revocation, 1024), by: map[string]time.Time{}}
}

func (l *localRevoker) Revoke(_ context.Context, user string, at time.Time) error {
	l.mu.Lock()
	if at.After(l.by[user]) {
		l.by[user] = at
	}
	l.mu.Unlock()
	l.ch <- revocation{user, at}
	return nil
}

func (l *localRevoker) latest(user string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.by[user]
}

// next waits for the next revocation applied for user, skipping others. The
// deadline only keeps a broken feed from hanging the test.
func (l *localRevoker) next(t *testing.T, user string) revocation {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case r := <-l.ch:
			if r.user == user {
				return r
			}
		case <-deadline:
			t.Fatalf("no revocation of %s applied", user)
		}
	}
}

// none asserts that nothing for user is waiting to be read.
func (l *localRevoker) none(t *testing.T, user string) {
	t.Helper()
	for {
		select {
		case r := <-l.ch:
			if r.user == user {
				t.Fatalf("revocation of %s applied: %v", user, r.at)
			}
		default:
			return
		}
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	require.NoError(t, err)
	opt.MaxRetries = -1 // a test sees each failure as it happens
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// testFeed is a Feed whose Run is under the test's control.
type testFeed struct {
	*Feed
	local *localRevoker
	reg   *prometheus.Registry
	stop  func()
}

func newFeed(t *testing.T, srv *redistest.Server, opts Options, edit ...func(*Feed)) *testFeed {
	t.Helper()
	local := newLocal()
	reg := prometheus.NewRegistry()
	opts.Logger, opts.Registerer = quiet, reg
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	}
	f := New(newClient(t, srv), local, opts)
	for _, e := range edit {
		e(f)
	}
	return &testFeed{Feed: f, local: local, reg: reg}
}

// run starts f.Run and stops it at the end of the test.
func (f *testFeed) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	f.stop = func() {
		cancel()
		require.NoError(t, <-done)
	}
	t.Cleanup(func() {
		if f.stop != nil {
			f.stop()
			f.stop = nil
		}
	})
}

// waitUp waits until the feed is subscribed and has loaded the set.
func (f *testFeed) waitUp(t *testing.T) {
	t.Helper()
	select {
	case <-f.Loaded():
	case <-time.After(10 * time.Second):
		t.Fatal("feed never loaded the set")
	}
	require.Eventually(t, f.Up, 10*time.Second, time.Millisecond)
}

func TestRevokeReachesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	a := newFeed(t, srv, Options{})
	b := newFeed(t, srv, Options{})
	a.run(t)
	b.run(t)
	a.waitUp(t)
	b.waitUp(t)

	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	require.NoError(t, a.Revoke(context.Background(), "alice", at))
	assert.Equal(t, at, a.local.next(t, "alice").at, "applied on the replica that was asked")
	assert.Equal(t, at, b.local.next(t, "alice").at, "and on the other")

	score, err := a.rdb.ZScore(context.Background(), a.Key(), "alice").Result()
	require.NoError(t, err)
	assert.EqualValues(t, at.UnixMilli(), score)

	// An earlier time never shrinks the durable entry.
	require.NoError(t, a.Revoke(context.Background(), "alice", at.Add(-time.Hour)))
	score, err = a.rdb.ZScore(context.Background(), a.Key(), "alice").Result()
	require.NoError(t, err)
	assert.EqualValues(t, at.UnixMilli(), score, "a later time never shrinks")

	assert.Equal(t, 2.0, testutil.ToFloat64(a.m.published))
	assert.Equal(t, 1.0, testutil.ToFloat64(b.m.up))
	require.Eventually(t, func() bool { return testutil.ToFloat64(b.m.received) == 2 }, 10*time.Second, time.Millisecond)
	var h dto.Metric
	require.NoError(t, b.m.propagation.Write(&h))
	assert.EqualValues(t, 2, h.GetHistogram().GetSampleCount(), "propagation delay observed per message")
}

// A replica that starts after a revocation applies it from the durable set
// before it reports ready; one that starts while Redis is down stays not
// ready.
func TestStartUpResync(t *testing.T) {
	srv := redistest.Start(t)
	a := newFeed(t, srv, Options{})
	at := time.Now().Truncate(time.Millisecond)
	require.NoError(t, a.Revoke(context.Background(), "bob", at), "no subscriber needed for the durable write")

	b := newFeed(t, srv, Options{})
	assert.False(t, b.Ready())
	b.run(t)
	assert.Equal(t, at, b.local.next(t, "bob").at)
	b.waitUp(t)
	assert.True(t, b.Ready())

	srv.Stop()
	tries := make(chan struct{}, 16)
	c := newFeed(t, srv, Options{}, func(f *Feed) {
		f.testHookDown = func() {
			select {
			case tries <- struct{}{}:
			default:
			}
		}
	})
	c.run(t)
	for range 3 { // three failed tries in a row
		select {
		case <-tries:
		case <-time.After(10 * time.Second):
			t.Fatal("the feed did not retry")
		}
	}
	assert.False(t, c.Ready(), "ready without ever loading the set")
	assert.False(t, c.Up())
}

// While Redis is down, Revoke applies locally and reports ErrUnavailable; a
// replica stays ready, and after Redis comes back (with its data) every
// replica reconnects, resyncs and gets new revocations.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence())
	a := newFeed(t, srv, Options{})
	b := newFeed(t, srv, Options{})
	a.run(t)
	b.run(t)
	a.waitUp(t)
	b.waitUp(t)
	require.NoError(t, a.Revoke(context.Background(), "before", time.Now()))
	b.local.next(t, "before")

	srv.Stop()
	require.Eventually(t, func() bool { return !b.Up() }, 10*time.Second, time.Millisecond)
	assert.Equal(t, 0.0, testutil.ToFloat64(b.m.up))
	assert.True(t, b.Ready(), "an outage does not take a loaded replica out of service")
	err := a.Revoke(context.Background(), "during", time.Now())
	require.ErrorIs(t, err, verifier.ErrUnavailable)
	a.local.next(t, "during") // applied here all the same
	assert.Equal(t, 1.0, testutil.ToFloat64(a.m.publishFailed))

	srv.Start()
	a.waitUp(t)
	b.waitUp(t)
	assert.Equal(t, 1.0, testutil.ToFloat64(b.m.reconnects))
	// The entry made before the outage survived it: the resync applies it.
	b.local.next(t, "before")
	require.NoError(t, a.Revoke(context.Background(), "after", time.Now()))
	b.local.next(t, "after")
}

// A replica whose subscription is dropped at the moment another publishes
// misses the message for good, and still applies the revocation from the
// resync once it is back.
func TestMissedMessageIsResynced(t *testing.T) {
	srv := redistest.Start(t)
	down, back := make(chan struct{}, 1), make(chan struct{})
	release := sync.OnceFunc(func() { close(back) })
	var once sync.Once
	b := newFeed(t, srv, Options{}, func(f *Feed) {
		f.testHookDown = func() {
			once.Do(func() {
				down <- struct{}{}
				<-back // the replica cannot reconnect until the test says so
			})
		}
	})
	b.run(t)
	t.Cleanup(release) // runs before b's Run is stopped, even when the test fails early
	b.waitUp(t)
	a := newFeed(t, srv, Options{}) // not subscribed: only b could receive
	ctx := context.Background()

	require.NoError(t, a.rdb.ClientKillByFilter(ctx, "TYPE", "pubsub").Err())
	select {
	case <-down:
	case <-time.After(10 * time.Second):
		t.Fatal("the feed did not notice its subscription was dropped")
	}
	// The client may have subscribed again on a new connection before
	// reporting the loss; the feed closed that one, and Redis drops its
	// subscription once it has processed the close.
	require.Eventually(t, func() bool {
		n, err := a.rdb.PubSubNumSub(ctx, a.Channel()).Result()
		return err == nil && n[a.Channel()] == 0
	}, 10*time.Second, time.Millisecond, "nobody is subscribed while the replica is away")
	at := time.Now().Truncate(time.Millisecond)
	require.NoError(t, a.Revoke(ctx, "carol", at))
	b.local.none(t, "carol") // the message is gone: nobody received it

	release()
	assert.Equal(t, at, b.local.next(t, "carol").at, "applied from the resync")
	assert.Zero(t, testutil.ToFloat64(b.m.received), "never through a message")
}

// A message of an unknown version is not applied; it makes the replica read
// the whole set instead.
func TestUnknownVersionResyncs(t *testing.T) {
	srv := redistest.Start(t)
	b := newFeed(t, srv, Options{})
	b.run(t)
	b.waitUp(t)
	ctx := context.Background()
	resyncs := testutil.ToFloat64(b.m.resyncs)
	require.NoError(t, b.rdb.ZAdd(ctx, b.Key(), redis.Z{Member: "dave", Score: float64(time.Now().UnixMilli())}).Err())
	require.NoError(t, b.rdb.Publish(ctx, b.Channel(), `{"v":2,"user":"dave","at":"soon"}`).Err())
	b.local.next(t, "dave")
	// The resync is counted once all its entries are applied, just after.
	require.Eventually(t, func() bool { return testutil.ToFloat64(b.m.resyncs) == resyncs+1 }, 10*time.Second, time.Millisecond)
	assert.Zero(t, testutil.ToFloat64(b.m.received))
}

// Entries older than MaxTokenLifetime + Margin are dropped from the set and
// never applied: no token they could refuse is still valid.
func TestExpiredEntriesAreDropped(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex
	now := time.Now().Truncate(time.Millisecond)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := newFeed(t, srv, Options{MaxTokenLifetime: time.Minute, Margin: time.Second, Now: clock})
	ctx := context.Background()
	require.NoError(t, a.Revoke(ctx, "old", now.Add(-time.Minute-2*time.Second)))
	require.NoError(t, a.Revoke(ctx, "kept", now.Add(-time.Minute)))

	n, err := a.rdb.ZCard(ctx, a.Key()).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "the old entry went at the write")

	b := newFeed(t, srv, Options{MaxTokenLifetime: time.Minute, Margin: time.Second, Now: clock})
	b.run(t)
	b.waitUp(t)
	b.local.next(t, "kept")
	b.local.none(t, "old")
	assert.True(t, b.local.latest("old").IsZero())
}

func TestRevokeZeroAtMeansNow(t *testing.T) {
	srv := redistest.Start(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 1, time.UTC) // a nanosecond past a millisecond
	a := newFeed(t, srv, Options{Now: func() time.Time { return now }})
	require.NoError(t, a.Revoke(context.Background(), "erin", time.Time{}))
	got := a.local.next(t, "erin").at
	assert.False(t, got.Before(now), "rounded up, never down: %v < %v", got, now)
}
