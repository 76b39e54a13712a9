package appservicestest

import "net/http"

// profileJSON is the answer of GET /auth/profile: what realm-web's
// UserProfile (type, identities, data) and realm-core's get_profile
// (identities[].id and provider_type, data) read, with user_id and
// domain_id.
type profileJSON struct {
	UserID     string            `json:"user_id"`
	DomainID   string            `json:"domain_id"`
	Identities []profileIdentity `json:"identities"`
	Data       map[string]any    `json:"data"`
	Type       string            `json:"type"`
}

type profileIdentity struct {
	ID           string `json:"id"`
	ProviderID   string `json:"provider_id"`
	ProviderType string `json:"provider_type"`
}

// clientAccessUser returns the user of r's Bearer client access token, or
// answers 401; s.mu must be held. An expired token gets InvalidSession
// "access token expired", on which SDKs refresh and retry; a refresh token
// gets "valid Issuer required" with no code, as on the Admin API; a token
// not signed by the emulator gets {"error":"unauthorized"}, which realm-web
// also answers by refreshing. Like verify_token, this checks the token and
// not its session: an access token outlives a revocation until it expires.
func (s *Server) clientAccessUser(w http.ResponseWriter, r *http.Request) (*user, bool) {
	tok, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid session: missing access token", codeInvalidSession)
		return nil, false
	}
	c, ok := s.parse(tok, s.clientKF)
	switch {
	case !ok:
		writeError(w, http.StatusUnauthorized, "unauthorized", "")
		return nil, false
	case c.Issuer == "" || c.Typ != typAccess:
		writeError(w, http.StatusUnauthorized, "invalid session: valid Issuer required", "")
		return nil, false
	case expired(c, s.Now()):
		writeError(w, http.StatusUnauthorized, "invalid session: access token expired", codeInvalidSession)
		return nil, false
	}
	u, ok := s.st.users[c.Subject]
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid session: user not found", codeInvalidSession)
		return nil, false
	}
	if u.disabled {
		writeError(w, http.StatusUnauthorized, "user disabled", codeUserDisabled)
		return nil, false
	}
	return u, true
}

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.clientAccessUser(w, r)
	if !ok {
		return
	}
	uj := s.userJSONLocked(u)
	ids := make([]profileIdentity, len(uj.Identities))
	for i, id := range uj.Identities {
		ids[i] = profileIdentity{ID: id.ID, ProviderID: id.ProviderID, ProviderType: id.ProviderType}
	}
	writeJSON(w, http.StatusOK, profileJSON{
		UserID: u.id, DomainID: DefaultDomainID, Identities: ids, Data: uj.Data, Type: uj.Type,
	})
}

// handleDeleteSelf is DELETE /auth/delete, an SDK's deleteUser: the user of
// the access token deletes itself and every session it has.
func (s *Server) handleDeleteSelf(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.clientAccessUser(w, r)
	if !ok {
		return
	}
	s.deleteUserLocked(u)
	writeNoContent(w)
}
