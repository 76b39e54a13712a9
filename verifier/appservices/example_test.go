package appservices_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// A Client verifies end users' access tokens with App Services. Here it talks
// to the emulator; in production, fill the Config from the Atlas project.
func ExampleClient_Verify() {
	srv := appservicestest.NewServer()
	defer srv.Close()
	userID := srv.AddUser("ada@example.com", "correct horse")
	sess, err := srv.LoginUser("ada@example.com", "correct horse")
	if err != nil {
		log.Fatal(err)
	}

	c, err := appservices.NewClient(srv.Config()) // BaseURL, ids and API keys
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	u, err := c.Verify(ctx, sess.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("user:", u.ID == userID)
	fmt.Println("expires in:", u.ExpiresAt.Sub(srv.Now()).Round(time.Minute))

	// Branch on the error: 401 for a refused token, 503 when App Services
	// could not say.
	for _, token := range []string{"not-a-token", ""} {
		_, err = c.Verify(ctx, token)
		switch {
		case errors.Is(err, verifier.ErrInvalidToken):
			fmt.Println(http.StatusUnauthorized)
		case errors.Is(err, verifier.ErrUnavailable):
			fmt.Println(http.StatusServiceUnavailable)
		}
	}
	srv.Stop()
	_, err = c.Verify(ctx, sess.AccessToken)
	fmt.Println(errors.Is(err, verifier.ErrUnavailable))
	// Output:
	// user: true
	// expires in: 30m0s
	// 401
	// 401
	// true
}

// AllUsers walks every page of users; breaking out of the loop stops it.
func ExampleClient_AllUsers() {
	srv := appservicestest.NewServer()
	defer srv.Close()
	for _, email := range []string{"ada@example.com", "grace@example.com", "alan@example.com"} {
		srv.AddUser(email, "pw")
	}
	c, err := appservices.NewClient(srv.Config())
	if err != nil {
		log.Fatal(err)
	}

	for u, err := range c.AllUsers(context.Background(), appservices.ListUsersOptions{Desc: true}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(u.Email())
	}
	// Output:
	// alan@example.com
	// grace@example.com
	// ada@example.com
}

// OnRevoke tells a cache (or anyone) that a user's tokens must stop working,
// which App Services itself only does once they expire.
func ExampleClient_OnRevoke() {
	srv := appservicestest.NewServer()
	defer srv.Close()
	userID := srv.AddUser("ada@example.com", "pw")
	token, err := srv.NewAccessToken(userID)
	if err != nil {
		log.Fatal(err)
	}

	c, err := appservices.NewClient(srv.Config())
	if err != nil {
		log.Fatal(err)
	}
	c.OnRevoke(verifier.RevokerFunc(func(_ context.Context, id string, at time.Time) error {
		fmt.Println("revoked:", id == userID)
		return nil
	}))
	ctx := context.Background()
	if err := c.RevokeSessions(ctx, userID); err != nil {
		log.Fatal(err)
	}
	_, err = c.Verify(ctx, token)
	fmt.Println("App Services still accepts the token:", err == nil)
	// Output:
	// revoked: true
	// App Services still accepts the token: true
}
