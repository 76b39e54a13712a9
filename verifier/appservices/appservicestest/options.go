package appservicestest

import (
	"time"
)

// Defaults used by NewServer. They are fixed so that demos and tests can be
// written against known values; none of them is a secret.
const (
	// DefaultGroupID is the Atlas project id the emulator answers for.
	DefaultGroupID = "6650a1b2c3d4e5f601234567"
	// DefaultAppID is the app's internal ObjectId.
	DefaultAppID = "6650a1b2c3d4e5f60123abcd"
	// DefaultClientAppID is the client app id end users log in with.
	DefaultClientAppID = "tokenguard-demo-abcde"
	// DefaultPublicKey and DefaultPrivateKey are the Admin API key pair.
	DefaultPublicKey  = "demo-public-key"
	DefaultPrivateKey = "demo-private-key"
	// DefaultDomainID is the domain id carried by tokens and users.
	DefaultDomainID = "6650a1b2c3d4e5f60123d0d0"

	// DefaultTokenTTL is the lifetime of client access tokens.
	DefaultTokenTTL = 30 * time.Minute
	// DefaultAdminTokenTTL is the lifetime of Admin API access tokens.
	DefaultAdminTokenTTL = 30 * time.Minute
	// DefaultRefreshTokenTTL is the lifetime of refresh tokens (client and admin).
	DefaultRefreshTokenTTL = 60 * 24 * time.Hour
)

// An Option configures a Server.
type Option func(*settings)

type settings struct {
	addr                      string
	groupID, appID, clientApp string
	publicKey, privateKey     string
	tokenTTL, adminTTL        time.Duration
	refreshTTL                time.Duration
	strict                    bool
	now                       func() time.Time
	latency, jitter           time.Duration
	signingKey                []byte
	malformedStatus           int
	confirmation              ConfirmationMode
	confirmFn, resetFn        Function
	mailer                    func(Mail)
}

func defaultSettings() settings {
	return settings{
		addr:            "127.0.0.1:0",
		groupID:         DefaultGroupID,
		appID:           DefaultAppID,
		clientApp:       DefaultClientAppID,
		publicKey:       DefaultPublicKey,
		privateKey:      DefaultPrivateKey,
		tokenTTL:        DefaultTokenTTL,
		adminTTL:        DefaultAdminTokenTTL,
		refreshTTL:      DefaultRefreshTokenTTL,
		now:             time.Now,
		malformedStatus: 401,
	}
}

// WithAddr makes the server listen on addr. The emulator is meant for
// loopback use; it serves whatever address it is given.
// Default: "127.0.0.1:0" (a free loopback port).
func WithAddr(addr string) Option { return func(s *settings) { s.addr = addr } }

// WithIDs sets the group id, app id and client app id the server answers
// for; requests naming others get 404. Empty arguments keep the default.
// Default: DefaultGroupID, DefaultAppID, DefaultClientAppID.
func WithIDs(groupID, appID, clientAppID string) Option {
	return func(s *settings) {
		if groupID != "" {
			s.groupID = groupID
		}
		if appID != "" {
			s.appID = appID
		}
		if clientAppID != "" {
			s.clientApp = clientAppID
		}
	}
}

// WithKeys sets the Admin API key pair admin login accepts.
// Default: DefaultPublicKey, DefaultPrivateKey.
func WithKeys(public, private string) Option {
	return func(s *settings) { s.publicKey, s.privateKey = public, private }
}

// WithTokenTTL sets the lifetime of client access tokens. Default: 30m.
func WithTokenTTL(d time.Duration) Option { return func(s *settings) { s.tokenTTL = d } }

// WithAdminTokenTTL sets the lifetime of Admin API access tokens. Default: 30m.
func WithAdminTokenTTL(d time.Duration) Option { return func(s *settings) { s.adminTTL = d } }

// WithRefreshTokenTTL sets the lifetime of refresh tokens. Default: 60 days.
func WithRefreshTokenTTL(d time.Duration) Option { return func(s *settings) { s.refreshTTL = d } }

// WithStrictRevocation makes verify_token refuse, at once, access tokens whose
// session has been revoked (PUT .../logout), whose user has been disabled, or
// whose user has been deleted. Default: false, which is what App Services
// does: such tokens keep verifying until they expire (only refresh fails).
func WithStrictRevocation(strict bool) Option { return func(s *settings) { s.strict = strict } }

// WithClock sets the base clock; Server.Advance adds an offset on top of it.
// Default: time.Now.
func WithClock(now func() time.Time) Option { return func(s *settings) { s.now = now } }

// WithLatency delays every Admin API call (verify_token included) by fixed
// plus a uniformly random duration in [0, jitter). Default: no delay.
func WithLatency(fixed, jitter time.Duration) Option {
	return func(s *settings) { s.latency, s.jitter = fixed, jitter }
}

// WithSigningKey sets the HMAC key client tokens are signed with.
// Default: 32 random bytes per server.
func WithSigningKey(key []byte) Option {
	return func(s *settings) { s.signingKey = append([]byte(nil), key...) }
}

// WithMalformedTokenStatus sets the status verify_token answers for a
// malformed or badly signed token: 401 (what the docs describe, with body
// {"error":"signature is invalid"}) or 400 (what the OpenAPI spec says, with
// error_code "BadRequest"). Clients must handle both. Default: 401.
func WithMalformedTokenStatus(status int) Option {
	if status != 400 && status != 401 {
		panic("appservicestest: WithMalformedTokenStatus wants 400 or 401")
	}
	return func(s *settings) { s.malformedStatus = status }
}

// WithConfirmation sets how email/password registrations
// (POST .../local-userpass/register) are confirmed. ConfirmFunction needs
// WithConfirmationFunction. Default: ConfirmAuto.
func WithConfirmation(m ConfirmationMode) Option {
	if m < ConfirmAuto || m > ConfirmFunction {
		panic("appservicestest: WithConfirmation: unknown mode")
	}
	return func(s *settings) { s.confirmation = m }
}

// WithConfirmationFunction sets the confirmation function, run on each
// registration and on POST .../confirm/call, and selects ConfirmFunction.
// Default: none.
func WithConfirmationFunction(f Function) Option {
	if f == nil {
		panic("appservicestest: WithConfirmationFunction(nil)")
	}
	return func(s *settings) { s.confirmFn, s.confirmation = f, ConfirmFunction }
}

// WithResetFunction makes password resets run f (POST .../reset/call) with
// {username, password, token, tokenId, currentPasswordValid} and the call's
// own arguments; POST .../reset/send then answers 400, as the service does
// when a reset function is configured. Default: none: password reset emails.
func WithResetFunction(f Function) Option {
	if f == nil {
		panic("appservicestest: WithResetFunction(nil)")
	}
	return func(s *settings) { s.resetFn = f }
}

// WithMailer receives every email the email/password provider would send:
// confirmation emails (ConfirmEmail) and password reset emails. It is called
// without the server's lock held, once the request has been handled, and
// must be safe for concurrent use. Default: emails are dropped.
func WithMailer(f func(Mail)) Option { return func(s *settings) { s.mailer = f } }
