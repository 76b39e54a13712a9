package appservicestest

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier/appservices"
)

func userpassURL(s *Server, op string) string {
	return s.ClientURL() + "/app/" + DefaultClientAppID + "/auth/providers/local-userpass/" + op
}

// mailbox collects the emails a server sends.
type mailbox struct {
	mu   sync.Mutex // guards mail
	mail []Mail
}

func (m *mailbox) send(x Mail) { m.mu.Lock(); m.mail = append(m.mail, x); m.mu.Unlock() }

// last returns the latest email and how many there are.
func (m *mailbox) last(t *testing.T) (Mail, int) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	require.NotEmpty(t, m.mail, "no email sent")
	return m.mail[len(m.mail)-1], len(m.mail)
}

func register(t *testing.T, s *Server, email, password string) response {
	t.Helper()
	return do(t, s, "POST", userpassURL(s, "register"), "", map[string]string{"email": email, "password": password})
}

func canLogIn(s *Server, email, password string) bool {
	_, err := s.LoginUser(email, password)
	return err == nil
}

func TestRegisterAutoConfirm(t *testing.T) {
	s := newTestServer(t)
	r := register(t, s, "ada@example.com", "password1")
	require.Equal(t, 201, r.status, "body: %s", r.body)
	assert.Empty(t, r.body)
	assert.True(t, canLogIn(s, "ada@example.com", "password1"), "ConfirmAuto: a user at once")

	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"email in use", map[string]string{"email": "ADA@example.com", "password": "password1"}, 409, "AccountNameInUse"},
		{"short password", map[string]string{"email": "bob@example.com", "password": "12345"}, 400, "BadRequest"},
		{"long password", map[string]string{"email": "bob@example.com", "password": string(make([]byte, 129))}, 400, "BadRequest"},
		{"no email", map[string]string{"password": "password1"}, 400, "BadRequest"},
		{"malformed", "{", 400, "BadRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "POST", userpassURL(s, "register"), "", tt.body)
			require.Equal(t, tt.status, r.status, "body: %s", r.body)
			assert.Equal(t, tt.code, r.object(t)["error_code"])
		})
	}
	assert.Equal(t, 400, do(t, s, "POST", userpassURL(s, "confirm/send"), "", map[string]string{"email": "ada@example.com"}).status,
		"no confirmation emails under ConfirmAuto")
}

func TestRegisterEmailConfirmation(t *testing.T) {
	var mb mailbox
	s := newTestServer(t, WithConfirmation(ConfirmEmail), WithMailer(mb.send))
	admin, _ := adminTokens(t, s)
	require.Equal(t, 201, register(t, s, "ada@example.com", "password1").status)
	assert.False(t, canLogIn(s, "ada@example.com", "password1"), "pending until confirmed")
	r := do(t, s, "POST", loginURL(s, "local-userpass"), "", map[string]string{"username": "ada@example.com", "password": "password1"})
	assert.Equal(t, "InvalidPassword", r.object(t)["error_code"])
	assert.Equal(t, 409, register(t, s, "ada@example.com", "password2").status, "the email is held while pending")

	m, n := mb.last(t)
	assert.Equal(t, Mail{Kind: MailConfirm, To: "ada@example.com", Token: m.Token, TokenID: m.TokenID}, m)
	assert.Equal(t, 1, n)

	// A new email replaces the first token.
	require.Equal(t, 204, do(t, s, "POST", userpassURL(s, "confirm/send"), "", map[string]string{"email": "ada@example.com"}).status)
	m2, n := mb.last(t)
	assert.Equal(t, 2, n)
	assert.NotEqual(t, m.TokenID, m2.TokenID)

	confirm := func(token, tokenID string) response {
		return do(t, s, "POST", userpassURL(s, "confirm"), "", map[string]string{"token": token, "tokenId": tokenID})
	}
	assert.Equal(t, 400, confirm(m.Token, m.TokenID).status, "the replaced token")
	assert.Equal(t, 400, confirm("wrong", m2.TokenID).status)
	assert.Equal(t, 400, confirm(m2.Token, m.TokenID).status, "token and tokenId of different emails")
	require.Equal(t, 204, confirm(m2.Token, m2.TokenID).status)
	assert.True(t, canLogIn(s, "ada@example.com", "password1"))
	assert.Equal(t, 400, confirm(m2.Token, m2.TokenID).status, "a token works once")
	assert.Empty(t, listIDs(t, s, admin, "/user_registrations/pending_users", nil))

	r = do(t, s, "POST", userpassURL(s, "confirm/send"), "", map[string]string{"email": "ada@example.com"})
	assert.Equal(t, "UserAlreadyConfirmed", r.object(t)["error_code"])
	r = do(t, s, "POST", userpassURL(s, "confirm/send"), "", map[string]string{"email": "nobody@example.com"})
	assert.Equal(t, "UserNotFound", r.object(t)["error_code"])

	t.Run("tokens expire after 30 minutes", func(t *testing.T) {
		require.Equal(t, 201, register(t, s, "late@example.com", "password1").status)
		m, _ := mb.last(t)
		s.Advance(tokenTTL)
		assert.Equal(t, 400, confirm(m.Token, m.TokenID).status)
	})
}

