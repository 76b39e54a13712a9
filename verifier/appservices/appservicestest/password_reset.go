package appservicestest

import (
	"encoding/json"
	"net/http"
)

// Password resets: POST .../local-userpass/reset/send {email} mails a reset
// token, unless a reset function is configured (WithResetFunction); POST
// .../reset/call {email, password, arguments} runs that function; POST
// .../reset {token, tokenId, password} completes a reset.

// handleResetSend sends a password reset email. As the docs say, it answers
// an error when the provider runs a reset function instead.
func (s *Server) handleResetSend(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	email, _, isString := stringField(obj, "email")
	if !isString {
		badRequest(w, "email must be a string")
		return
	}
	if s.cfg.resetFn != nil {
		badRequest(w, "the email/password provider runs a password reset function: call it with reset/call")
		return
	}
	s.mu.Lock()
	u, ok := s.st.byEmail[normEmail(email)]
	var tok oneTimeToken
	if ok {
		tok = s.newResetLocked(u)
	}
	s.mu.Unlock()
	if !ok {
		writeUserNotFound(w)
		return
	}
	s.send(Mail{Kind: MailReset, To: u.email, Token: tok.secret, TokenID: tok.id})
	writeNoContent(w)
}

// newResetLocked mints a reset token for u; s.mu must be held.
func (s *Server) newResetLocked(u *user) oneTimeToken {
	tok := s.newTokenLocked()
	s.st.resets[tok.id] = &resetToken{userID: u.id, tok: tok}
	return tok
}

// handleReset completes a reset with the token pair of a reset email or of
// a reset function that answered "pending".
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	token, _, tok := stringField(obj, "token")
	tokenID, _, idok := stringField(obj, "tokenId")
	password, _, pok := stringField(obj, "password")
	switch {
	case !tok || !idok:
		badRequest(w, "token and tokenId must be strings")
		return
	case !pok || !validPassword(password):
		badRequest(w, "password must be between 6 and 128 characters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.st.resets[tokenID]
	if !ok || !rt.tok.matches(s, token, tokenID) {
		writeInvalidToken(w)
		return
	}
	delete(s.st.resets, tokenID)
	u, ok := s.st.users[rt.userID]
	if !ok {
		writeInvalidToken(w)
		return
	}
	u.passwordHash = hashPassword(password)
	writeNoContent(w)
}

// handleResetCall runs the reset function with {username, password, token,
// tokenId, currentPasswordValid} and then the call's arguments: "success"
// sets the password, "pending" keeps the token for .../reset, "fail" (or an
// error, or no status) answers 400.
func (s *Server) handleResetCall(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	email, _, eok := stringField(obj, "email")
	password, _, pok := stringField(obj, "password")
	var args []json.RawMessage
	if raw, ok := obj["arguments"]; ok && string(raw) != "null" && json.Unmarshal(raw, &args) != nil {
		badRequest(w, "arguments must be an array")
		return
	}
	switch {
	case !eok:
		badRequest(w, "email must be a string")
		return
	case !pok || !validPassword(password):
		badRequest(w, "password must be between 6 and 128 characters")
		return
	case s.cfg.resetFn == nil:
		badRequest(w, "the email/password provider does not run a password reset function")
		return
	}
	s.mu.Lock()
	u, ok := s.st.byEmail[normEmail(email)]
	var tok oneTimeToken
	var current bool
	if ok {
		tok = s.newResetLocked(u)
		h := hashPassword(password)
		current = h == u.passwordHash
	}
	s.mu.Unlock()
	if !ok {
		writeUserNotFound(w)
		return
	}
	fnArgs := []any{map[string]any{
		"username": u.email, "password": password, "token": tok.secret, "tokenId": tok.id,
		"currentPasswordValid": current,
	}}
	for _, a := range args {
		fnArgs = append(fnArgs, a)
	}
	status, err := callStatus(r.Context(), s.cfg.resetFn, fnArgs...)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil && status == statusPending:
		writeNoContent(w)
		return
	case err == nil && status == statusSuccess:
		if _, live := s.st.users[u.id]; live {
			u.passwordHash = hashPassword(password)
		}
		delete(s.st.resets, tok.id)
		writeNoContent(w)
		return
	}
	delete(s.st.resets, tok.id)
	badRequest(w, "password reset failed: the reset function did not allow it")
}
