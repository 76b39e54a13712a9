package gateway

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validConfig() Config {
	return Config{
		Mode: ModeProxy, Upstream: "http://127.0.0.1:3000",
		GroupID: "g", AppID: "a", PublicKey: "pub", PrivateKey: "priv",
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no mode", func(c *Config) { c.Mode = 0 }, "Mode"},
		{"proxy without upstream", func(c *Config) { c.Upstream = "" }, "Upstream"},
		{"upstream not http", func(c *Config) { c.Upstream = "ftp://x" }, "Upstream"},
		{"upstream relative", func(c *Config) { c.Upstream = "/app" }, "Upstream"},
		{"upstream with user info", func(c *Config) { c.Upstream = "http://u:p@x" }, "Upstream"},
		{"forward-auth with upstream", func(c *Config) { c.Mode = ModeForwardAuth }, "Upstream"},
		{"no group id", func(c *Config) { c.GroupID = "" }, "GroupID"},
		{"no app id", func(c *Config) { c.AppID = "" }, "AppID"},
		{"no public key", func(c *Config) { c.PublicKey = "" }, "PublicKey"},
		{"no private key", func(c *Config) { c.PrivateKey = "" }, "PrivateKey"},
		{"api url not http", func(c *Config) { c.APIURL = "services.cloud.mongodb.com" }, "APIURL"},
		{"negative cache size", func(c *Config) { c.CacheSize = -1 }, "CacheSize"},
		{"negative cache ttl", func(c *Config) { c.CacheTTL = -1 }, "CacheTTL"},
		{"negative negative ttl", func(c *Config) { c.NegativeTTL = -1 }, "NegativeTTL"},
		{"negative stale", func(c *Config) { c.StaleIfError = -1 }, "StaleIfError"},
		{"negative verify timeout", func(c *Config) { c.VerifyTimeout = -1 }, "VerifyTimeout"},
		{"negative max inflight", func(c *Config) { c.MaxInflight = -1 }, "MaxInflight"},
		{"negative shutdown timeout", func(c *Config) { c.ShutdownTimeout = -1 }, "ShutdownTimeout"},
		{"prefix not a header name", func(c *Config) { c.IdentityPrefix = "X Auth:" }, "IdentityPrefix"},
		{"relative skip path", func(c *Config) { c.SkipPaths = []string{"healthz"} }, "SkipPaths"},
		{"skip path skipping all", func(c *Config) { c.SkipPaths = []string{"/a/.."} }, "SkipPaths"},
		{"forward-auth skip path without trusting the forwarded uri", func(c *Config) {
			c.Mode, c.Upstream, c.SkipPaths = ModeForwardAuth, "", []string{"/healthz"}
		}, "SkipPaths"},
		{"trusting the forwarded uri in proxy mode", func(c *Config) { c.TrustForwardedURI = true }, "TrustForwardedURI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			_, err := New(c)
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "err = %v", err)
			assert.Equal(t, tt.field, ce.Field)
			assert.Contains(t, err.Error(), "gateway: Config."+tt.field)
		})
	}
}

func TestNewKeepsSecretsOutOfErrors(t *testing.T) {
	c := validConfig()
	c.PrivateKey = "very-secret-private-key"
	c.Upstream = "ftp://nope"
	_, err := New(c)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "very-secret-private-key")
}
