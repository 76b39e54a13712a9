package appservices

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
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
	// TLSClientConfig, if not nil, is the TLS configuration of the default
	// client's transport (a CA to trust instead of the system roots, a
	// client certificate). It is not used with HTTPClient, which has its
	// own; Validate refuses the two together.
	TLSClientConfig *tls.Config

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
}

// A ConfigError reports an invalid Config field. Field is the Go field name
// (such as "GroupID"), so that a command can name its own flag instead.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "appservices: Config." + e.Field + ": " + e.Msg }

// Validate reports every problem of cfg that NewClient would refuse: an
// empty GroupID, AppID, PublicKey or PrivateKey, a TLSClientConfig with an
// HTTPClient, and a BaseURL that is not
// an absolute http(s) URL without query, fragment or user info. Each is a
// *ConfigError, joined (errors.Join) when there are several; errors.As finds
// the first.
func (cfg Config) Validate() error {
	_, err := cfg.baseURL()
	return err
}

// baseURL validates cfg and returns its BaseURL without a trailing slash or
// an Admin API suffix (DefaultBaseURL when empty).
func (cfg Config) baseURL() (string, error) {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"GroupID", cfg.GroupID}, {"AppID", cfg.AppID},
		{"PublicKey", cfg.PublicKey}, {"PrivateKey", cfg.PrivateKey},
	} {
		if f.value == "" {
			errs = append(errs, &ConfigError{Field: f.name, Msg: "required"})
		}
	}
	if cfg.HTTPClient != nil && cfg.TLSClientConfig != nil {
		errs = append(errs, &ConfigError{Field: "TLSClientConfig", Msg: "not used with HTTPClient, whose transport has its own"})
	}
	base := DefaultBaseURL
	if raw := cfg.BaseURL; raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			errs = append(errs, &ConfigError{Field: "BaseURL", Msg: fmt.Sprintf("%q is not an absolute http(s) URL without query, fragment or user info", raw)})
		} else {
			base = strings.TrimRight(strings.TrimSuffix(strings.TrimRight(u.String(), "/"), adminAPIPath), "/")
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return base, nil
}
