package appservicestest

import (
	"encoding/json"
	"net/http"
)

// verifyRequest is the verify_token body. A token that is not a string fails
// to decode and gets 400.
type verifyRequest struct {
	Token *string `json:"token"`
}

// verifyResponse is what verify_token answers for a valid token.
type verifyResponse struct {
	Sub            string          `json:"sub"`
	Exp            int64           `json:"exp"`
	Iat            int64           `json:"iat"`
	Iss            string          `json:"iss"`
	DomainID       string          `json:"domain_id"`
	DeviceID       string          `json:"device_id"`
	Aud            any             `json:"aud,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
	CustomUserData json.RawMessage `json:"custom_user_data,omitempty"`
}

// tokenExpiredBody is the whole body of verify_token's answer for an expired
// but well-formed token: a JSON string, with status 200.
var tokenExpiredBody = []byte(`"token expired"`)

// writeInvalidToken answers a malformed or badly signed token.
//
// The docs ("Manage User Sessions") show 401 {"error":"signature is invalid"}
// and the OpenAPI spec says 400. We answer 401 by default because the docs
// describe what the running service returned, and a 401 without an
// InvalidSession code is what clients must map to "invalid token" without
// refreshing the admin session. WithMalformedTokenStatus(400) selects the
// spec's variant so clients can be tested against both.
func (s *Server) writeInvalidToken(w http.ResponseWriter, msg string) {
	if s.cfg.malformedStatus == http.StatusBadRequest {
		writeError(w, http.StatusBadRequest, msg, codeBadRequest)
		return
	}
	writeError(w, http.StatusUnauthorized, msg, "")
}

func (s *Server) handleVerifyToken(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	var req verifyRequest
	if err := json.Unmarshal(b, &req); err != nil || req.Token == nil {
		badRequest(w, "invalid request body: expected {\"token\": string}")
		return
	}
	c, ok := s.parse(*req.Token, s.clientKF)
	if !ok {
		s.writeInvalidToken(w, "signature is invalid")
		return
	}
	if c.Typ != typAccess {
		s.writeInvalidToken(w, "token is not an access token")
		return
	}
	if expired(c, s.Now()) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(tokenExpiredBody)
		return
	}
	// App Services checks only signature and expiry. realm-core's tests show
	// a token verifying after its session is revoked and after its user is
	// disabled, until it expires (the docs claim revocation bites at once).
	// After its user is deleted no source shows the answer: the emulator
	// assumes, and does not know, that it is the same, since the token is
	// checked without its user. Strict mode refuses, at once, tokens whose
	// session no longer exists: revoke, disable and delete all end the
	// user's sessions, so this covers every token issued at or before them
	// while tokens of later logins verify. A token signed with Sign whose
	// iss names no session is refused too.
	if s.cfg.strict && !s.liveSession(c) {
		writeError(w, http.StatusUnauthorized, "invalid session: session revoked", "")
		return
	}
	resp := verifyResponse{
		Sub:      c.Subject,
		Exp:      c.ExpiresAt.Unix(),
		Iss:      c.Issuer,
		DomainID: c.DomainID,
		DeviceID: c.DeviceID,
	}
	if c.IssuedAt != nil {
		resp.Iat = c.IssuedAt.Unix()
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		resp.Aud = c.Audience[0]
	default:
		resp.Aud = []string(c.Audience)
	}
	if len(c.Data) > 0 && c.Data[0] == '"' {
		resp.Data = c.Data
	}
	if len(c.UserData) > 0 && c.UserData[0] == '{' {
		resp.CustomUserData = c.UserData
	}
	writeJSON(w, http.StatusOK, resp)
}

// liveSession reports whether the token's session still exists and belongs
// to its subject, an enabled user.
func (s *Server) liveSession(c *claims) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sess, ok := s.st.sessions[c.Issuer]
	if !ok || sess.userID != c.Subject {
		return false
	}
	u, ok := s.st.users[sess.userID]
	return ok && !u.disabled
}