// TestPendingUsersOverHTTP drives the Admin API's pending-user operations,
// with the appservices client, on registrations made over HTTP.
func TestPendingUsersOverHTTP(t *testing.T) {
	var mb mailbox
	s := newTestServer(t, WithConfirmation(ConfirmEmail), WithMailer(mb.send))
	c, err := appservices.NewClient(s.Config())
	require.NoError(t, err)
	ctx := context.Background()
	for _, e := range []string{"ada@example.com", "bob+x@example.com", "cy@example.com"} {
		require.Equal(t, 201, register(t, s, e, "password1").status)
	}
	pending, err := c.ListPendingUsers(ctx, "")
	require.NoError(t, err)
	require.Len(t, pending, 3)
	assert.Equal(t, []appservices.LoginID{{IDType: "email", ID: "bob+x@example.com"}}, pending[1].LoginIDs)

	require.NoError(t, c.DeletePendingUser(ctx, "bob+x@example.com"))
	var ae *appservices.APIError
	require.ErrorAs(t, c.DeletePendingUser(ctx, "bob+x@example.com"), &ae)
	assert.Equal(t, appservices.CodeUserNotFound, ae.Code)
	assert.Equal(t, 201, register(t, s, "bob+x@example.com", "password1").status, "the email is free again")

	admin, _ := adminTokens(t, s)
	byEmail := func(email, op string) response {
		return do(t, s, "POST", appURL(s)+"/user_registrations/by_email/"+url.PathEscape(email)+"/"+op, admin, nil)
	}
	_, n := mb.last(t)
	r := byEmail("ada@example.com", "send_confirm")
	require.Equal(t, 200, r.status, "body: %s", r.body)
	m, n2 := mb.last(t)
	assert.Equal(t, n+1, n2)
	assert.Equal(t, "ada@example.com", m.To)
	require.Equal(t, 202, byEmail("ada@example.com", "run_confirm").status, "ConfirmEmail: another email")
	_, n3 := mb.last(t)
	assert.Equal(t, n2+1, n3)

	require.Equal(t, 204, byEmail("ada@example.com", "confirm").status)
	assert.True(t, canLogIn(s, "ada@example.com", "password1"), "confirmed by the admin, with the password it registered with")
	for _, op := range []string{"send_confirm", "confirm", "run_confirm"} {
		r := byEmail("ada@example.com", op)
		assert.Equal(t, 400, r.status, op)
		assert.Equal(t, "UserAlreadyConfirmed", r.object(t)["error_code"], op)
		r = byEmail("nobody@example.com", op)
		assert.Equal(t, 404, r.status, op)
		assert.Equal(t, "UserNotFound", r.object(t)["error_code"], op)
	}
	pending, err = c.ListPendingUsers(ctx, "")
	require.NoError(t, err)
	require.Len(t, pending, 2)
	assert.Equal(t, "cy@example.com", pending[0].LoginIDs[0].ID)
}

