package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// The one context value the Handler adds carries the client address to the
// verifier (no user yet) and the user to the handler behind, and passes on
// what it does not answer: a user an outer middleware attached, a client
// address an outer layer set when client addresses are off, and any other
// value of the request's context.
func TestRequestContext(t *testing.T) {
	type otherKey struct{}
	outerUser := &verifier.User{ID: "outer"}
	outerClient := netip.MustParseAddr("198.51.100.9")
	for _, tc := range []struct {
		name       string
		opts       []Option
		wantClient netip.Addr // the zero Addr: the outer one
	}{
		{"client addresses on", []Option{WithClientAddress()}, netip.MustParseAddr("192.0.2.7")},
		{"client addresses off", nil, outerClient},
		{"gateway", []Option{WithClientAddress(), WithIdentityHeaders(IdentityHeaders{})}, netip.MustParseAddr("192.0.2.7")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inVerify struct {
				user   *verifier.User
				client netip.Addr
				other  any
			}
			v := verifier.VerifierFunc(func(ctx context.Context, _ string) (*verifier.User, error) {
				inVerify.user, _ = UserFromContext(ctx)
				inVerify.client, _ = verifier.ClientFromContext(ctx)
				inVerify.other = ctx.Value(otherKey{})
				return testUser, nil
			})
			var behind struct {
				user   *verifier.User
				ok     bool
				client netip.Addr
				other  any
			}
			h := New(v, append([]Option{WithLogger(quiet)}, tc.opts...)...).Handler(
				http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
					behind.user, behind.ok = UserFromContext(r.Context())
					behind.client, _ = verifier.ClientFromContext(r.Context())
					behind.other = r.Context().Value(otherKey{})
				}))
			req := bearerRequest("/", goodToken)
			req.RemoteAddr = "192.0.2.7:4711"
			ctx := context.WithValue(req.Context(), otherKey{}, "kept")
			ctx = verifier.WithClient(NewContext(ctx, outerUser), outerClient)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req.WithContext(ctx))
			require.Equal(t, http.StatusOK, rec.Code)

			assert.Same(t, outerUser, inVerify.user, "during Verify the user is not known: the outer one shows")
			assert.Equal(t, tc.wantClient, inVerify.client)
			assert.Equal(t, "kept", inVerify.other)
			require.True(t, behind.ok)
			assert.Same(t, testUser, behind.user)
			assert.Equal(t, tc.wantClient, behind.client)
			assert.Equal(t, "kept", behind.other)
		})
	}
}

// A verifier may keep the context past Verify, as the cache's shared
// upstream call does (context.WithoutCancel of its first caller's context):
// reading it while the Handler sets the user must not race (go test -race),
// and must see the client address throughout and the user once it is set.
func TestRequestContextReadAfterVerify(t *testing.T) {
	served := make(chan struct{})
	type read struct {
		before, after *verifier.User
		client        netip.Addr
	}
	reads := make(chan read, 1)
	v := verifier.VerifierFunc(func(ctx context.Context, _ string) (*verifier.User, error) {
		detached := context.WithoutCancel(ctx)
		go func() {
			var r read
			// No synchronisation with the Handler before this read: it
			// races with setting the user unless that is atomic.
			r.before, _ = UserFromContext(detached)
			<-served
			r.after, _ = UserFromContext(detached)
			r.client, _ = verifier.ClientFromContext(detached)
			reads <- r
		}()
		return testUser, nil
	})
	h := New(v, WithLogger(quiet), WithClientAddress()).Handler(benchNext)
	req := bearerRequest("/", goodToken)
	req.RemoteAddr = "192.0.2.7:4711"
	h.ServeHTTP(httptest.NewRecorder(), req)
	close(served)
	r := <-reads
	if r.before != nil {
		assert.Same(t, testUser, r.before, "before the handler behind ran: no user, or the request's")
	}
	assert.Same(t, testUser, r.after)
	assert.Equal(t, "192.0.2.7", r.client.String())
}

// Authenticate, which attaches no user, still hands the verifier the client
// address (verifier.WithClient).
func TestAuthenticateClientAddress(t *testing.T) {
	var seen netip.Addr
	v := verifier.VerifierFunc(func(ctx context.Context, _ string) (*verifier.User, error) {
		seen, _ = verifier.ClientFromContext(ctx)
		return testUser, nil
	})
	m := New(v, WithLogger(quiet), WithClientAddress())
	req := bearerRequest("/", goodToken)
	req.RemoteAddr = "192.0.2.7:4711"
	d := m.Authenticate(context.Background(), httpSource{req})
	require.Equal(t, KindAuthenticated, d.Kind)
	assert.Equal(t, "192.0.2.7", seen.String())
}
