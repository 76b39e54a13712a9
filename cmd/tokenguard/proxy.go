package main

import (
	"context"
	"io"
	"os"

	"github.com/tokenguard/tokenguard/internal/gateway"
)

// runProxy is the "proxy" subcommand: authenticate every request and
// forward it to --upstream (see internal/gateway).
func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return gatewayCommand{mode: gateway.ModeProxy, lookupEnv: os.LookupEnv}.run(ctx, args, stdout, stderr)
}
