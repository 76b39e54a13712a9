package appservicestest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"slices"
	"unicode/utf8"
)

// The email/password provider's client API, under
// /api/client/v2.0/app/{clientAppId}/auth/providers/local-userpass, with the
// bodies realm-web's EmailPasswordAuth and realm-core's
// UsernamePasswordProviderClient send. No source shows the status of a
// success: the emulator answers register 201 and the others 204, all with
// no body, which both SDKs accept.

// newTokenLocked mints a confirmation or reset token; s.mu must be held.
func (s *Server) newTokenLocked() oneTimeToken {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	now := s.Now()
	return oneTimeToken{id: s.ids.next(now), secret: hex.EncodeToString(b[:]), exp: now.Add(tokenTTL)}
}

// matches reports whether t is the pair token, tokenID and still valid.
func (t oneTimeToken) matches(s *Server, token, tokenID string) bool {
	return t.id != "" && t.id == tokenID && s.Now().Before(t.exp) &&
		subtle.ConstantTimeCompare([]byte(t.secret), []byte(token)) == 1
}

// send hands m to the mailer, if any; s.mu must not be held.
func (s *Server) send(m Mail) {
	if s.cfg.mailer != nil {
		s.cfg.mailer(m)
	}
}

// validPassword applies the provider's rule: 6 to 128 characters.
func validPassword(p string) bool {
	n := utf8.RuneCountInString(p)
	return n >= minPasswordLen && n <= maxPasswordLen
}

func writeInvalidToken(w http.ResponseWriter) {
	badRequest(w, "invalid token data: the token is unknown, used or expired")
}

func writeAlreadyConfirmed(w http.ResponseWriter) {
	writeError(w, http.StatusBadRequest, "user already confirmed", codeUserAlreadyConfirmed)
}

// handleRegister is POST .../register {email, password}. The registration
// is confirmed at once (ConfirmAuto), waits for its confirmation email's
// token (ConfirmEmail), or is what the confirmation function makes of it
// (ConfirmFunction). An email held by a user or a pending registration gets
// 409 AccountNameInUse.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	email, _, eok := stringField(obj, "email")
	password, _, pok := stringField(obj, "password")
	switch {
	case !eok || email == "":
		badRequest(w, "email must be a non-empty string")
		return
	case !pok || !validPassword(password):
		badRequest(w, "password must be between 6 and 128 characters")
		return
	}
	s.mu.Lock()
	if s.emailTakenLocked(email) {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "name already in use", codeAccountNameInUse)
		return
	}
	if s.cfg.confirmation == ConfirmAuto {
		_, _ = s.addUserLocked(email, hashPassword(password), providerLocalUserpass) // the email is free
		s.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		return
	}
	p := &pendingUser{id: s.ids.next(s.Now()), email: email, passwordHash: hashPassword(password)}
	s.st.pending = append(s.st.pending, p)
	s.mu.Unlock()
	if ok := s.runConfirmation(w, r, p); ok {
		w.WriteHeader(http.StatusCreated)
	}
}

// runConfirmation starts p's confirmation workflow: a new confirmation email
// (ConfirmEmail), the confirmation function (ConfirmFunction) or none
// (ConfirmAuto: p is confirmed). It answers 400 and reports false when the
// function fails, or returns an error or something other than a status,
// after which p is dropped, as the docs say of "fail". s.mu must not be held.
func (s *Server) runConfirmation(w http.ResponseWriter, r *http.Request, p *pendingUser) bool {
	s.mu.Lock()
	if !slices.Contains(s.st.pending, p) { // confirmed or deleted meanwhile
		s.mu.Unlock()
		return true
	}
	if s.cfg.confirmation == ConfirmAuto {
		s.confirmLocked(p)
		s.mu.Unlock()
		return true
	}
	p.confirm = s.newTokenLocked()
	tok := p.confirm
	s.mu.Unlock()

	if s.cfg.confirmation == ConfirmEmail {
		s.send(Mail{Kind: MailConfirm, To: p.email, Token: tok.secret, TokenID: tok.id})
		return true
	}
	status, err := callStatus(r.Context(), s.cfg.confirmFn, map[string]string{
		"token": tok.secret, "tokenId": tok.id, "username": p.email,
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.st.pending, p) {
		return true
	}
	switch {
	case err == nil && status == statusSuccess:
		s.confirmLocked(p)
	case err == nil && status == statusPending:
	default:
		s.dropPendingLocked(p)
		badRequest(w, "user confirmation failed: the confirmation function did not confirm the user")
		return false
	}
	return true
}

// confirmLocked turns pending registration p into a user; s.mu must be held.
func (s *Server) confirmLocked(p *pendingUser) {
	s.dropPendingLocked(p)
	_, _ = s.addUserLocked(p.email, p.passwordHash, providerLocalUserpass) // p held the email
}

func (s *Server) dropPendingLocked(p *pendingUser) {
	s.st.pending = slices.DeleteFunc(s.st.pending, func(x *pendingUser) bool { return x == p })
}

// pendingByEmailLocked finds the registration of email, answering 400
// UserAlreadyConfirmed for a confirmed user and 404 UserNotFound for an
// unknown email when there is none; s.mu must be held.
func (s *Server) pendingByEmailLocked(w http.ResponseWriter, email string) (*pendingUser, bool) {
	if i := s.pendingIndexLocked(email); i >= 0 {
		return s.st.pending[i], true
	}
	if _, ok := s.st.byEmail[normEmail(email)]; ok {
		writeAlreadyConfirmed(w)
	} else {
		writeUserNotFound(w)
	}
	return nil, false
}

// handleConfirm is POST .../confirm {token, tokenId}: the pair of the
// latest confirmation email or function call confirms the registration.
func (s *Server) handleConfirm(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	token, _, tok := stringField(obj, "token")
	tokenID, _, idok := stringField(obj, "tokenId")
	if !tok || !idok {
		badRequest(w, "token and tokenId must be strings")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.st.pending, func(p *pendingUser) bool { return p.confirm.matches(s, token, tokenID) })
	if i < 0 {
		writeInvalidToken(w)
		return
	}
	s.confirmLocked(s.st.pending[i])
	writeNoContent(w)
}

// rerun is POST .../confirm/send and .../confirm/call {email}: the first
// sends a new confirmation email (ConfirmEmail only), the second runs the
// confirmation function again (ConfirmFunction only).
func (s *Server) rerun(w http.ResponseWriter, r *http.Request, mode ConfirmationMode) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	email, _, isString := stringField(obj, "email")
	if !isString {
		badRequest(w, "email must be a string")
		return
	}
	if s.cfg.confirmation != mode {
		badRequest(w, "the email/password provider is not configured to confirm users by "+mode.String())
		return
	}
	s.mu.Lock()
	p, ok := s.pendingByEmailLocked(w, email)
	s.mu.Unlock()
	if ok && s.runConfirmation(w, r, p) {
		writeNoContent(w)
	}
}

func (s *Server) handleConfirmSend(w http.ResponseWriter, r *http.Request) {
	s.rerun(w, r, ConfirmEmail)
}
func (s *Server) handleConfirmCall(w http.ResponseWriter, r *http.Request) {
	s.rerun(w, r, ConfirmFunction)
}
