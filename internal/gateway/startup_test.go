package gateway

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}.withDefaults()
	tests := []struct {
		name string
		n    int
		rand float64
		want time.Duration
	}{
		{"first, no jitter drawn", 0, 0, 50 * time.Millisecond},
		{"first, most jitter", 0, 0.999, 99_950 * time.Microsecond},
		{"doubles", 1, 0, 100 * time.Millisecond},
		{"doubles again", 2, 0.5, 300 * time.Millisecond},
		{"capped", 4, 0, 500 * time.Millisecond},
		{"capped far out", 1000, 0.999, 999_500 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.Rand = func() float64 { return tt.rand }
			assert.Equal(t, tt.want, b.delay(tt.n))
		})
	}
}

func TestBackoffDefaults(t *testing.T) {
	b := Backoff{}.withDefaults()
	assert.Equal(t, DefaultBackoffInitial, b.Initial)
	assert.Equal(t, DefaultBackoffMax, b.Max)
	b = Backoff{Initial: time.Minute, Max: time.Second}.withDefaults()
	assert.Equal(t, time.Minute, b.Max, "Max below Initial is raised to it")
}

func TestLoginWithRetry(t *testing.T) {
	errDown := errors.New("admin API down")
	t.Run("retries with growing waits until it succeeds", func(t *testing.T) {
		calls := 0
		login := func(context.Context) error {
			calls++
			if calls < 4 {
				return errDown
			}
			return nil
		}
		var waits []time.Duration
		b := Backoff{
			Initial: time.Second, Max: 3 * time.Second,
			Rand: func() float64 { return 0 },
			Wait: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
		}
		var logs logBuffer
		require.NoError(t, loginWithRetry(context.Background(), login, b, newLogger(&logs)))
		assert.Equal(t, 4, calls)
		assert.Equal(t, []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond}, waits)
		assert.Len(t, logs.lines("level=WARN", "admin API login failed", "admin API down"), 3)
	})
	t.Run("stops when the context ends during a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		b := Backoff{Wait: func(ctx context.Context, _ time.Duration) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}}
		err := loginWithRetry(ctx, func(context.Context) error { return errDown }, b, newLogger(io.Discard))
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("stops when the context ends during a login", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		waited := false
		b := Backoff{Wait: func(context.Context, time.Duration) error { waited = true; return nil }}
		err := loginWithRetry(ctx, func(context.Context) error { cancel(); return errDown }, b, newLogger(io.Discard))
		assert.ErrorIs(t, err, context.Canceled)
		assert.False(t, waited)
	})
	t.Run("the real timer waits and honours the context", func(t *testing.T) {
		require.NoError(t, waitTimer(context.Background(), time.Nanosecond))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.ErrorIs(t, waitTimer(ctx, time.Hour), context.Canceled)
	})
}
