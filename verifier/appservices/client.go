package appservices

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

const (
	// adminAPIPath is the Admin API prefix under Config.BaseURL.
	adminAPIPath = "/api/admin/v3.0"

	defaultTimeout       = 10 * time.Second
	defaultRefreshMargin = 30 * time.Second

	// maxBodySize bounds every answer read from the Admin API; a larger
	// answer is an error.
	maxBodySize = 1 << 20

	// maxMessageSize bounds the "error" text kept in an APIError.
	maxMessageSize = 512
)

// Client is a typed client of the App Services Admin API: the admin session,
// the 12 Users operations and verify_token. It implements verifier.Verifier.
//
// A Client is safe for concurrent use by multiple goroutines and should be
// reused: it holds the admin session and, by default, a pool of keep-alive
// connections.
type Client struct {
	hc         *http.Client
	adminURL   string // BaseURL + "/api/admin/v3.0"
	appURL     string // adminURL + "/groups/{groupId}/apps/{appId}"
	verifyURL  string // appURL + "/users/verify_token"
	publicKey  string
	privateKey string
	timeout    time.Duration // <= 0: no bound of our own
	margin     time.Duration
	now        func() time.Time
	revokers   atomic.Pointer[[]verifier.Revoker] // told of revocations; copied on write

	sess adminSession
}

// NewClient returns a Client for the app cfg names. It fails, with a
// *ConfigError, when GroupID, AppID, PublicKey or PrivateKey is empty or
// BaseURL is not an absolute http(s) URL (see Config.Validate). It does not contact App Services; call Login for that.
//
// A BaseURL that already ends in "/api/admin/v3.0" is accepted as if the
// suffix were absent.
func NewClient(cfg Config) (*Client, error) {
	base, err := cfg.baseURL()
	if err != nil {
		return nil, err
	}

	c := &Client{
		hc:         cfg.HTTPClient,
		adminURL:   base + adminAPIPath,
		publicKey:  cfg.PublicKey,
		privateKey: cfg.PrivateKey,
		timeout:    cfg.Timeout,
		margin:     cfg.RefreshMargin,
		now:        cfg.Now,
	}
	c.appURL = c.adminURL + "/groups/" + url.PathEscape(cfg.GroupID) + "/apps/" + url.PathEscape(cfg.AppID)
	c.verifyURL = c.appURL + "/users/verify_token"
	if c.hc == nil {
		c.hc = &http.Client{Transport: defaultTransport(cfg.TLSClientConfig)}
	}
	if c.timeout == 0 {
		c.timeout = defaultTimeout
	}
	if c.margin <= 0 {
		c.margin = defaultRefreshMargin
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// defaultTransport is a clone of http.DefaultTransport with connection pools
// sized for a gateway that sends many concurrent calls to one host.
func defaultTransport(tc *tls.Config) http.RoundTripper {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment}
	} else {
		t = t.Clone()
	}
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	t.ForceAttemptHTTP2 = true
	if tc != nil {
		t.TLSClientConfig = tc
	}
	return t
}

// response is a fully read answer of the Admin API.
type response struct {
	status int
	header http.Header
	body   []byte
	// renewed: the answer came with a fresh admin token, after the first
	// attempt's 401 read as the admin session's failure.
	renewed bool
}

// call performs one authenticated Admin API call bounded by Config.Timeout:
// it obtains the admin access token, sends the request and reads the
// answer. An answer of 401 InvalidSession renews the admin session and sends
// the request once more. Any answer is returned as is; an error means there
// was none, and is an *unavailableError.
func (c *Client) call(parent context.Context, op, method, target string, body []byte) (*response, error) {
	ctx, cancel := c.bound(parent)
	defer cancel()
	var stale string
	for attempt := 0; ; attempt++ {
		tok, err := c.adminToken(ctx, stale)
		if err == nil {
			var resp *response
			resp, err = c.roundTrip(ctx, method, target, tok, body)
			if err == nil {
				if attempt == 0 && resp.status == http.StatusUnauthorized {
					if msg, code := errorFields(resp.body); isAdminSessionError(code, msg) {
						stale = tok
						continue
					}
				}
				resp.renewed = attempt > 0
				return resp, nil
			}
		}
		switch {
		case parent.Err() != nil: // the caller gave up
			err = parent.Err()
		case ctx.Err() != nil:
			err = fmt.Errorf("no answer within %v: %w", c.timeout, ctx.Err())
		}
		return nil, &unavailableError{op: op, err: err}
	}
}

// bound applies Config.Timeout to ctx.
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// roundTrip sends one request, with bearer as its Bearer token unless empty,
// and reads the whole answer. The body is always closed.
func (c *Client) roundTrip(ctx context.Context, method, target, bearer string, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header["Accept"] = []string{"application/json"}
	if body != nil {
		req.Header["Content-Type"] = []string{"application/json"}
	}
	if bearer != "" {
		req.Header["Authorization"] = []string{"Bearer " + bearer}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readBody(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// errBodyTooLarge reports an answer over maxBodySize.
var errBodyTooLarge = fmt.Errorf("answer larger than %d bytes", maxBodySize)

// readBody reads r to its end, up to maxBodySize. Reading to EOF lets the
// transport reuse the connection; an oversized body is left unread so that
// closing it drops the connection instead of draining a megabyte.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBodySize+1))
	if err != nil {
		return nil, fmt.Errorf("reading answer: %w", err)
	}
	if len(b) > maxBodySize {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// apiError decodes an error answer: {"error": ..., "error_code": ...}, where
// either field may be missing and the body may be empty or not JSON at all;
// the message then falls back to the status text.
func (r *response) apiError(now time.Time) *APIError {
	e := &APIError{StatusCode: r.status}
	e.Message, e.Code = errorFields(r.body)
	if e.Message == "" {
		e.Message = http.StatusText(r.status)
	}
	if len(e.Message) > maxMessageSize {
		e.Message = e.Message[:maxMessageSize] + "..."
	}
	e.RetryDelay = parseRetryAfter(r.header.Get("Retry-After"), now)
	return e
}

// errorFields returns the "error" and "error_code" strings of an error body,
// each empty when absent or not a string.
func errorFields(body []byte) (msg, code string) {
	var fields struct {
		Error json.RawMessage `json:"error"`
		Code  json.RawMessage `json:"error_code"`
	}
	if len(body) == 0 || json.Unmarshal(body, &fields) != nil {
		return "", ""
	}
	_ = json.Unmarshal(fields.Error, &msg) // not a string: stays empty
	_ = json.Unmarshal(fields.Code, &code)
	return msg, code
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date
// (RFC 9110, section 10.2.3). It returns 0 when the header is absent,
// malformed or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 63); err == nil {
		const maxSeconds = uint64(1<<63-1) / uint64(time.Second)
		return time.Duration(min(n, maxSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// unavailableError reports a call that got no usable answer: a transport
// failure, a timeout, an oversized or undecodable body, a failed admin
// session, or (from VerifyToken) an error status that says nothing about the
// token. It is verifier.ErrUnavailable and also its cause, so errors.Is finds
// context.Canceled and errors.As finds an *APIError.
type unavailableError struct {
	op  string // "verify token", "get user", ...
	err error
}

func (e *unavailableError) Error() string   { return "appservices: " + e.op + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{verifier.ErrUnavailable, e.err} }

// CloseIdleConnections closes the idle keep-alive connections of the Client's
// HTTP client (http.Client.CloseIdleConnections), as a process that stops
// using the Client should.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }
