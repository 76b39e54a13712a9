package appservices

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tokenguard/tokenguard/verifier"
)

// TestMain checks that no test leaves a goroutine behind: no login or refresh
// flight outlives the calls that need it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func validConfig() Config {
	return Config{GroupID: testGroup, AppID: testApp, PublicKey: testPublic, PrivateKey: testPrivate}
}

func TestNewClient(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr []string // substrings of the error; nil: success
		check   func(t *testing.T, c *Client)
	}{
		{name: "defaults", check: func(t *testing.T, c *Client) {
			assert.Equal(t, DefaultBaseURL+"/api/admin/v3.0", c.adminURL)
			assert.Equal(t, DefaultBaseURL+"/api/admin/v3.0/groups/"+testGroup+"/apps/"+testApp, c.appURL)
			assert.Equal(t, 10*time.Second, c.timeout)
			assert.Equal(t, 30*time.Second, c.margin)
			require.NotNil(t, c.now)
			assert.WithinDuration(t, time.Now(), c.now(), time.Minute)
			tr, ok := c.hc.Transport.(*http.Transport)
			require.True(t, ok, "a tuned *http.Transport")
			assert.NotSame(t, http.DefaultTransport, tr)
			assert.Equal(t, 1024, tr.MaxIdleConns)
			assert.Equal(t, 256, tr.MaxIdleConnsPerHost)
			assert.Equal(t, 90*time.Second, tr.IdleConnTimeout)
			assert.True(t, tr.ForceAttemptHTTP2)
			assert.NotNil(t, tr.Proxy, "cloned from http.DefaultTransport")
		}},
		{name: "given values kept", edit: func(c *Config) {
			c.HTTPClient = http.DefaultClient
			c.Timeout = -1
			c.RefreshMargin = time.Minute
		}, check: func(t *testing.T, c *Client) {
			assert.Same(t, http.DefaultClient, c.hc)
			assert.Equal(t, time.Duration(-1), c.timeout, "negative: no bound")
			assert.Equal(t, time.Minute, c.margin)
		}},
		{name: "base URL with trailing slash and API suffix", edit: func(c *Config) {
			c.BaseURL = "http://127.0.0.1:9090/prefix/api/admin/v3.0/"
		}, check: func(t *testing.T, c *Client) {
			assert.Equal(t, "http://127.0.0.1:9090/prefix/api/admin/v3.0", c.adminURL)
		}},
		{name: "ids are escaped", edit: func(c *Config) { c.GroupID = "g/1" }, check: func(t *testing.T, c *Client) {
			assert.Contains(t, c.appURL, "/groups/g%2F1/apps/")
		}},
		{name: "everything missing", edit: func(c *Config) { *c = Config{} },
			wantErr: []string{"GroupID", "AppID", "PublicKey", "PrivateKey"}},
		{name: "private key missing", edit: func(c *Config) { c.PrivateKey = "" }, wantErr: []string{"PrivateKey"}},
		{name: "relative base URL", edit: func(c *Config) { c.BaseURL = "services.cloud.mongodb.com" }, wantErr: []string{"BaseURL"}},
		{name: "ftp base URL", edit: func(c *Config) { c.BaseURL = "ftp://example.com" }, wantErr: []string{"BaseURL"}},
		{name: "base URL with query", edit: func(c *Config) { c.BaseURL = "https://example.com/?x=1" }, wantErr: []string{"BaseURL"}},
		{name: "base URL with user info", edit: func(c *Config) { c.BaseURL = "https://u:p@example.com" }, wantErr: []string{"BaseURL"}},
		{name: "unparsable base URL", edit: func(c *Config) { c.BaseURL = "http://[::1" }, wantErr: []string{"BaseURL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			c, err := NewClient(cfg)
			if tt.wantErr != nil {
				require.Error(t, err)
				assert.Nil(t, c)
				for _, s := range tt.wantErr {
					assert.Contains(t, err.Error(), s)
				}
				assert.True(t, strings.HasPrefix(err.Error(), "appservices: "), err.Error())
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestAPIErrorDecoding(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		body   string
		retry  string
		want   APIError
	}{
		{name: "error and code", status: 404, body: `{"error":"user not found","error_code":"UserNotFound"}`,
			want: APIError{StatusCode: 404, Code: "UserNotFound", Message: "user not found"}},
		{name: "error only", status: 401, body: `{"error":"invalid session: valid Issuer required"}`,
			want: APIError{StatusCode: 401, Message: "invalid session: valid Issuer required"}},
		{name: "empty body", status: 502, want: APIError{StatusCode: 502, Message: "Bad Gateway"}},
		{name: "not JSON", status: 500, body: "<html>oops</html>", want: APIError{StatusCode: 500, Message: "Internal Server Error"}},
		{name: "fields of other types", status: 400, body: `{"error":{"m":1},"error_code":"BadRequest"}`,
			want: APIError{StatusCode: 400, Code: "BadRequest", Message: "Bad Request"}},
		{name: "long message cut", status: 400, body: `{"error":"` + strings.Repeat("x", 2000) + `"}`,
			want: APIError{StatusCode: 400, Message: strings.Repeat("x", maxMessageSize) + "..."}},
		{name: "Retry-After seconds", status: 429, retry: "30",
			want: APIError{StatusCode: 429, Message: "Too Many Requests", RetryDelay: 30 * time.Second}},
		{name: "Retry-After date", status: 503, retry: now.Add(2 * time.Minute).Format(http.TimeFormat),
			want: APIError{StatusCode: 503, Message: "Service Unavailable", RetryDelay: 2 * time.Minute}},
		{name: "Retry-After date in the past", status: 503, retry: now.Add(-time.Minute).Format(http.TimeFormat),
			want: APIError{StatusCode: 503, Message: "Service Unavailable"}},
		{name: "Retry-After garbage", status: 503, retry: "soon",
			want: APIError{StatusCode: 503, Message: "Service Unavailable"}},
		{name: "Retry-After negative", status: 503, retry: "-5",
			want: APIError{StatusCode: 503, Message: "Service Unavailable"}},
		{name: "Retry-After huge", status: 503, retry: "99999999999999999999",
			want: APIError{StatusCode: 503, Message: "Service Unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retry != "" {
				h.Set("Retry-After", tt.retry)
			}
			got := (&response{status: tt.status, header: h, body: []byte(tt.body)}).apiError(now)
			assert.Equal(t, &tt.want, got)
		})
	}
}

func TestUnavailableError(t *testing.T) {
	cause := &APIError{StatusCode: 503, Message: "down"}
	err := error(&unavailableError{op: "get user", err: cause})
	assert.ErrorIs(t, err, verifier.ErrUnavailable)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Same(t, cause, ae)
	assert.Equal(t, "appservices: get user: appservices: admin API 503: down", err.Error())

	// A refused admin login is unavailable, never an invalid user token.
	login := &unavailableError{op: "verify token", err: &sessionError{op: "login", err: &APIError{StatusCode: 401, Message: "no"}}}
	assert.ErrorIs(t, login, verifier.ErrUnavailable)
	assert.False(t, errors.Is(login, verifier.ErrInvalidToken))
	assert.False(t, errors.Is(login, verifier.ErrTokenExpired))
	require.ErrorAs(t, login, &ae)
	assert.Equal(t, 401, ae.StatusCode)
}
