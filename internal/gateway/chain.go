package gateway

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// chain is the authentication of one gateway, read top-down: the Admin API
// client, the cache in front of it (unless off), and the middleware in
// gateway mode in front of that, all counting into one registry.
type chain struct {
	client *appservices.Client
	cache  *cache.Cache // nil when Config.CacheSize is 0
	auth   *middleware.Middleware
	reg    *prometheus.Registry
	skip   func(string, bool) bool
	ownHC  *http.Client // the Admin API client Run must close; nil if Config.HTTPClient
}

// newChain builds the chain of a normalized Config.
func newChain(c Config, skips []string) (*chain, error) {
	ch := &chain{reg: prometheus.NewRegistry(), skip: skipFunc(skips)}
	ch.reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)

	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: adminTransport()}
		ch.ownHC = hc
	}
	client, err := appservices.NewClient(appservices.Config{
		BaseURL:    c.APIURL,
		GroupID:    c.GroupID,
		AppID:      c.AppID,
		PublicKey:  c.PublicKey,
		PrivateKey: c.PrivateKey,
		HTTPClient: hc,
		Timeout:    c.VerifyTimeout,
		Now:        c.Now,
		// The cache does not exist yet; ch.cache is set below, before
		// the client can be used.
		OnRevoke: func(userID string, at time.Time) {
			if ch.cache != nil {
				ch.cache.Revoke(userID, at)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	ch.client = client

	// Without a cache (a shared HTTP cache in front does the caching), the
	// local pre-check still keeps junk and expired tokens off App Services.
	var v verifier.Verifier = cache.Precheck(client, cache.Options{Now: c.Now})
	if c.CacheSize > 0 {
		neg := c.NegativeTTL
		if neg == 0 {
			neg = -1 // the cache's "off"; its zero means its default
		}
		ch.cache = cache.New(client, cache.Options{
			Size:          c.CacheSize,
			TTL:           c.CacheTTL,
			NegativeTTL:   neg,
			VerifyTimeout: c.VerifyTimeout,
			MaxInflight:   c.MaxInflight,
			StaleIfError:  c.StaleIfError,
			Now:           c.Now,
			Registerer:    ch.reg,
		})
		v = ch.cache
	}

	opts := []middleware.Option{
		middleware.WithIdentityHeaders(c.IdentityPrefix),
		middleware.WithLogger(c.Logger),
		middleware.WithRegisterer(ch.reg),
	}
	if c.Mode == ModeProxy {
		opts = append(opts, middleware.WithHideCredentials(!c.PassToken))
	} else {
		// ForwardAuth cannot hide credentials (the proxy forwards the
		// client's request as it is): spare Authenticate working out how.
		opts = append(opts, middleware.WithHideCredentials(false))
	}
	if ch.skip != nil {
		opts = append(opts, middleware.WithSkip(httpSkip(ch.skip)))
	}
	if c.Mode == ModeForwardAuth && c.TrustForwardedURI {
		// Only an explicit TrustForwardedURI lets skipping look at the
		// original request as the proxy describes it.
		opts = append(opts, middleware.WithTrustForwardedRequest(true))
	}
	ch.auth = middleware.New(v, opts...)
	return ch, nil
}

// adminTransport is the Transport of the gateway's own Admin API client: a
// clone of http.DefaultTransport (proxy from the environment, HTTP/2) with a
// keep-alive pool sized for MaxInflight concurrent verifications.
func adminTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}
