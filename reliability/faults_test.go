package reliability

import (
	"net/http"
	"time"

	"github.com/stretchr/testify/require"

	vt "github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

// faultCase is one row of the fault matrix: how to break the upstream, how
// to mend it, and what the chain must answer meanwhile.
type faultCase struct {
	name string
	// recoverable: the verifier client works around the fault by itself
	// (renewing its admin session), so valid tokens keep getting 200 and
	// forged ones 401. Otherwise verification is unavailable: unknown
	// tokens get 503, never 401, and cached ones are served stale.
	recoverable bool
	// retryAfter is the Retry-After every 503 must carry; "" means the
	// middleware's default.
	retryAfter string
	// verifyTimeout and clientTimeout, when set, replace the cache's
	// VerifyTimeout and the client's Config.Timeout (both real time).
	verifyTimeout time.Duration
	clientTimeout time.Duration
	inject        func(c *chain) // start the fault
	eachBatch     func(c *chain) // run before each batch while the fault lasts
	midway        func(c *chain) // run while each batch is half done
	heal          func(c *chain) // end it; default ClearFaults
	// check, if set, asserts on the client's Admin API attempts made while
	// the fault lasted.
	check func(t require.TestingT, d attempts)
}

// attempts are the verifier client's Admin API requests during a fault.
type attempts struct{ verify, login, refresh int64 }

func onVerify(f vt.Fault) func(c *chain) {
	f.Endpoint = vt.EndpointVerifyToken
	return func(c *chain) { c.srv.FailFraction(1, f) }
}

// invalidSession is the Admin API's answer to an expired admin session.
const invalidSession = `{"error":"invalid session: access token expired","error_code":"InvalidSession"}`

func expireAdmin(c *chain) { c.srv.ExpireAdminSessions() }

func faultCases() []faultCase {
	return []faultCase{
		{name: "verify 500", inject: onVerify(vt.Fault{Status: http.StatusInternalServerError})},
		{name: "verify 502", inject: onVerify(vt.Fault{Status: http.StatusBadGateway})},
		{name: "verify 503", inject: onVerify(vt.Fault{Status: http.StatusServiceUnavailable})},
		{
			name:       "verify 429 Retry-After 7s",
			retryAfter: "7",
			inject:     onVerify(vt.Fault{Status: http.StatusTooManyRequests, RetryAfter: 7 * time.Second}),
		},
		{name: "connection reset", inject: onVerify(vt.Fault{Kind: vt.FaultReset})},
		{
			name:   "connect refused (emulator stopped)",
			inject: func(c *chain) { c.srv.Stop() },
			heal:   func(c *chain) { _ = c.srv.Restart() },
		},
		{
			name:          "stall past VerifyTimeout 500ms",
			verifyTimeout: 500 * time.Millisecond,
			inject:        onVerify(vt.Fault{Kind: vt.FaultStall}),
		},
		{
			name:          "slow-drip body vs client Timeout 1s",
			clientTimeout: time.Second,
			inject:        onVerify(vt.Fault{Kind: vt.FaultSlowBody, Delay: 100 * time.Millisecond}),
		},
		{name: "malformed JSON", inject: onVerify(vt.Fault{Kind: vt.FaultMalformedJSON})},
		{name: "oversized body (>1 MiB)", inject: onVerify(vt.Fault{Kind: vt.FaultOversized})},
		{
			// Once per batch, while half of it is in flight. Twice within
			// one verification would be answered 503: the client renews
			// its session and retries once.
			name:        "admin token expiring mid-load",
			recoverable: true,
			inject:      func(*chain) {},
			midway:      expireAdmin,
			check: func(t require.TestingT, d attempts) {
				require.Positive(t, d.refresh, "the client renews its admin session")
			},
		},
		{
			name:        "admin login failing (refresh works)",
			recoverable: true,
			inject: func(c *chain) {
				c.srv.FailFraction(1, vt.Fault{Endpoint: vt.EndpointAdminLogin, Status: http.StatusUnauthorized})
			},
			eachBatch: expireAdmin,
			check: func(t require.TestingT, d attempts) {
				require.Positive(t, d.refresh, "the client refreshes")
				require.Zero(t, d.login, "and needs no login while refresh works")
			},
		},
		{
			name: "admin refresh and login failing",
			inject: func(c *chain) {
				c.srv.FailFraction(1, vt.Fault{Endpoint: vt.EndpointAdminRefresh, Status: http.StatusUnauthorized, Body: invalidSession})
				c.srv.FailFraction(1, vt.Fault{Endpoint: vt.EndpointAdminLogin, Status: http.StatusUnauthorized})
				c.srv.ExpireAdminSessions()
			},
			check: func(t require.TestingT, d attempts) {
				require.Positive(t, d.login, "the client tries to log in")
			},
		},
		{
			name:        "refresh failing, login succeeding",
			recoverable: true,
			inject: func(c *chain) {
				c.srv.FailFraction(1, vt.Fault{Endpoint: vt.EndpointAdminRefresh, Status: http.StatusUnauthorized, Body: invalidSession})
			},
			eachBatch: expireAdmin,
			check: func(t require.TestingT, d attempts) {
				require.Positive(t, d.refresh, "the client tries to refresh")
				require.Positive(t, d.login, "then logs in")
			},
		},
	}
}
