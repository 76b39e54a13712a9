package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tokenguard/tokenguard/internal/buildinfo"
)

func TestVersion(t *testing.T) {
	want := buildinfo.Read().String() + "\n"
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // exact
		stderr string // substring
	}{
		{"subcommand", []string{"version"}, 0, want, ""},
		{"--version", []string{"--version"}, 0, want, ""},
		{"-version", []string{"-version"}, 0, want, ""},
		{"help", []string{"version", "-h"}, 0, "", "usage: tokenguard version"},
		{"an argument", []string{"version", "extra"}, 2, "", `tokenguard version: unexpected argument "extra"`},
		{"a flag", []string{"--version", "--json"}, 2, "", "flag provided but not defined: -json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			assert.Equal(t, tt.code, code, "stderr: %s", stderr.String())
			assert.Equal(t, tt.stdout, stdout.String())
			assert.Contains(t, stderr.String(), tt.stderr)
			if tt.stderr == "" {
				assert.Empty(t, stderr.String())
			}
		})
	}
}

func TestUsageListsVersion(t *testing.T) {
	var stdout bytes.Buffer
	assert.Equal(t, 0, run(context.Background(), []string{"help"}, &stdout, &bytes.Buffer{}))
	assert.Contains(t, stdout.String(), "  version       print the version, commit and build date")
}
