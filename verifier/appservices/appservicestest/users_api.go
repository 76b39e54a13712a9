package appservicestest

import (
	"net/http"
	"slices"
	"unicode/utf8"
)

// pageSize is the most items a list answer holds.
const pageSize = 50

// Password bounds of the local-userpass provider.
const (
	minPasswordLen = 6
	maxPasswordLen = 128
	maxEmailLen    = 128 // reset_email's documented limit, in characters
)

type userJSON struct {
	ID                     string         `json:"_id"`
	Identities             []identityJSON `json:"identities"`
	Type                   string         `json:"type"`
	CreationDate           int64          `json:"creation_date"`
	LastAuthenticationDate int64          `json:"last_authentication_date"`
	Disabled               bool           `json:"disabled"`
	Data                   map[string]any `json:"data"`
	DomainID               string         `json:"domain_id"`
	SessionsValidSince     int64          `json:"sessions_valid_since"`
}

type identityJSON struct {
	ID           string         `json:"id"`
	ProviderType string         `json:"provider_type"`
	ProviderID   string         `json:"provider_id"`
	ProviderData map[string]any `json:"provider_data"`
}

type pendingJSON struct {
	ID       string        `json:"_id"`
	UserID   string        `json:"user_id"`
	DomainID string        `json:"domain_id"`
	LoginIDs []loginIDJSON `json:"login_ids"`
}

type loginIDJSON struct {
	IDType string `json:"id_type"`
	ID     string `json:"id"`
}

// userJSONLocked renders u; s.mu must be held.
func (s *Server) userJSONLocked(u *user) userJSON {
	data := map[string]any{}
	pdata := map[string]any{}
	providerID := s.st.anonProviderID
	switch u.provider {
	case providerLocalUserpass:
		data["email"] = u.email
		pdata["email"] = u.email
		providerID = s.st.localProviderID
	case providerAPIKey:
		data["name"] = u.name
		pdata["name"] = u.name
		providerID = s.st.apiKeyProviderID
	}
	var lastAuth int64
	if !u.lastAuth.IsZero() {
		lastAuth = u.lastAuth.Unix()
	}
	return userJSON{
		ID: u.id,
		Identities: []identityJSON{{
			ID: u.identityID, ProviderType: u.provider, ProviderID: providerID, ProviderData: pdata,
		}},
		Type:                   u.typ,
		CreationDate:           u.created.Unix(),
		LastAuthenticationDate: lastAuth,
		Disabled:               u.disabled,
		Data:                   data,
		DomainID:               DefaultDomainID,
		SessionsValidSince:     u.sessionsValidSince.Unix(),
	}
}

func writeUserNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "user not found", codeUserNotFound)
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
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
	case !pok || utf8.RuneCountInString(password) < minPasswordLen || utf8.RuneCountInString(password) > maxPasswordLen:
		badRequest(w, "password must be between 6 and 128 characters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.addUserLocked(email, hashPassword(password), providerLocalUserpass)
	if err != nil {
		// Not in the spec: the backend's AccountNameInUse code, with 409.
		writeError(w, http.StatusConflict, "name already in use", codeAccountNameInUse)
		return
	}
	writeJSON(w, http.StatusCreated, s.userJSONLocked(u))
}

func (s *Server) handleDeletePendingUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.pendingIndexLocked(r.PathValue("email"))
	if i < 0 {
		writeUserNotFound(w)
		return
	}
	s.st.pending = slices.Delete(s.st.pending, i, i+1)
	writeNoContent(w)
}

// withUser runs f on the user named by the path under the write lock, or
// answers 404 UserNotFound.
func (s *Server) withUser(w http.ResponseWriter, r *http.Request, f func(u *user)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.st.users[r.PathValue("userId")]
	if !ok {
		writeUserNotFound(w)
		return
	}
	f(u)
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	s.withUser(w, r, func(u *user) {
		s.deleteUserLocked(u)
		writeNoContent(w)
	})
}

// handleDisableUser disables the user and, as the service does, ends its
// sessions: refresh fails, while issued access tokens keep verifying until
// exp unless strict revocation is on.
func (s *Server) handleDisableUser(w http.ResponseWriter, r *http.Request) {
	s.withUser(w, r, func(u *user) {
		u.disabled = true
		s.revokeLocked(u)
		writeNoContent(w)
	})
}

func (s *Server) handleEnableUser(w http.ResponseWriter, r *http.Request) {
	s.withUser(w, r, func(u *user) {
		u.disabled = false
		writeNoContent(w)
	})
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	s.withUser(w, r, func(u *user) {
		writeJSON(w, http.StatusOK, s.userJSONLocked(u))
	})
}

func (s *Server) handleListDevices(w http.ResponseWriter, r *http.Request) {
	s.withUser(w, r, func(u *user) {
		devs := u.devices
		if devs == nil {
			devs = []device{}
		}
		writeJSON(w, http.StatusOK, devs)
	})
}

func (s *Server) handleRevokeSessions(w http.ResponseWriter, r *http.Request) {
	s.withUser(w, r, func(u *user) {
		s.revokeLocked(u)
		writeNoContent(w)
	})
}

// handleResetEmail changes a local-userpass user's email. Per the spec: 400
// for a malformed body, an email that is not a string, empty, or longer than
// 128 characters (counted in Unicode code points), or a user without a
// local-userpass identity; 404 for an unknown user (the group and app were
// checked by withAdmin). An email already used by another user gets 409
// AccountNameInUse, which the spec does not list.
func (s *Server) handleResetEmail(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	email, present, isString := stringField(obj, "email")
	switch {
	case !present:
		badRequest(w, "email is required")
		return
	case !isString:
		badRequest(w, "email must be a string")
		return
	case email == "":
		badRequest(w, "email must not be empty")
		return
	case utf8.RuneCountInString(email) > maxEmailLen:
		badRequest(w, "email must be at most 128 characters")
		return
	}
	s.withUser(w, r, func(u *user) {
		if u.provider != providerLocalUserpass {
			badRequest(w, "user has no local-userpass identity")
			return
		}
		if other, ok := s.st.byEmail[normEmail(email)]; (ok && other != u) || s.pendingIndexLocked(email) >= 0 {
			writeError(w, http.StatusConflict, "name already in use", codeAccountNameInUse)
			return
		}
		delete(s.st.byEmail, normEmail(u.email))
		u.email = email
		s.st.byEmail[normEmail(email)] = u
		writeNoContent(w)
	})
}
