package limit_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/limit"
	"github.com/tokenguard/tokenguard/verifier"
)

// blocking is a verifier whose calls wait on release; started counts them.
func blocking(release <-chan struct{}, started chan<- struct{}) verifier.Verifier {
	return verifier.VerifierFunc(func(ctx context.Context, _ string) (*verifier.User, error) {
		started <- struct{}{}
		<-release
		return &verifier.User{ID: "u"}, nil
	})
}

func TestPerClientCapsEachClient(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 8)
	v := limit.PerClient(blocking(release, started), 2)
	a := verifier.WithClient(context.Background(), netip.MustParseAddr("192.0.2.1"))
	b := verifier.WithClient(context.Background(), netip.MustParseAddr("192.0.2.2"))

	done := make(chan error, 8)
	for range 2 {
		go func() { _, err := v.Verify(a, "t"); done <- err }()
		<-started
	}
	_, err := v.Verify(a, "t")
	require.ErrorIs(t, err, verifier.ErrTooManyRequests, "a third call of the same client")
	assert.False(t, errors.Is(err, verifier.ErrUnavailable) || errors.Is(err, verifier.ErrInvalidToken))
	var ra verifier.RetryAfterError
	require.ErrorAs(t, err, &ra)
	assert.Equal(t, time.Second, ra.RetryAfter())

	go func() { _, err := v.Verify(b, "t"); done <- err }()
	<-started // another client is not held back
	go func() { _, err := v.Verify(context.Background(), "t"); done <- err }()
	<-started // nor a call without a client

	close(release)
	for range 4 {
		require.NoError(t, <-done)
	}
	_, err = v.Verify(a, "t") // its slots came back
	require.NoError(t, err)
}

func TestPerClientCountsIPv6Per64(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 8)
	v := limit.PerClient(blocking(release, started), 1)
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(verifier.WithClient(context.Background(), netip.MustParseAddr("2001:db8::1")), "t")
		done <- err
	}()
	<-started
	_, err := v.Verify(verifier.WithClient(context.Background(), netip.MustParseAddr("2001:db8::ffff:2")), "t")
	require.ErrorIs(t, err, verifier.ErrTooManyRequests, "same /64")
	close(release)
	require.NoError(t, <-done)
}
