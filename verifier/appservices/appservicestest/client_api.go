package appservicestest

import (
	"encoding/json"
	"errors"
	"net/http"
)

// handleClientLogin is local-userpass login on the client API. Besides
// username and password it reads the device description Realm SDKs send in
// options.device, to fill in the device record.
func (s *Server) handleClientLogin(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("clientAppId") != s.cfg.clientApp {
		writeError(w, http.StatusNotFound, "cannot find app using Client App ID '"+r.PathValue("clientAppId")+"'", codeAppNotFound)
		return
	}
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	username, _, uok := stringField(obj, "username")
	password, _, pok := stringField(obj, "password")
	if !uok || !pok {
		badRequest(w, "username and password must be strings")
		return
	}
	dev := device{}
	if raw, ok := obj["options"]; ok {
		var opts struct {
			Device struct {
				AppVersion      string `json:"appVersion"`
				Platform        string `json:"platform"`
				PlatformVersion string `json:"platformVersion"`
			} `json:"device"`
		}
		if json.Unmarshal(raw, &opts) == nil {
			dev = device{
				ClientAppVersion: opts.Device.AppVersion,
				Platform:         opts.Device.Platform,
				PlatformVersion:  opts.Device.PlatformVersion,
			}
		}
	}
	sess, err := s.login(username, password, dev)
	switch {
	case errors.Is(err, ErrUserDisabled):
		writeError(w, http.StatusUnauthorized, "user disabled", codeUserDisabled)
	case err != nil:
		writeError(w, http.StatusUnauthorized, "invalid username/password", codeInvalidPassword)
	default:
		writeJSON(w, http.StatusOK, sess)
	}
}

// clientRefreshSession checks a Bearer client refresh token against the live
// sessions: revoke, disable and delete end them, after which this answers
// 401 InvalidSession.
func (s *Server) clientRefreshSession(w http.ResponseWriter, r *http.Request) (*session, *user, bool) {
	tok, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid session: missing refresh token", codeInvalidSession)
		return nil, nil, false
	}
	c, ok := s.parse(tok, s.clientKF)
	if !ok || c.Typ != typRefresh || expired(c, s.Now()) {
		writeError(w, http.StatusUnauthorized, "invalid session", codeInvalidSession)
		return nil, nil, false
	}
	sess, ok := s.st.sessions[c.SessionID]
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid session", codeInvalidSession)
		return nil, nil, false
	}
	u, ok := s.st.users[sess.userID]
	if !ok || u.disabled {
		writeError(w, http.StatusUnauthorized, "invalid session", codeInvalidSession)
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
// token), as an SDK's logout does.
func (s *Server) handleClientLogout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, u, ok := s.clientRefreshSession(w, r)
	if !ok {
		return
	}
	delete(s.st.sessions, sess.id)
	for i, id := range u.sessions {
		if id == sess.id {
			u.sessions = append(u.sessions[:i], u.sessions[i+1:]...)
			break
		}
	}
	writeNoContent(w)
}
