package appservices

import (
	"net/http"
	"time"
)

// DefaultBaseURL is the App Services host. The Admin API lives under
// /api/admin/v3.0 and the client API under /api/client/v2.0 of it.
const DefaultBaseURL = "https://services.cloud.mongodb.com"

// Config configures a Client. Zero values select the documented defaults.
type Config struct {
	// BaseURL is the scheme and host of App Services, without the
	// /api/admin/v3.0 suffix. Default: DefaultBaseURL.
	BaseURL string

	// GroupID is the Atlas project id and AppID the app's internal ObjectId
	// (its "_id", not the client_app_id). Both are required.
	GroupID string
	AppID   string

	// PublicKey and PrivateKey are the Atlas programmatic API key pair used
	// to log in to the Admin API. Both are required.
	PublicKey  string
	PrivateKey string

	// HTTPClient sends every request. If nil, a client with a transport
	// tuned for a gateway (large keep-alive pools per host) is used.
	HTTPClient *http.Client

	// Timeout bounds each call to the Admin API, admin login included,
	// on top of the caller's context. Default: 10s. Negative: no bound on
	// the call itself, but the shared admin login or refresh is still capped
	// at one minute, so a stalled login cannot block every later caller.
	Timeout time.Duration

	// RefreshMargin is how long before its expiry the admin access token is
	// refreshed. Default: 30s.
	RefreshMargin time.Duration

	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time

	// OnRevoke, if not nil, is called after RevokeSessions, DisableUser or
	// DeleteUser succeeds, with the user id and the time the answer arrived
	// (so sessions ended while the call ran are covered), so that a cache
	// can purge the user's entries at once. It is called
	// synchronously and must not block for long.
	OnRevoke func(userID string, at time.Time)
}
