package main

import (
	"errors"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// env is a fake environment for parseFlags.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

type testFlags struct {
	name   string
	ttl    time.Duration
	strict bool
	count  int
	items  stringSlice
}

func newTestFlagSet(f *testFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.name, "group-id", "default", "")
	fs.DurationVar(&f.ttl, "token-ttl", time.Minute, "")
	fs.BoolVar(&f.strict, "strict-revocation", false, "")
	fs.IntVar(&f.count, "count", 1, "")
	fs.Var(&f.items, "seed-user", "")
	return fs
}

func TestEnvName(t *testing.T) {
	assert.Equal(t, "TOKENGUARD_TOKEN_TTL", envName("token-ttl"))
	assert.Equal(t, "TOKENGUARD_LISTEN", envName("listen"))
	assert.Equal(t, "TOKENGUARD_SEED_USER", envName("seed-user"))
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   env
		want  testFlags
		isErr string // substring of the error; "" for success
	}{
		{"defaults", nil, nil, testFlags{name: "default", ttl: time.Minute, count: 1}, ""},
		{"environment fills unset flags", nil,
			env{"TOKENGUARD_GROUP_ID": "g", "TOKENGUARD_TOKEN_TTL": "5m", "TOKENGUARD_STRICT_REVOCATION": "true", "TOKENGUARD_COUNT": "3"},
			testFlags{name: "g", ttl: 5 * time.Minute, strict: true, count: 3}, ""},
		{"command line wins", []string{"--group-id=cli", "--token-ttl", "2s", "--strict-revocation=false"},
			env{"TOKENGUARD_GROUP_ID": "g", "TOKENGUARD_TOKEN_TTL": "5m", "TOKENGUARD_STRICT_REVOCATION": "true"},
			testFlags{name: "cli", ttl: 2 * time.Second, count: 1}, ""},
		{"empty variable is unset", nil, env{"TOKENGUARD_GROUP_ID": ""}, testFlags{name: "default", ttl: time.Minute, count: 1}, ""},
		{"other variables ignored", nil, env{"GROUP_ID": "x", "TOKENGUARD_GROUPID": "y"}, testFlags{name: "default", ttl: time.Minute, count: 1}, ""},
		{"repeatable flag", []string{"--seed-user", "a:1", "--seed-user", "b:2"}, env{"TOKENGUARD_SEED_USER": "c:3"},
			testFlags{name: "default", ttl: time.Minute, count: 1, items: stringSlice{"a:1", "b:2"}}, ""},
		{"repeatable flag from the environment", nil, env{"TOKENGUARD_SEED_USER": "a:1,,b: 2"},
			testFlags{name: "default", ttl: time.Minute, count: 1, items: stringSlice{"a:1", "b: 2"}}, ""},
		{"bad duration in the environment", nil, env{"TOKENGUARD_TOKEN_TTL": "soon"}, testFlags{},
			"invalid value for flag --token-ttl from environment variable TOKENGUARD_TOKEN_TTL"},
		{"bad bool in the environment", nil, env{"TOKENGUARD_STRICT_REVOCATION": "yes please"}, testFlags{},
			"flag --strict-revocation from environment variable TOKENGUARD_STRICT_REVOCATION"},
		{"empty list in the environment", nil, env{"TOKENGUARD_SEED_USER": ",,"}, testFlags{}, "TOKENGUARD_SEED_USER"},
		{"unknown flag", []string{"--nope"}, nil, testFlags{}, "flag provided but not defined"},
		{"positional argument", []string{"extra"}, nil, testFlags{}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got testFlags
			err := parseFlags(newTestFlagSet(&got), tt.args, tt.env.lookup)
			if tt.isErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.isErr)
				var ue *usageError
				assert.True(t, errors.As(err, &ue), "a usage error exits 2")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var f testFlags
	err := parseFlags(newTestFlagSet(&f), []string{"-h"}, env{}.lookup)
	assert.ErrorIs(t, err, flag.ErrHelp)
}

func TestParseFlagsDoesNotEchoEnvValues(t *testing.T) {
	var f testFlags
	err := parseFlags(newTestFlagSet(&f), nil, env{"TOKENGUARD_COUNT": "s3cret-value"}.lookup)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret-value")
}