// confirmFunc is a confirmation function that records its arguments and
// answers status.
type confirmFunc struct {
	mu     sync.Mutex // guards args, status
	args   []map[string]string
	status string
}

func (f *confirmFunc) call(_ context.Context, args json.RawMessage) (json.RawMessage, error) {
	var in []map[string]string
	if err := json.Unmarshal(args, &in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.args = append(f.args, in...)
	if f.status == "error" {
		return nil, errors.New("the function threw")
	}
	return json.RawMessage(`{"status":"` + f.status + `"}`), nil
}

func (f *confirmFunc) set(status string) { f.mu.Lock(); f.status = status; f.mu.Unlock() }

func (f *confirmFunc) last() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.args[len(f.args)-1]
}

func TestRegisterConfirmationFunction(t *testing.T) {
	f := &confirmFunc{status: "pending"}
	s := newTestServer(t, WithConfirmationFunction(f.call))
	admin, _ := adminTokens(t, s)

	require.Equal(t, 201, register(t, s, "ada@example.com", "password1").status)
	arg := f.last()
	assert.Equal(t, "ada@example.com", arg["username"])
	assert.NotEmpty(t, arg["token"])
	assert.True(t, validID(arg["tokenId"]))
	assert.Len(t, listIDs(t, s, admin, "/user_registrations/pending_users", nil), 1, "pending")
	require.Equal(t, 204, do(t, s, "POST", userpassURL(s, "confirm"), "", map[string]string{"token": arg["token"], "tokenId": arg["tokenId"]}).status)
	assert.True(t, canLogIn(s, "ada@example.com", "password1"))

	f.set("success")
	require.Equal(t, 201, register(t, s, "bob@example.com", "password1").status)
	assert.True(t, canLogIn(s, "bob@example.com", "password1"), `"success" confirms at once`)

	for _, status := range []string{"fail", "error", "maybe"} {
		t.Run(status, func(t *testing.T) {
			f.set(status)
			r := register(t, s, status+"@example.com", "password1")
			require.Equal(t, 400, r.status, "body: %s", r.body)
			assert.Empty(t, listIDs(t, s, admin, "/user_registrations/pending_users", nil), "the registration is dropped")
			f.set("success")
			assert.Equal(t, 201, register(t, s, status+"@example.com", "password1").status, "and the email is free")
		})
	}

	// confirm/call and run_confirm run the function again.
	f.set("pending")
	require.Equal(t, 201, register(t, s, "cy@example.com", "password1").status)
	first := f.last()["tokenId"]
	require.Equal(t, 204, do(t, s, "POST", userpassURL(s, "confirm/call"), "", map[string]string{"email": "cy@example.com"}).status)
	assert.NotEqual(t, first, f.last()["tokenId"])
	f.set("success")
	require.Equal(t, 202, do(t, s, "POST", appURL(s)+"/user_registrations/by_email/cy@example.com/run_confirm", admin, nil).status)
	assert.True(t, canLogIn(s, "cy@example.com", "password1"))
	assert.Equal(t, 400, do(t, s, "POST", appURL(s)+"/user_registrations/by_email/cy@example.com/send_confirm", admin, nil).status,
		"no confirmation emails under ConfirmFunction")
	assert.Equal(t, 400, do(t, s, "POST", userpassURL(s, "confirm/send"), "", map[string]string{"email": "cy@example.com"}).status)
}

func TestFunctionURL(t *testing.T) {
	got := make(chan string, 1)
	fn := newFunctionServer(t, func(body string) string { got <- body; return `{"status":"pending"}` })
	status, err := callStatus(context.Background(), fn, map[string]string{"token": "t", "tokenId": "i", "username": "u"})
	require.NoError(t, err)
	assert.Equal(t, "pending", status)
	assert.JSONEq(t, `[{"token":"t","tokenId":"i","username":"u"}]`, <-got)

	_, err = callStatus(context.Background(), newFunctionServer(t, func(string) string { return `[]` }))
	assert.ErrorIs(t, err, errFunctionResult)
}

