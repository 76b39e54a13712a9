package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier/appservices"
)

// Mode is what the data listener does with an authenticated request.
type Mode int

const (
	// ModeProxy forwards it to Config.Upstream with identity headers set.
	ModeProxy Mode = iota + 1
	// ModeForwardAuth answers it (an auth subrequest of nginx, Traefik,
	// Caddy or Envoy) with 200 and the identity headers.
	ModeForwardAuth
)

func (m Mode) String() string {
	switch m {
	case ModeProxy:
		return "proxy"
	case ModeForwardAuth:
		return "forward-auth"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults of the Config fields whose zero value selects one.
const (
	DefaultShutdownTimeout = 15 * time.Second
	DefaultVerifyTimeout   = cache.DefaultVerifyTimeout
	DefaultMaxInflight     = cache.DefaultMaxInflight
	// DefaultMaxInflightPerClient lets one client address take an eighth
	// of DefaultMaxInflight's slots, no more.
	DefaultMaxInflightPerClient = 8
)

// Config describes one gateway process. The fields mirror the flags of
// `tokenguard proxy` and `tokenguard forward-auth`; where a zero value
// selects a default, the field says so.
type Config struct {
	// Mode is ModeProxy or ModeForwardAuth. Required.
	Mode Mode

	// Upstream is the absolute http(s) URL proxy mode forwards to; its path,
	// if any, prefixes every request's. Required in proxy mode, refused in
	// forward-auth mode.
	Upstream string

	// APIURL is the App Services base URL. Default: appservices.DefaultBaseURL.
	APIURL string
	// GroupID, AppID, PublicKey and PrivateKey name the app and the Admin
	// API key pair (see appservices.Config). Required.
	GroupID, AppID, PublicKey, PrivateKey string

	// CacheSize bounds the verified tokens cached; 0 turns the cache off,
	// so that every request is verified upstream.
	CacheSize int
	// CacheTTL is how long a verified token is cached. Default: cache.DefaultTTL.
	CacheTTL time.Duration
	// NegativeTTL is how long a refused token is remembered; 0 turns that off.
	NegativeTTL time.Duration
	// StaleIfError lets a cached token whose TTL lapsed less than this ago
	// answer while App Services is unavailable; 0 turns that off.
	StaleIfError time.Duration
	// VerifyTimeout bounds each verification (and each Admin API call).
	// Default: DefaultVerifyTimeout.
	VerifyTimeout time.Duration
	// MaxInflight bounds the upstream verifications in progress at once
	// (with the cache on). Default: DefaultMaxInflight.
	MaxInflight int

	// KeepClientHeaders names URL-override and client-identity headers
	// (X-Original-URL, X-Rewrite-URL, X-Original-URI, X-Envoy-Original-Path,
	// True-Client-IP, Client-IP, X-Client-IP, X-Cluster-Client-IP,
	// X-Remote-User, Remote-User) that proxy mode forwards as the client
	// sent them; by default every one is dropped. Proxy mode only.
	KeepClientHeaders []string
	// AllowInsecureAPIURL lets APIURL be http:// to a host that is not
	// loopback, over which the Admin API private key and every token
	// would travel in clear. Default: refused.
	AllowInsecureAPIURL bool

	// MaxInflightPerClient bounds the upstream verifications in progress at
	// once for one client address (package limit), cache on or off; a
	// client over it gets 429. Default: DefaultMaxInflightPerClient.
	MaxInflightPerClient int
	// TrustedProxies are the networks (CIDRs) of the proxies in front
	// whose X-Forwarded-For names the client (middleware.ClientAddr): a
	// request from one is attributed to the right-most untrusted address of
	// its X-Forwarded-For, and proxy mode forwards that address as
	// X-Forwarded-For. Empty: every request is its peer's. In forward-auth
	// mode the peer is the proxy, so leaving it empty counts every client
	// as one.
	TrustedProxies []string

	// RevokeSecrets, if not empty, serve the revoke webhook on the admin
	// listener's POST /revoke (see middleware.NewRevokeWebhook): a call
	// signed with any of them is accepted, so a secret can be rotated by
	// listing the old and the new one for a while. Each must be at least
	// middleware.MinWebhookSecretLen (32) bytes. It needs the cache: with
	// CacheSize 0 the webhook stays off, with a warning.
	RevokeSecrets []string
	// RevokeTolerance is how far from now a revoke call's signature time may
	// be, either way. Default: 5 minutes.
	RevokeTolerance time.Duration
	// RedisURL, if not empty, shares revocations with every replica that
	// uses the same Redis and KeyPrefix (package replicas): redis:// or
	// rediss:// (TLS), user and password in the URL. A revocation through
	// the webhook is written there first, and each replica loads the whole
	// set before it reports ready. It needs the cache. Empty: revocations
	// live in this process only.
	RedisURL string
	// RedisKeyPrefix starts the Redis keys and channel, so that several
	// apps can share one Redis. Default: replicas.DefaultKeyPrefix.
	RedisKeyPrefix string
	// PassToken forwards the client's credential upstream; by default it is
	// removed once verified.
	PassToken bool
	// IdentityPrefix starts the identity header names. Default:
	// middleware.DefaultIdentityPrefix ("X-Auth-").
	IdentityPrefix string
	// SkipPaths are path prefixes served without authentication. A
	// request is skipped when its path is clean (no dot segments, doubled
	// slashes or unusual escapes, which an upstream might resolve
	// elsewhere, or characters outside [A-Za-z0-9._~/-], such as the ";"
	// of matrix parameters) and equals a prefix or continues it with "/".
	// In forward-auth mode they apply to the original request named by
	// X-Forwarded-Uri or X-Original-URI, and need TrustForwardedURI.
	SkipPaths []string
	// TrustForwardedURI, in forward-auth mode only, trusts the
	// X-Forwarded-Uri / X-Original-URI and X-Forwarded-Method /
	// X-Original-Method headers of each auth subrequest to name the
	// original request, so that SkipPaths can apply
	// (middleware.WithTrustForwardedRequest). Set it only when the proxy in
	// front overwrites every one of those headers on every subrequest: a
	// client that can set one walks past authentication. Even then, headers
	// that repeat or disagree are not trusted. SkipPaths in forward-auth
	// mode without it are refused.
	TrustForwardedURI bool

	// ReadHeaderTimeout, BodyIdleTimeout and MaxHeaderBytes bound how a
	// request may arrive on every listener (see Limits). Defaults:
	// DefaultReadHeaderTimeout, DefaultBodyIdleTimeout,
	// DefaultMaxHeaderBytes.
	ReadHeaderTimeout time.Duration
	BodyIdleTimeout   time.Duration
	MaxHeaderBytes    int

	// TLSCertFile and TLSKeyFile, both or neither, are a PEM certificate
	// chain and its key: the data and admin listeners then serve TLS 1.2 or
	// later only (and HTTP/2 by ALPN where the engine serves it). The files
	// are re-read when either changes (checked at most every
	// DefaultCertCheckInterval, on a handshake); a new pair that does not
	// load is logged and the old one kept. Empty: plain HTTP.
	TLSCertFile, TLSKeyFile string
	// UpstreamCAFile is a PEM file of the CA certificates an https
	// Upstream's certificate must chain to, instead of the system roots;
	// UpstreamClientCertFile and UpstreamClientKeyFile, both or neither, a
	// client certificate proxy mode presents to it (mutual TLS), reloaded
	// like TLSCertFile. Empty: the system roots, no client certificate.
	UpstreamCAFile, UpstreamClientCertFile, UpstreamClientKeyFile string
	// APICAFile, APIClientCertFile and APIClientKeyFile are the same for
	// the App Services API (APIURL). They need the gateway's own HTTP
	// client: refused with HTTPClient.
	APICAFile, APIClientCertFile, APIClientKeyFile string

	// ShutdownTimeout bounds the drain of in-flight requests once Run's
	// context ends. Default: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// Logger receives the gateway's lines. If nil, slog.Default() is used.
	Logger *slog.Logger
	// AccessLog, if not nil, receives one JSON line per data-path request
	// (see AccessLog for its fields). Nil: no access log.
	AccessLog io.Writer

	// Now returns the current time for the cache, the verifier client and
	// the webhook. If nil, time.Now is used. Tests move it.
	Now func() time.Time
	// HTTPClient sends the Admin API calls. If nil, the gateway uses a
	// client of its own, whose idle connections Run closes on return.
	HTTPClient *http.Client
	// Backoff paces the start-up admin login retries.
	Backoff Backoff
	// Engine builds the data path's HTTP engine. If nil, NetHTTP is used.
	Engine EngineFunc

	// TracerProvider, if not nil, turns OpenTelemetry tracing on: a
	// server span per data-path request (continuing the client's W3C
	// traceparent, whose proxy mode sends its own upstream) with the
	// outcome, a span per upstream verification, and cache events (see
	// the package doc). The caller owns it and shuts it down after Run.
	// If nil, nothing is traced.
	TracerProvider trace.TracerProvider
}

// redactURLError returns err's message with raw, which may carry a
// password, replaced.
func redactURLError(err error, raw string) string {
	return strings.ReplaceAll(err.Error(), raw, "[the URL]")
}

// limits is the listener limits of a normalized c.
func (c Config) limits() Limits {
	return Limits{ReadHeaderTimeout: c.ReadHeaderTimeout, BodyIdleTimeout: c.BodyIdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes}
}

// appServices is the App Services client's part of c, with tc as its TLS
// configuration (nil: the default).
func (c Config) appServices(tc *tls.Config) appservices.Config {
	return appservices.Config{
		TLSClientConfig: tc,
		BaseURL:         c.APIURL,
		GroupID:         c.GroupID,
		AppID:           c.AppID,
		PublicKey:       c.PublicKey,
		PrivateKey:      c.PrivateKey,
		HTTPClient:      c.HTTPClient,
		Timeout:         c.VerifyTimeout,
		Now:             c.Now,
	}
}

// A ConfigError reports an invalid Config field. Field is the Go field name
// (such as "Upstream"), so that a command can name its own flag instead.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "gateway: Config." + e.Field + ": " + e.Msg }

func fieldErr(field, format string, a ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// normalize validates c and returns it with defaults filled in, the
// upstream parsed and the skip prefixes cleaned.
func (c Config) normalize() (Config, *url.URL, []string, error) {
	var up *url.URL
	switch c.Mode {
	case ModeProxy:
		if c.Upstream == "" {
			return c, nil, nil, fieldErr("Upstream", "required in proxy mode")
		}
		u, err := url.Parse(c.Upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
			return c, nil, nil, fieldErr("Upstream", "%q is not an absolute http(s) URL without user info or fragment", c.Upstream)
		}
		up = u
		if c.TrustForwardedURI {
			return c, nil, nil, fieldErr("TrustForwardedURI", "forward-auth mode only; proxy mode sees the request itself")
		}
	case ModeForwardAuth:
		if c.Upstream != "" {
			return c, nil, nil, fieldErr("Upstream", "forward-auth mode forwards nothing; the proxy in front does")
		}
		if len(c.SkipPaths) > 0 && !c.TrustForwardedURI {
			return c, nil, nil, fieldErr("SkipPaths", "in forward-auth mode skip paths are matched against the X-Forwarded-Uri / X-Original-URI the proxy sends, and need TrustForwardedURI")
		}
	default:
		return c, nil, nil, fieldErr("Mode", "%v is neither ModeProxy nor ModeForwardAuth", c.Mode)
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			return c, nil, nil, fieldErr("RedisURL", "%v", redactURLError(err, c.RedisURL))
		}
		if c.CacheSize == 0 {
			return c, nil, nil, fieldErr("RedisURL", "shared revocations live in the cache, and the cache is off (CacheSize 0)")
		}
	}
	if err := c.appServices(nil).Validate(); err != nil {
		var ce *appservices.ConfigError
		if !errors.As(err, &ce) {
			return c, nil, nil, err
		}
		field := ce.Field
		if field == "BaseURL" {
			field = "APIURL"
		}
		return c, nil, nil, fieldErr(field, "%s", ce.Msg)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"CacheSize", int64(c.CacheSize)}, {"CacheTTL", int64(c.CacheTTL)}, {"NegativeTTL", int64(c.NegativeTTL)},
		{"StaleIfError", int64(c.StaleIfError)}, {"VerifyTimeout", int64(c.VerifyTimeout)},
		{"MaxInflight", int64(c.MaxInflight)}, {"ShutdownTimeout", int64(c.ShutdownTimeout)},
		{"ReadHeaderTimeout", int64(c.ReadHeaderTimeout)}, {"BodyIdleTimeout", int64(c.BodyIdleTimeout)},
		{"MaxHeaderBytes", int64(c.MaxHeaderBytes)}, {"MaxInflightPerClient", int64(c.MaxInflightPerClient)},
		{"RevokeTolerance", int64(c.RevokeTolerance)},
	} {
		if f.v < 0 {
			return c, nil, nil, fieldErr(f.name, "must not be negative")
		}
	}
	for _, secret := range c.RevokeSecrets {
		if len(secret) < middleware.MinWebhookSecretLen {
			return c, nil, nil, fieldErr("RevokeSecrets", "a secret of %d bytes is shorter than the %d required (openssl rand -hex 32 makes one)",
				len(secret), middleware.MinWebhookSecretLen)
		}
	}
	if c.IdentityPrefix == "" {
		c.IdentityPrefix = middleware.DefaultIdentityPrefix
	}
	if !middleware.ValidHeaderName(c.IdentityPrefix) {
		return c, nil, nil, fieldErr("IdentityPrefix", "%q is not a header name", c.IdentityPrefix)
	}
	skips, err := cleanSkipPaths(c.SkipPaths)
	if err != nil {
		return c, nil, nil, err
	}
	if c.VerifyTimeout == 0 {
		c.VerifyTimeout = DefaultVerifyTimeout
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MaxInflightPerClient == 0 {
		c.MaxInflightPerClient = DefaultMaxInflightPerClient
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.BodyIdleTimeout == 0 {
		c.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	keep := make([]string, len(c.KeepClientHeaders))
	for i, k := range c.KeepClientHeaders {
		k = textproto.CanonicalMIMEHeaderKey(k)
		if !isOverride(k) {
			return c, nil, nil, fieldErr("KeepClientHeaders", "%q is not a URL-override or client-identity header", k)
		}
		if c.Mode != ModeProxy {
			return c, nil, nil, fieldErr("KeepClientHeaders", "proxy mode only")
		}
		keep[i] = k
	}
	c.KeepClientHeaders = keep
	if err := checkAPIURL(c.APIURL, c.AllowInsecureAPIURL); err != nil {
		return c, nil, nil, err
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			return c, nil, nil, fieldErr("TrustedProxies", "%q is not a CIDR such as 10.0.0.0/8", p)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Engine == nil {
		c.Engine = NetHTTP
	}
	return c, up, skips, nil
}

// checkAPIURL refuses an http:// App Services URL to a host that is not
// loopback unless allowed: the private key and every token would travel in
// clear.
func checkAPIURL(raw string, allow bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || allow {
		return nil // the client's own validation reports a bad URL
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return nil
	}
	return fieldErr("APIURL", "%q is plain http to a host that is not loopback: the private key and every token would travel in clear (AllowInsecureAPIURL to allow it)", raw)
}

// cleanSkipPaths checks and cleans the skip prefixes: each must be an
// absolute path, and none may be "/", which would turn authentication off.
func cleanSkipPaths(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, p := range in {
		if !strings.HasPrefix(p, "/") {
			return nil, fieldErr("SkipPaths", "%q does not start with /", p)
		}
		cp := path.Clean(p)
		if cp == "/" {
			return nil, fieldErr("SkipPaths", "%q would skip authentication for every request", p)
		}
		out = append(out, cp)
	}
	return out, nil
}
