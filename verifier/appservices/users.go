package appservices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/verifier"
)

// UserRecord is an App Services user as the Admin API describes it.
type UserRecord struct {
	ID                     string     `json:"_id"`
	Identities             []Identity `json:"identities"`
	Type                   string     `json:"type"` // "normal" or "server"
	CreationDate           time.Time  `json:"-"`
	LastAuthenticationDate time.Time  `json:"-"`
	Disabled               bool       `json:"disabled"`
	// Data holds the user's metadata, such as {"email": "..."}, as raw JSON.
	Data     json.RawMessage `json:"data"`
	DomainID string          `json:"domain_id"`
	// SessionsValidSince is when the user's sessions were last revoked; real
	// answers carry it, the spec does not.
	SessionsValidSince time.Time `json:"-"`
	// Raw is the user's whole JSON object.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a user, with its dates in Unix seconds.
func (u *UserRecord) UnmarshalJSON(b []byte) error {
	type plain UserRecord // without this method
	var v struct {
		plain
		CreationDate           unixTime `json:"creation_date"`
		LastAuthenticationDate unixTime `json:"last_authentication_date"`
		SessionsValidSince     unixTime `json:"sessions_valid_since"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*u = UserRecord(v.plain)
	u.CreationDate = time.Time(v.CreationDate)
	u.LastAuthenticationDate = time.Time(v.LastAuthenticationDate)
	u.SessionsValidSince = time.Time(v.SessionsValidSince)
	u.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// Email returns the "email" of the user's Data, or "" when there is none.
func (u *UserRecord) Email() string {
	var d struct {
		Email string `json:"email"`
	}
	if json.Unmarshal(u.Data, &d) != nil {
		return ""
	}
	return d.Email
}

// Identity is one of a user's linked authentication identities.
type Identity struct {
	ID           string          `json:"id"`
	ProviderType string          `json:"provider_type"` // e.g. "local-userpass"
	ProviderID   string          `json:"provider_id"`
	ProviderData json.RawMessage `json:"provider_data"`
}

// PendingUser is an email/password registration not yet confirmed.
type PendingUser struct {
	ID       string    `json:"_id"`
	UserID   string    `json:"user_id"` // often empty
	DomainID string    `json:"domain_id"`
	LoginIDs []LoginID `json:"login_ids"`
}

// LoginID is a pending user's login, such as {IDType: "email", ID: "a@b.c"}.
type LoginID struct {
	IDType string `json:"id_type"`
	ID     string `json:"id"`
}

// Device is a device a user has logged in from. The spec gives no fields;
// these are the ones clients model, and Raw keeps the rest.
type Device struct {
	ID               string          `json:"_id"`
	ClientAppVersion string          `json:"client_app_version"`
	Platform         string          `json:"platform"`
	PlatformVersion  string          `json:"platform_version"`
	Raw              json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a device and keeps its raw JSON.
func (d *Device) UnmarshalJSON(b []byte) error {
	type plain Device
	if err := json.Unmarshal(b, (*plain)(d)); err != nil {
		return err
	}
	d.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// ListUsersOptions selects a page of users.
type ListUsersOptions struct {
	// After, if not empty, starts the page after the user with this id
	// (exclusive).
	After string
	// Desc lists users by descending id (sort=_id&desc=true) instead of
	// ascending.
	Desc bool
	// Status, if not empty, lists only "enabled" or only "disabled" users
	// (status=...). The service and realm-cli use it; the OpenAPI spec does
	// not list it. Any other value is refused by the service with 400.
	Status string
	// ProviderTypes, if not empty, lists only users with an identity of one
	// of these providers, such as "local-userpass" or "anon-user"
	// (provider_types=a,b; like Status, not in the OpenAPI spec).
	ProviderTypes []string
}

// CreateUser creates an email/password user: POST /users {"email","password"} -> 201.
func (c *Client) CreateUser(ctx context.Context, email, password string) (*UserRecord, error) {
	in := struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}{email, password}
	var u UserRecord
	if err := c.exec(ctx, "create user", http.MethodPost, c.appURL+"/users", in, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// DeletePendingUser deletes a pending email/password registration:
// DELETE /user_registrations/by_email/{email} -> 204.
func (c *Client) DeletePendingUser(ctx context.Context, email string) error {
	seg, err := segment("delete pending user", "email", email)
	if err != nil {
		return err
	}
	return c.exec(ctx, "delete pending user", http.MethodDelete, c.appURL+"/user_registrations/by_email/"+seg, nil, nil)
}

// DeleteUser deletes a user: DELETE /users/{userId} -> 204. On success it
// tells the Revokers registered with OnRevoke.
func (c *Client) DeleteUser(ctx context.Context, userID string) error {
	return c.revoking(ctx, "delete user", http.MethodDelete, userID, "")
}

// DisableUser disables a user: PUT /users/{userId}/disable -> 204. On success
// it tells the Revokers registered with OnRevoke. App Services keeps accepting the user's access
// tokens until they expire; only refreshing them fails.
func (c *Client) DisableUser(ctx context.Context, userID string) error {
	return c.revoking(ctx, "disable user", http.MethodPut, userID, "/disable")
}

// EnableUser enables a disabled user: PUT /users/{userId}/enable -> 204.
func (c *Client) EnableUser(ctx context.Context, userID string) error {
	return c.userCall(ctx, "enable user", http.MethodPut, userID, "/enable", nil, nil)
}

// GetUser returns a user: GET /users/{userId} -> 200.
func (c *Client) GetUser(ctx context.Context, userID string) (*UserRecord, error) {
	var u UserRecord
	if err := c.userCall(ctx, "get user", http.MethodGet, userID, "", nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// ListDevices returns a user's devices: GET /users/{userId}/devices -> 200.
func (c *Client) ListDevices(ctx context.Context, userID string) ([]Device, error) {
	var ds []Device
	if err := c.userCall(ctx, "list devices", http.MethodGet, userID, "/devices", nil, &ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// ListPendingUsers returns one page (at most 50) of pending users, starting
// after the one whose _id is after when it is not empty:
// GET /user_registrations/pending_users[?after=] -> 200. AllPendingUsers
// walks every page.
func (c *Client) ListPendingUsers(ctx context.Context, after string) ([]PendingUser, error) {
	u := c.appURL + "/user_registrations/pending_users"
	if after != "" {
		u += "?" + url.Values{"after": {after}}.Encode()
	}
	var ps []PendingUser
	if err := c.exec(ctx, "list pending users", http.MethodGet, u, nil, &ps); err != nil {
		return nil, err
	}
	return ps, nil
}

// ListUsers returns one page (at most 50) of users:
// GET /users[?after=&sort=_id&desc=true] -> 200. AllUsers walks every page.
func (c *Client) ListUsers(ctx context.Context, opts ListUsersOptions) ([]UserRecord, error) {
	q := url.Values{}
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	if opts.Desc {
		q.Set("sort", "_id")
		q.Set("desc", "true")
	}
	if opts.Status != "" {
		q.Set("status", opts.Status)
	}
	if len(opts.ProviderTypes) > 0 {
		q.Set("provider_types", strings.Join(opts.ProviderTypes, ","))
	}
	u := c.appURL + "/users"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var us []UserRecord
	if err := c.exec(ctx, "list users", http.MethodGet, u, nil, &us); err != nil {
		return nil, err
	}
	return us, nil
}

// ChangeEmail changes an email/password user's email:
// PATCH /users/{userId}/reset_email {"email"} -> 204. App Services answers
// 400 for an email that is empty or over 128 characters or a user without a
// local-userpass identity, and 404 for an unknown user.
func (c *Client) ChangeEmail(ctx context.Context, userID, email string) error {
	in := struct {
		Email string `json:"email"`
	}{email}
	return c.userCall(ctx, "change email", http.MethodPatch, userID, "/reset_email", in, nil)
}

// RevokeSessions revokes a user's sessions: PUT /users/{userId}/logout -> 204.
// On success it tells the Revokers registered with OnRevoke. App Services keeps accepting access
// tokens issued before the revocation until they expire; only refreshing them
// fails. OnRevoke (with a cache, package cache) makes revocation bite at once.
func (c *Client) RevokeSessions(ctx context.Context, userID string) error {
	return c.revoking(ctx, "revoke sessions", http.MethodPut, userID, "/logout")
}

// revoking runs an operation that ends a user's sessions and then tells the
// registered Revokers. Its time is taken once the answer has arrived: a session
// opened while the call was under way may have been ended by it, and a
// cache refuses tokens issued at or before the time it is given, so the
// later time covers those too. Revoking a little too much (a login that
// raced the call) is safe; too little is not.
func (c *Client) revoking(ctx context.Context, op, method, userID, suffix string) error {
	if err := c.userCall(ctx, op, method, userID, suffix, nil, nil); err != nil {
		return err
	}
	return c.tellRevokers(ctx, op, userID, c.now())
}

// OnRevoke registers r to be told, after each RevokeSessions, DisableUser or
// DeleteUser that succeeds, the user id and the time the answer arrived (so
// sessions ended while the call ran are covered): a cache (package cache)
// then refuses the user's earlier tokens at once, and a store shared by
// every replica does so everywhere. Register after building both the Client
// and r, before the Client is used for such calls; Revokers are told in the
// order registered, synchronously, on a context that keeps the operation's
// values but not its cancellation.
//
// App Services has ended the sessions by then, whatever a Revoker answers:
// if one fails, the operation returns an error that says so and wraps the
// Revoker's, and the others are still told.
func (c *Client) OnRevoke(r verifier.Revoker) {
	if r == nil {
		panic("appservices: nil Revoker")
	}
	for {
		old := c.revokers.Load()
		var rs []verifier.Revoker
		if old != nil {
			rs = append(rs, *old...)
		}
		rs = append(rs, r)
		if c.revokers.CompareAndSwap(old, &rs) {
			return
		}
	}
}

// tellRevokers tells every registered Revoker that userID was revoked at at.
func (c *Client) tellRevokers(ctx context.Context, op, userID string, at time.Time) error {
	rs := c.revokers.Load()
	if rs == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, r := range *rs {
		if err := r.Revoke(ctx, userID, at); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("appservices: %s: done at App Services, but a revoker failed: %w", op, errors.Join(errs...))
	}
	return nil
}

// userCall runs an operation on /users/{userId}{suffix}.
func (c *Client) userCall(ctx context.Context, op, method, userID, suffix string, in, out any) error {
	seg, err := segment(op, "user id", userID)
	if err != nil {
		return err
	}
	return c.exec(ctx, op, method, c.appURL+"/users/"+seg+suffix, in, out)
}

// segment escapes one path segment. An empty, "." or ".." value is refused:
// it would name another resource (DELETE /users/.. is the app itself to any
// proxy that cleans paths).
func segment(op, what, v string) (string, error) {
	if v == "" || v == "." || v == ".." {
		return "", fmt.Errorf("appservices: %s: invalid %s %q", op, what, v)
	}
	return url.PathEscape(v), nil
}

// exec sends an operation with in (if not nil) as its JSON body and, on a
// 2xx answer, decodes the answer into out (if not nil).
func (c *Client) exec(ctx context.Context, op, method, target string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("appservices: %s: %w", op, err)
		}
	}
	resp, err := c.call(ctx, op, method, target, body)
	if err != nil {
		return err
	}
	if resp.status < 200 || resp.status > 299 {
		return resp.apiError(c.now())
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			return &unavailableError{op: op, err: fmt.Errorf("decoding answer: %w", err)}
		}
	}
	return nil
}