func TestPasswordResetEmail(t *testing.T) {
	var mb mailbox
	s := newTestServer(t, WithMailer(mb.send))
	s.AddUser("ada@example.com", "password1")
	require.Equal(t, 204, do(t, s, "POST", userpassURL(s, "reset/send"), "", map[string]string{"email": "ada@example.com"}).status)
	m, _ := mb.last(t)
	assert.Equal(t, MailReset, m.Kind)
	assert.Equal(t, "ada@example.com", m.To)
	assert.Equal(t, 404, do(t, s, "POST", userpassURL(s, "reset/send"), "", map[string]string{"email": "nobody@example.com"}).status)
	assert.Equal(t, 400, do(t, s, "POST", userpassURL(s, "reset/call"), "", map[string]any{"email": "ada@example.com", "password": "password2", "arguments": []any{}}).status,
		"no reset function")

	reset := func(token, tokenID, password string) int {
		return do(t, s, "POST", userpassURL(s, "reset"), "", map[string]string{"token": token, "tokenId": tokenID, "password": password}).status
	}
	assert.Equal(t, 400, reset("wrong", m.TokenID, "password2"))
	assert.Equal(t, 400, reset(m.Token, m.TokenID, "short"))
	require.Equal(t, 204, reset(m.Token, m.TokenID, "password2"))
	assert.True(t, canLogIn(s, "ada@example.com", "password2"))
	assert.False(t, canLogIn(s, "ada@example.com", "password1"))
	assert.Equal(t, 400, reset(m.Token, m.TokenID, "password3"), "a token works once")
}

func TestPasswordResetFunction(t *testing.T) {
	var mu sync.Mutex // guards args, status
	var args []json.RawMessage
	status := "pending"
	fn := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		args = nil
		if err := json.Unmarshal(in, &args); err != nil {
			return nil, err
		}
		return json.RawMessage(`{"status":"` + status + `"}`), nil
	}
	setStatus := func(s string) { mu.Lock(); status = s; mu.Unlock() }
	s := newTestServer(t, WithResetFunction(fn))
	s.AddUser("ada@example.com", "password1")
	call := func(password string, extra ...any) int {
		return do(t, s, "POST", userpassURL(s, "reset/call"), "", map[string]any{"email": "ada@example.com", "password": password, "arguments": extra}).status
	}

	require.Equal(t, 204, call("password2", "answer 1", 42))
	mu.Lock()
	require.Len(t, args, 3, "the user's object, then the call's arguments")
	var first map[string]any
	require.NoError(t, json.Unmarshal(args[0], &first))
	assert.JSONEq(t, `"answer 1"`, string(args[1]))
	assert.JSONEq(t, `42`, string(args[2]))
	mu.Unlock()
	assert.Equal(t, "ada@example.com", first["username"])
	assert.Equal(t, "password2", first["password"])
	assert.Equal(t, false, first["currentPasswordValid"])
	assert.True(t, canLogIn(s, "ada@example.com", "password1"), `"pending" changes nothing yet`)
	require.Equal(t, 204, do(t, s, "POST", userpassURL(s, "reset"), "", map[string]any{"token": first["token"], "tokenId": first["tokenId"], "password": "password3"}).status)
	assert.True(t, canLogIn(s, "ada@example.com", "password3"), "the pending reset completes with its token")

	require.Equal(t, 204, call("password3"))
	mu.Lock()
	require.NoError(t, json.Unmarshal(args[0], &first))
	mu.Unlock()
	assert.Equal(t, true, first["currentPasswordValid"])

	setStatus("success")
	require.Equal(t, 204, call("password4"))
	assert.True(t, canLogIn(s, "ada@example.com", "password4"), `"success" sets the password`)
	setStatus("fail")
	assert.Equal(t, 400, call("password5"))
	assert.True(t, canLogIn(s, "ada@example.com", "password4"))
	assert.Equal(t, 400, do(t, s, "POST", userpassURL(s, "reset/send"), "", map[string]string{"email": "ada@example.com"}).status,
		"reset emails are off while a reset function is configured")
}
