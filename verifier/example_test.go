package verifier_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenguard/tokenguard/verifier"
)

// VerifierFunc turns a function into a Verifier, for tests and adapters.
func ExampleVerifierFunc() {
	var v verifier.Verifier = verifier.VerifierFunc(func(_ context.Context, token string) (*verifier.User, error) {
		if token != "let-me-in" {
			return nil, verifier.ErrInvalidToken
		}
		return &verifier.User{ID: "63ed812a43be72c176aa5d21"}, nil
	})

	u, err := v.Verify(context.Background(), "let-me-in")
	fmt.Println(u.ID, err)
	_, err = v.Verify(context.Background(), "guess")
	fmt.Println(errors.Is(err, verifier.ErrInvalidToken))
	// Output:
	// 63ed812a43be72c176aa5d21 <nil>
	// true
}
