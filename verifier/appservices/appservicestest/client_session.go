package appservicestest

import "net/http"

// Messages of refused refresh tokens on POST and DELETE /auth/session, of
// the Admin API and the client API alike. The first two are the OpenAPI
// spec's (adminCreateSession, adminDeleteSession); realm-web's logOut treats
// a 401 whose message holds "failed to find refresh token" as success.
const (
	msgNoRefreshSession = "invalid session: failed to find refresh token"
	msgNotRefreshToken  = "invalid refresh token: incorrect token type"
	msgBadSignature     = "invalid session: signature is invalid"
	msgRefreshExpired   = "invalid session: refresh token expired"
	msgMissingRefresh   = "invalid session: missing refresh token"
)

// refusedRefresh answers a refresh token refused for why (one of the
// messages above). Only an access token sent as a refresh token gets no
// error_code: the spec gives that answer none.
func refusedRefresh(w http.ResponseWriter, why string) {
	code := codeInvalidSession
	if why == msgNotRefreshToken {
		code = ""
	}
	writeError(w, http.StatusUnauthorized, why, code)
}

// checkRefresh returns the claims of the Bearer refresh token of r, a client
// one or an admin one, or answers 401.
func (s *Server) checkRefresh(w http.ResponseWriter, r *http.Request, client bool) (*claims, bool) {
	tok, ok := bearer(r)
	if !ok {
		refusedRefresh(w, msgMissingRefresh)
		return nil, false
	}
	kf := s.adminKF
	if client {
		kf = s.clientKF
	}
	c, ok := s.parse(tok, kf)
	switch {
	case !ok:
		refusedRefresh(w, msgBadSignature)
	case c.Typ != typRefresh:
		refusedRefresh(w, msgNotRefreshToken)
	case expired(c, s.Now()):
		refusedRefresh(w, msgRefreshExpired)
	default:
		return c, true
	}
	return nil, false
}

// clientRefreshSession checks a Bearer client refresh token against the live
// sessions; s.mu must be held. Revoke, disable and delete end a user's
// sessions, after which this answers 401 "failed to find refresh token".
func (s *Server) clientRefreshSession(w http.ResponseWriter, r *http.Request) (*session, *user, bool) {
	c, ok := s.checkRefresh(w, r, true)
	if !ok {
		return nil, nil, false
	}
	sess, ok := s.st.sessions[c.SessionID]
	if !ok {
		refusedRefresh(w, msgNoRefreshSession)
		return nil, nil, false
	}
	u, ok := s.st.users[sess.userID]
	if !ok || u.disabled {
		refusedRefresh(w, msgNoRefreshSession)
		return nil, nil, false
	}
	return sess, u, true
}

func (s *Server) handleClientRefresh(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sess, u, ok := s.clientRefreshSession(w, r)
	var tok string
	if ok {
		tok = signWith(s.clientKey, s.accessClaims(s.Now(), sess, u.customData))
	}
	s.mu.Unlock()
	if ok {
		writeJSON(w, http.StatusCreated, map[string]string{"access_token": tok})
	}
}

// handleClientLogout ends one session (DELETE /auth/session with the refresh
// token), as an SDK's logOut does.
func (s *Server) handleClientLogout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, u, ok := s.clientRefreshSession(w, r)
	if !ok {
		return
	}
	s.endSessionLocked(u, sess.id)
	writeNoContent(w)
}
