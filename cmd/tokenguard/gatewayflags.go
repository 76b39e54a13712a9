package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/internal/gateway"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/replicas"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// gatewayFlags are the flags of proxy and forward-auth.
type gatewayFlags struct {
	listen, upstream, adminListen       string
	apiURL, groupID, appID              string
	publicKey, privateKey               string
	cacheSize, maxInflight              int
	cacheTTL, negativeTTL, staleIfError time.Duration
	verifyTimeout, shutdownTimeout      time.Duration
	readHeaderTimeout, bodyIdleTimeout  time.Duration
	maxHeaderBytes, maxInflightClient   int
	trustedProxies, keepHeaders         stringSlice
	allowInsecureAPIURL                 bool
	identityPrefix                      string
	revokeSecrets                       stringSlice
	revokeTolerance                     time.Duration
	redisURL, redisKeyPrefix            string
	passToken, trustForwardedURI        bool
	skipPaths                           stringSlice
	logFormat, logLevel                 string
	accessLog                           string
	engine                              string
	otel                                bool
	tlsFlags
}

// register defines the flags on fs; upstream only in proxy mode.
func (f *gatewayFlags) register(fs *flag.FlagSet, mode gateway.Mode) {
	listenHelp := "address of the data listener"
	if mode == gateway.ModeForwardAuth {
		listenHelp += "; it answers identity data for any token it is shown, so only the proxy in front may reach it " +
			"(bind it to loopback or a private interface, or firewall it)"
	}
	fs.StringVar(&f.listen, "listen", ":8080", listenHelp)
	if mode == gateway.ModeProxy {
		fs.StringVar(&f.upstream, "upstream", "", "absolute http(s) `URL` to forward authenticated requests to (required)")
	}
	fs.StringVar(&f.adminListen, "admin-listen", "127.0.0.1:9090", "address of the admin listener (GET /metrics, /healthz, /readyz; POST /revoke); empty: none")
	fs.StringVar(&f.apiURL, "api-url", appservices.DefaultBaseURL, "App Services base `URL`; the Admin API is under /api/admin/v3.0")
	fs.BoolVar(&f.allowInsecureAPIURL, "allow-insecure-api-url", false,
		"allow an http:// --api-url to a host that is not loopback (the private key and every token then travel in clear)")
	fs.StringVar(&f.groupID, "group-id", "", "Atlas project (group) id (required)")
	fs.StringVar(&f.appID, "app-id", "", "the app's internal ObjectId, not its client app id (required)")
	fs.StringVar(&f.publicKey, "public-key", "", "Admin API public key (required)")
	fs.StringVar(&f.privateKey, "private-key", "", "Admin API private key (required; prefer the environment to the command line)")
	fs.IntVar(&f.cacheSize, "cache-size", cache.DefaultSize, "verified tokens kept in the cache; 0 turns the cache off")
	fs.DurationVar(&f.cacheTTL, "cache-ttl", cache.DefaultTTL, "how long a verified token is answered from the cache (never past its exp)")
	fs.DurationVar(&f.negativeTTL, "negative-ttl", cache.DefaultNegativeTTL, "how long a refused token is refused from the cache; 0: not cached")
	fs.DurationVar(&f.staleIfError, "stale-if-error", 0, "answer a cached token up to this long past its TTL while App Services is unavailable; 0: off")
	fs.DurationVar(&f.verifyTimeout, "verify-timeout", gateway.DefaultVerifyTimeout, "bound on one verification (and on each Admin API call)")
	fs.IntVar(&f.maxInflight, "max-inflight", gateway.DefaultMaxInflight, "upstream verifications in progress at once (with the cache on)")
	fs.IntVar(&f.maxInflightClient, "max-inflight-per-client", gateway.DefaultMaxInflightPerClient,
		"upstream verifications in progress at once for one client address (cache on or off); over it: 429")
	fs.Var(&f.trustedProxies, "trusted-proxies", "`CIDR` of a proxy in front whose X-Forwarded-For names the client: a request from it is "+
		"counted against the right-most untrusted address of X-Forwarded-For (repeatable; comma-separated in the environment); "+
		"in forward-auth mode set it to the proxy's address, or every client counts as the proxy")
	fs.Var(&f.revokeSecrets, "revoke-secret", "HMAC secret of the revoke webhook (POST /revoke on the admin listener), at least 32 bytes; "+
		"repeatable (comma-separated in the environment) to rotate: a call signed with any one is accepted; none: webhook off")
	fs.DurationVar(&f.revokeTolerance, "revoke-tolerance", 5*time.Minute, "how far from now a revoke call's signature time (t=) may be, either way; the window in which a captured call can be replayed")
	fs.StringVar(&f.redisURL, "redis-url", "", "share revocations with every replica through this Redis (`URL` redis://[user:password@]host:port/db, rediss:// for TLS); "+
		"replicas load them before they are ready; empty: revocations live in this process only")
	fs.StringVar(&f.redisKeyPrefix, "redis-key-prefix", replicas.DefaultKeyPrefix, "prefix of the Redis keys and channel, so that several apps can share one Redis")
	if mode == gateway.ModeProxy {
		fs.Var(&f.keepHeaders, "keep-client-header", "URL-override or client-identity `header` (X-Original-URL, True-Client-IP, X-Remote-User, ...) "+
			"to forward as the client sent it; by default all are dropped (repeatable; comma-separated in the environment)")
	}
	fs.BoolVar(&f.passToken, "pass-token", false, "forward the client's token upstream; by default it is removed once verified")
	fs.StringVar(&f.identityPrefix, "identity-prefix", middleware.DefaultIdentityPrefix, "prefix of the identity headers; client headers with it are always removed")
	skipHelp := "path `prefix` served without authentication, whole segments, clean paths of [A-Za-z0-9._~/-] only (repeatable; comma-separated in the environment)"
	if mode == gateway.ModeForwardAuth {
		skipHelp += "; matched against X-Forwarded-Uri / X-Original-URI, so it needs --trust-forwarded-uri"
	}
	fs.Var(&f.skipPaths, "skip-path", skipHelp)
	if mode == gateway.ModeForwardAuth {
		fs.BoolVar(&f.trustForwardedURI, "trust-forwarded-uri", false,
			"trust X-Forwarded-Uri / X-Original-URI and X-Forwarded-Method / X-Original-Method to name the original request, "+
				"so that --skip-path applies; only if the proxy in front overwrites ALL of them on every auth subrequest "+
				"(headers that repeat or disagree are never trusted)")
	}
	fs.DurationVar(&f.readHeaderTimeout, "read-header-timeout", gateway.DefaultReadHeaderTimeout,
		"every listener: how long a request's line and header may take to arrive")
	fs.DurationVar(&f.bodyIdleTimeout, "body-idle-timeout", gateway.DefaultBodyIdleTimeout,
		"data listener: how long an authenticated request's body may stall between reads (a refused request's body is never read); "+
			"admin listener: how long a request body may take in all")
	fs.IntVar(&f.maxHeaderBytes, "max-header-bytes", gateway.DefaultMaxHeaderBytes,
		"every listener: cap on a request's line and header, in bytes; over it: 431")
	fs.StringVar(&f.engine, "engine", "nethttp", "HTTP engine of the data listener: nethttp or fasthttp")
	fs.BoolVar(&f.otel, "otel", false, "export OpenTelemetry traces over OTLP/HTTP, configured by the standard OTEL_EXPORTER_OTLP_* variables "+
		"(default endpoint http://localhost:4318); also on when OTEL_TRACES_EXPORTER=otlp or OTEL_EXPORTER_OTLP_ENDPOINT is set, "+
		"off with OTEL_TRACES_EXPORTER=none")
	f.tlsFlags.register(fs, mode)
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: json or text")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.accessLog, "access-log", "", "write one JSON line per data-path request (method, path without query, status, duration, bytes, "+
		"outcome, user id; never a token) to `stdout`, stderr or the named file (appended to, never rotated: rotate with copytruncate); empty: none")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", gateway.DefaultShutdownTimeout, "on SIGTERM or SIGINT, how long in-flight requests may take to finish")
}

