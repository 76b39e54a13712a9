package gateway

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Defaults of Backoff.
const (
	DefaultBackoffInitial = 250 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
)

// Backoff paces the retries of the start-up admin login: the wait after the
// n-th failure (n from 0) is d = min(Max, Initial * 2^n), of which half is
// fixed and half random ("equal jitter"), so that gateways restarted
// together do not log in in lockstep, and none waits less than d/2.
type Backoff struct {
	// Initial is the first wait before jitter. Default: DefaultBackoffInitial.
	Initial time.Duration
	// Max caps the wait before jitter. Default: DefaultBackoffMax.
	Max time.Duration
	// Wait waits for d or until ctx ends, and returns ctx.Err() in the
	// latter case. If nil, a timer is used. Tests replace it to record the
	// waits without sleeping.
	Wait func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1). If nil, math/rand/v2.Float64.
	Rand func() float64
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoffInitial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoffMax
	}
	b.Max = max(b.Max, b.Initial)
	if b.Wait == nil {
		b.Wait = waitTimer
	}
	if b.Rand == nil {
		b.Rand = rand.Float64
	}
	return b
}

// delay returns the wait after failure n (from 0), jitter included.
func (b Backoff) delay(n int) time.Duration {
	d := b.Initial
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + time.Duration(b.Rand()*float64(d-half))
}

func waitTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loginWithRetry calls login until it succeeds, waiting b's delays between
// failures, and returns nil then; it returns ctx.Err() once ctx ends.
// Each failure is logged at warn with the attempt number and the next wait;
// login's errors never contain the key pair.
func loginWithRetry(ctx context.Context, login func(context.Context) error, b Backoff, log *slog.Logger) error {
	b = b.withDefaults()
	for n := 0; ; n++ {
		err := login(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := b.delay(n)
		log.LogAttrs(ctx, slog.LevelWarn, "tokenguard: admin API login failed; retrying",
			slog.Int("attempt", n+1), slog.Duration("retry_in", d), slog.String("error", err.Error()))
		if err := b.Wait(ctx, d); err != nil {
			return err
		}
	}
}
