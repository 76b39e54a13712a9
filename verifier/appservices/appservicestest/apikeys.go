package appservicestest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"slices"
)

// maxAPIKeys is how many server API keys an app may have, as the API key
// provider's docs state.
const maxAPIKeys = 100

// apiKey is a server API key: created through the Admin API with a server
// user of its own (type "server", identity api-key), which logs in with
// POST .../auth/providers/api-key/login {"key"}. Deleting the key deletes
// the user and the user's deletion deletes the key.
type apiKey struct {
	id, name string
	digest   [32]byte // SHA-256 of the key's value, which only creation shows
	disabled bool
	userID   string
}

// apiKeyJSON is an API key as the spec's ApiKeyResponse shows it; Key is
// only filled in by creation (ApiKey).
type apiKeyJSON struct {
	ID       string `json:"_id"`
	Key      string `json:"key,omitempty"`
	Name     string `json:"name"`
	Disabled bool   `json:"disabled"`
}

func (k *apiKey) json() apiKeyJSON { return apiKeyJSON{ID: k.id, Name: k.name, Disabled: k.disabled} }

// apiKeyBySecretLocked returns the key whose value is secret, or nil,
// comparing digests in constant time; s.mu must be held.
func (s *Server) apiKeyBySecretLocked(secret string) *apiKey {
	d := sha256.Sum256([]byte(secret))
	var found *apiKey
	for _, k := range s.st.apiKeys {
		if subtle.ConstantTimeCompare(d[:], k.digest[:]) == 1 {
			found = k
		}
	}
	return found
}

func (s *Server) apiKeyLocked(id string) *apiKey {
	i := slices.IndexFunc(s.st.apiKeys, func(k *apiKey) bool { return k.id == id })
	if i < 0 {
		return nil
	}
	return s.st.apiKeys[i]
}

func writeAPIKeyNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "api key not found", codeAPIKeyNotFound)
}

// handleCreateAPIKey is POST /api_keys {"name"} -> 201 {_id, key, name,
// disabled}. A name must be unique in the app: a second one gets 409.
func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	name, _, isString := stringField(obj, "name")
	if !isString || name == "" {
		badRequest(w, "name must be a non-empty string")
		return
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	secret := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case slices.ContainsFunc(s.st.apiKeys, func(k *apiKey) bool { return k.name == name }):
		writeError(w, http.StatusConflict, "API key name already in use", codeAccountNameInUse)
		return
	case len(s.st.apiKeys) >= maxAPIKeys:
		badRequest(w, "an app can have at most 100 API keys")
		return
	}
	now := s.Now()
	u := &user{
		id: s.ids.next(now), typ: userServer, name: name, provider: providerAPIKey,
		created: now, sessionsValidSince: now,
	}
	k := &apiKey{id: s.ids.next(now), name: name, digest: sha256.Sum256([]byte(secret)), userID: u.id}
	u.identityID = k.id
	s.st.users[u.id] = u
	s.st.order = append(s.st.order, u.id)
	s.st.apiKeys = append(s.st.apiKeys, k)
	j := k.json()
	j.Key = secret
	writeJSON(w, http.StatusCreated, j)
}

func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]apiKeyJSON, 0, len(s.st.apiKeys))
	for _, k := range s.st.apiKeys {
		out = append(out, k.json())
	}
	writeJSON(w, http.StatusOK, out)
}

// withAPIKey runs f on the key named by the path under the write lock, or
// answers 404.
func (s *Server) withAPIKey(w http.ResponseWriter, r *http.Request, f func(k *apiKey)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.apiKeyLocked(r.PathValue("apiKeyId"))
	if k == nil {
		writeAPIKeyNotFound(w)
		return
	}
	f(k)
}

func (s *Server) handleGetAPIKey(w http.ResponseWriter, r *http.Request) {
	s.withAPIKey(w, r, func(k *apiKey) { writeJSON(w, http.StatusOK, k.json()) })
}

func (s *Server) handleDeleteAPIKey(w http.ResponseWriter, r *http.Request) {
	s.withAPIKey(w, r, func(k *apiKey) {
		if u, ok := s.st.users[k.userID]; ok {
			s.deleteUserLocked(u) // removes k too
		}
		s.st.apiKeys = slices.DeleteFunc(s.st.apiKeys, func(x *apiKey) bool { return x == k })
		writeNoContent(w)
	})
}

// handleEnableAPIKey and handleDisableAPIKey switch a key; a disabled key
// cannot log in. Sessions it opened before are left alone.
func (s *Server) handleEnableAPIKey(w http.ResponseWriter, r *http.Request) {
	s.withAPIKey(w, r, func(k *apiKey) { k.disabled = false; writeNoContent(w) })
}

func (s *Server) handleDisableAPIKey(w http.ResponseWriter, r *http.Request) {
	s.withAPIKey(w, r, func(k *apiKey) { k.disabled = true; writeNoContent(w) })
}
