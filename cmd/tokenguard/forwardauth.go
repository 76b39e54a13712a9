package main

import (
	"context"
	"io"
	"os"

	"github.com/tokenguard/tokenguard/internal/gateway"
)

// runForwardAuth is the "forward-auth" subcommand: answer the auth
// subrequests of a reverse proxy on any path (see internal/gateway).
func runForwardAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return gatewayCommand{mode: gateway.ModeForwardAuth, lookupEnv: os.LookupEnv}.run(ctx, args, stdout, stderr)
}
