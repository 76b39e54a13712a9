package cache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// A Cache in front of the Admin API client, registered with the client as a
// Revoker once both exist: revoking a user's sessions through the client makes
// the cache refuse that user's older tokens at once, although App Services
// itself keeps accepting them until they expire.
func Example() {
	srv := appservicestest.NewServer() // an App Services emulator on loopback
	defer srv.Close()
	ctx := context.Background()

	client, err := appservices.NewClient(srv.Config())
	if err != nil {
		fmt.Println(err)
		return
	}
	c := cache.New(client, cache.Options{Now: srv.Now})
	client.OnRevoke(c)

	userID := srv.AddUser("ada@example.com", "correct horse battery staple")
	token, _ := srv.NewAccessToken(userID)

	for range 3 {
		u, err := c.Verify(ctx, token)
		fmt.Println("verified:", err == nil && u.ID == userID)
	}
	fmt.Println("verify_token calls:", srv.Calls(appservicestest.EndpointVerifyToken))

	if err := client.RevokeSessions(ctx, userID); err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.Verify(ctx, token)
	fmt.Println("old token revoked:", errors.Is(err, verifier.ErrRevoked))

	srv.Advance(time.Second) // a new login, a second later
	fresh, _ := srv.NewAccessToken(userID)
	_, err = c.Verify(ctx, fresh)
	fmt.Println("fresh token verified:", err == nil)
	fmt.Println("verify_token calls:", srv.Calls(appservicestest.EndpointVerifyToken))
	// Output:
	// verified: true
	// verified: true
	// verified: true
	// verify_token calls: 1
	// old token revoked: true
	// fresh token verified: true
	// verify_token calls: 2
}
