package gateway

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/internal/buildinfo"
	"github.com/tokenguard/tokenguard/limit"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/replicas"
	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// chain is the authentication of one gateway, read top-down: the Admin API
// client, the cache in front of it (unless off), and the middleware with
// identity headers in front of that, all counting into one registry.
type chain struct {
	client  *appservices.Client
	cache   *cache.Cache     // nil when Config.CacheSize is 0
	feed    *replicas.Feed   // revocations shared through Redis; nil without Config.RedisURL
	rdb     *redis.Client    // the feed's; nil without it
	local   verifier.Revoker // the cache and the tunnels: what a revocation does in this process; nil without a cache
	tunnels *Tunnels         // upgraded connections by user; nil in forward-auth mode
	proxyM  *ProxyMetrics    // the proxy's request histogram; nil in forward-auth mode
	auth    *middleware.Middleware
	access  *AccessLog // nil: no access log
	reg     *prometheus.Registry
	skip    func(string, bool) bool
	ownHC   bool // the client's HTTP client is its own: Run closes its idle connections
}

// newChain builds the chain of a normalized Config. Each part is built on
// the one below it, and the cache (or, with Config.RedisURL, the feed that
// shares revocations with the other replicas and applies them to the cache)
// is registered with the client as a Revoker once both exist: revocations
// through the client's Users operations purge it at once.
func newChain(c Config, skips []string) (*chain, error) {
	trusted := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, p := range c.TrustedProxies {
		trusted = append(trusted, netip.MustParsePrefix(p).Masked()) // checked by normalize
	}
	ch := &chain{reg: prometheus.NewRegistry(), skip: skipFunc(skips), ownHC: c.HTTPClient == nil}
	ch.reg.MustRegister(buildinfo.Read().Collector())
	ch.reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)

	apiTLS, err := clientTLSConfig("API", c.APICAFile, c.APIClientCertFile, c.APIClientKeyFile, c.Now, c.Logger)
	if err != nil {
		return nil, err
	}
	if apiTLS != nil && c.HTTPClient != nil {
		return nil, fieldErr("APICAFile", "the App Services TLS files need the gateway's own HTTP client (HTTPClient nil)")
	}
	client, err := appservices.NewClient(c.appServices(apiTLS))
	if err != nil {
		return nil, err
	}
	ch.client = client
	if c.Mode == ModeProxy {
		ch.tunnels = newTunnels(c.Now, ch.reg)
		ch.proxyM = newProxyMetrics(ch.reg)
	}

	// Below the cache (or the pre-check), the per-client limit: a hit never
	// reaches it, and a shared flight counts against the client that
	// started it.
	upstream := limit.PerClient(client, c.MaxInflightPerClient)

	// Without a cache (a shared HTTP cache in front does the caching), the
	// local pre-check still keeps junk and expired tokens off App Services.
	var v verifier.Verifier = cache.Precheck(upstream, cache.Options{Now: c.Now, TracerProvider: c.TracerProvider})
	if c.CacheSize > 0 {
		neg := c.NegativeTTL
		if neg == 0 {
			neg = -1 // the cache's "off"; its zero means its default
		}
		ch.cache = cache.New(upstream, cache.Options{
			Size:           c.CacheSize,
			TTL:            c.CacheTTL,
			NegativeTTL:    neg,
			VerifyTimeout:  c.VerifyTimeout,
			MaxInflight:    c.MaxInflight,
			StaleIfError:   c.StaleIfError,
			Now:            c.Now,
			Registerer:     ch.reg,
			TracerProvider: c.TracerProvider,
		})
		v = ch.cache
		ch.local = ch.cache
		if ch.tunnels != nil {
			ch.local = revokers{ch.cache, ch.tunnels} // a revoked user's tunnels close too
		}
		revoker := ch.local
		if c.RedisURL != "" {
			opt, err := redis.ParseURL(c.RedisURL) // checked by normalize
			if err != nil {
				return nil, err
			}
			ch.rdb = redis.NewClient(opt)
			ch.feed = replicas.New(ch.rdb, ch.local, replicas.Options{
				KeyPrefix:  c.RedisKeyPrefix,
				Logger:     c.Logger,
				Registerer: ch.reg,
				Now:        c.Now,
			})
			revoker = ch.feed
		}
		client.OnRevoke(revoker)
	}

	opts := []middleware.Option{
		middleware.WithIdentityHeaders(middleware.IdentityHeaders{
			Prefix: c.IdentityPrefix,
			// ForwardAuth cannot hide credentials (the proxy forwards
			// the client's request as it is): spare Authenticate
			// working out how.
			KeepCredential: c.Mode != ModeProxy || c.PassToken,
		}),
		middleware.WithLogger(c.Logger),
		middleware.WithRegisterer(ch.reg),
		middleware.WithClientAddress(trusted...),
	}
	if c.TracerProvider != nil {
		opts = append(opts, middleware.WithTracerProvider(c.TracerProvider))
	}
	if ch.skip != nil {
		opts = append(opts, middleware.WithSkip(httpSkip(ch.skip)))
	}
	if c.AccessLog != nil {
		opts = append(opts, middleware.WithObserver(ObserveAccess))
	}
	if c.Mode == ModeForwardAuth && c.TrustForwardedURI {
		// Only an explicit TrustForwardedURI lets skipping look at the
		// original request as the proxy describes it.
		opts = append(opts, middleware.WithTrustForwardedRequest(true))
	}
	ch.auth = middleware.New(v, opts...)
	if c.AccessLog != nil {
		ch.access = NewAccessLog(c.AccessLog, ch.auth.HTTPClientAddr)
	}
	return ch, nil
}

// revoker is where revocations go: the feed when there is one (it applies
// each one, its own and other replicas', to ch.local), else ch.local; nil
// without a cache.
func (ch *chain) revoker() verifier.Revoker {
	if ch.feed != nil {
		return ch.feed
	}
	return ch.local
}
