package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tokenguard/tokenguard/internal/buildinfo"
)

// runVersion prints the build's version, commit, commit date and Go
// version on one line (buildinfo.Info.String). `tokenguard --version`
// runs it too.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokenguard version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tokenguard version")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Prints the version, commit and commit date of this build, and the Go version that built it.")
	}
	if err := parseFlags(fs, args, os.LookupEnv); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, buildinfo.Read())
	return err
}