// config checks the flag values that only the command knows and returns the
// gateway.Config they describe. Zero durations that the flags reject here
// keep gateway.Config's own meaning out of the command line.
func (f *gatewayFlags) config(mode gateway.Mode, log *slog.Logger) (gateway.Config, error) {
	switch {
	case f.cacheSize > 0 && f.cacheTTL <= 0:
		return gateway.Config{}, usagef("--cache-ttl must be positive")
	case f.verifyTimeout <= 0:
		return gateway.Config{}, usagef("--verify-timeout must be positive")
	case f.maxInflight <= 0:
		return gateway.Config{}, usagef("--max-inflight must be positive")
	case f.revokeTolerance <= 0:
		return gateway.Config{}, usagef("--revoke-tolerance must be positive")
	case f.shutdownTimeout <= 0:
		return gateway.Config{}, usagef("--shutdown-timeout must be positive")
	case f.readHeaderTimeout <= 0:
		return gateway.Config{}, usagef("--read-header-timeout must be positive")
	case f.bodyIdleTimeout <= 0:
		return gateway.Config{}, usagef("--body-idle-timeout must be positive")
	case f.maxInflightClient <= 0:
		return gateway.Config{}, usagef("--max-inflight-per-client must be positive")
	case f.maxHeaderBytes <= 0:
		return gateway.Config{}, usagef("--max-header-bytes must be positive")
	case mode == gateway.ModeForwardAuth && len(f.skipPaths) > 0 && !f.trustForwardedURI:
		return gateway.Config{}, usagef("--skip-path in forward-auth mode needs --trust-forwarded-uri: skip paths are matched against " +
			"the X-Forwarded-Uri / X-Original-URI headers, which the proxy in front must overwrite on every auth subrequest " +
			"(examples/nginx/nginx.conf does)")
	}
	engine, err := gateway.EngineNamed(f.engine)
	if err != nil {
		return gateway.Config{}, usagef("--engine %q: want nethttp or fasthttp", f.engine)
	}
	return gateway.Config{
		Engine:                 engine,
		Mode:                   mode,
		Upstream:               f.upstream,
		APIURL:                 f.apiURL,
		GroupID:                f.groupID,
		AppID:                  f.appID,
		PublicKey:              f.publicKey,
		PrivateKey:             f.privateKey,
		CacheSize:              f.cacheSize,
		CacheTTL:               f.cacheTTL,
		NegativeTTL:            f.negativeTTL,
		StaleIfError:           f.staleIfError,
		VerifyTimeout:          f.verifyTimeout,
		MaxInflight:            f.maxInflight,
		RevokeSecrets:          f.revokeSecrets,
		RevokeTolerance:        f.revokeTolerance,
		RedisURL:               f.redisURL,
		RedisKeyPrefix:         f.redisKeyPrefix,
		PassToken:              f.passToken,
		IdentityPrefix:         f.identityPrefix,
		SkipPaths:              f.skipPaths,
		TrustForwardedURI:      f.trustForwardedURI,
		ShutdownTimeout:        f.shutdownTimeout,
		ReadHeaderTimeout:      f.readHeaderTimeout,
		BodyIdleTimeout:        f.bodyIdleTimeout,
		MaxHeaderBytes:         f.maxHeaderBytes,
		MaxInflightPerClient:   f.maxInflightClient,
		TrustedProxies:         f.trustedProxies,
		KeepClientHeaders:      f.keepHeaders,
		AllowInsecureAPIURL:    f.allowInsecureAPIURL,
		Logger:                 log,
		TLSCertFile:            f.tlsCert,
		TLSKeyFile:             f.tlsKey,
		UpstreamCAFile:         f.upstreamCA,
		UpstreamClientCertFile: f.upstreamCert,
		UpstreamClientKeyFile:  f.upstreamKey,
		APICAFile:              f.apiCA,
		APIClientCertFile:      f.apiCert,
		APIClientKeyFile:       f.apiKey,
	}, nil
}

