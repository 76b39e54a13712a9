package appservicestest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// A ConfirmationMode is how the email/password provider confirms a new
// registration: the three methods of the provider's configuration
// (autoConfirm, the built-in confirmation email, runConfirmationFunction).
type ConfirmationMode int

const (
	// ConfirmAuto confirms every registration at once: the user can log in
	// right after registering (autoConfirm: true).
	ConfirmAuto ConfirmationMode = iota
	// ConfirmEmail keeps a registration pending until it is confirmed: with
	// the token and tokenId of its confirmation email (POST .../confirm),
	// or by an admin (POST .../user_registrations/by_email/{email}/confirm).
	// The emulator sends no mail: WithMailer receives the emails.
	ConfirmEmail
	// ConfirmFunction runs the confirmation function (WithConfirmationFunction)
	// with {token, tokenId, username}; its {status} decides: "success"
	// confirms, "pending" waits for POST .../confirm, "fail" drops the
	// registration.
	ConfirmFunction
)

// String returns the mode's flag spelling: auto, email or function.
func (m ConfirmationMode) String() string {
	switch m {
	case ConfirmAuto:
		return "auto"
	case ConfirmEmail:
		return "email"
	case ConfirmFunction:
		return "function"
	}
	return fmt.Sprintf("ConfirmationMode(%d)", int(m))
}

// ParseConfirmationMode reads "auto", "email" or "function".
func ParseConfirmationMode(s string) (ConfirmationMode, error) {
	for _, m := range []ConfirmationMode{ConfirmAuto, ConfirmEmail, ConfirmFunction} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("appservicestest: confirmation mode %q: want auto, email or function", s)
}

// A Function stands in for an App Services function that the email/password
// provider runs (the confirmation and the password reset function): it gets
// the function's arguments as a JSON array and returns its result as JSON,
// such as {"status":"pending"}. It runs without the server's lock held and
// must honour ctx.
type Function func(ctx context.Context, args json.RawMessage) (json.RawMessage, error)

// functionTimeout bounds one call of a Function.
const functionTimeout = 10 * time.Second

// maxFunctionResult bounds the result FunctionURL reads.
const maxFunctionResult = 1 << 20

// FunctionURL returns a Function that POSTs the arguments array to url and
// takes the JSON answer of a 2xx response as the function's result. It keeps
// no connection open between calls, so that closing the server leaves
// nothing behind. The tokenguard emulator command builds its
// --confirm-function-url and --reset-function-url with it.
func FunctionURL(url string) Function {
	hc := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		Timeout:   functionTimeout,
	}
	return func(ctx context.Context, args json.RawMessage) (json.RawMessage, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(args))
		if err != nil {
			return nil, fmt.Errorf("appservicestest: function: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("appservicestest: function: %w", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxFunctionResult))
		if err != nil {
			return nil, fmt.Errorf("appservicestest: function: %w", err)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil, fmt.Errorf("appservicestest: function: status %d", resp.StatusCode)
		}
		return b, nil
	}
}

// Function results, the "status" of the object a confirmation or password
// reset function returns.
const (
	statusSuccess = "success"
	statusPending = "pending"
	statusFail    = "fail"
)

var errFunctionResult = errors.New(`appservicestest: function result: want {"status": "success", "pending" or "fail"}`)

// callStatus runs f with args and returns the status its result names.
func callStatus(ctx context.Context, f Function, args ...any) (string, error) {
	in, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, functionTimeout)
	defer cancel()
	out, err := f(ctx, in)
	if err != nil {
		return "", err
	}
	var res struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(out, &res) != nil {
		return "", errFunctionResult
	}
	switch res.Status {
	case statusSuccess, statusPending, statusFail:
		return res.Status, nil
	}
	return "", errFunctionResult
}

// MailKind says what an email is for.
type MailKind string

// The emails the email/password provider sends.
const (
	MailConfirm MailKind = "confirm" // a registration's confirmation email
	MailReset   MailKind = "reset"   // a password reset email
)

// A Mail is an email the provider would send. The real service sends a link
// to the configured confirmation or reset URL with token and tokenId as query
// parameters; the emulator hands over the two values instead.
type Mail struct {
	Kind    MailKind
	To      string
	Token   string
	TokenID string
}