// configFlags names the flag of each gateway.Config field, so that a
// *gateway.ConfigError can be reported in the command's own terms.
var configFlags = map[string]string{
	"Upstream": "upstream", "APIURL": "api-url", "GroupID": "group-id", "AppID": "app-id",
	"PublicKey": "public-key", "PrivateKey": "private-key", "CacheSize": "cache-size",
	"CacheTTL": "cache-ttl", "NegativeTTL": "negative-ttl", "StaleIfError": "stale-if-error",
	"VerifyTimeout": "verify-timeout", "MaxInflight": "max-inflight", "IdentityPrefix": "identity-prefix",
	"SkipPaths": "skip-path", "ShutdownTimeout": "shutdown-timeout", "TrustForwardedURI": "trust-forwarded-uri",
	"RedisURL": "redis-url", "RedisKeyPrefix": "redis-key-prefix", "RevokeSecrets": "revoke-secret",
	"RevokeTolerance":   "revoke-tolerance",
	"KeepClientHeaders": "keep-client-header", "AllowInsecureAPIURL": "allow-insecure-api-url",
	"MaxInflightPerClient": "max-inflight-per-client", "TrustedProxies": "trusted-proxies",
	"TLSCertFile": "tls-cert-file", "UpstreamCAFile": "upstream-ca-file", "UpstreamClientCertFile": "upstream-client-cert-file",
	"APICAFile": "api-ca-file", "APIClientCertFile": "api-client-cert-file",
	"ReadHeaderTimeout": "read-header-timeout", "BodyIdleTimeout": "body-idle-timeout", "MaxHeaderBytes": "max-header-bytes",
}

// newLogger returns the logger --log-format and --log-level describe,
// writing to w.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want json or text", format)
}

// gatewayUsage prints the help of proxy or forward-auth.
func gatewayUsage(fs *flag.FlagSet, w io.Writer, mode gateway.Mode) func() {
	return func() {
		switch mode {
		case gateway.ModeProxy:
			fmt.Fprintln(w, "usage: tokenguard proxy --upstream URL [flags]")
			fmt.Fprintln(w, "\nAuthenticate every request with its App Services access token and forward it to")
			fmt.Fprintln(w, "--upstream with X-Auth-* identity headers set and the token removed.")
		default:
			fmt.Fprintln(w, "usage: tokenguard forward-auth [flags]")
			fmt.Fprintln(w, "\nAnswer the auth subrequests of nginx (auth_request), Traefik, Caddy or Envoy on")
			fmt.Fprintln(w, "any path of --listen: 200 with X-Auth-* identity headers, or 401, 400 or 503.")
		}
		fmt.Fprintln(w, "\nEvery flag may also be set in the environment as TOKENGUARD_<FLAG>, upper case")
		fmt.Fprintln(w, "with dashes as underscores (--private-key: TOKENGUARD_PRIVATE_KEY); the command")
		fmt.Fprintln(w, "line wins. SIGTERM or SIGINT drains in-flight requests and exits 0.")
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
}
