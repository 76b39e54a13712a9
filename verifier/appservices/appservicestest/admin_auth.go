package appservicestest

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// adminDeviceID is the device id admin logins report, as the real service does.
const adminDeviceID = "000000000000000000000000"

// adminState holds Admin API sessions. Admin access tokens carry a sequence
// number in jti; ExpireAdminSessions moves minSeq past every issued one.
type adminState struct {
	mu       sync.RWMutex // guards sessions, userID
	sessions map[string]bool
	userID   string

	seq    atomic.Uint64 // last jti issued
	minSeq atomic.Uint64 // access tokens with jti below it are expired

	// checked maps admin access tokens whose signature and form were
	// checked to their claims, so that each Admin API call (thousands of
	// verify_token calls a second in load tests) parses its admin token
	// once. Only tokens the server signed get in; expiry, ExpireAdminSessions
	// and logout are still checked on every call.
	checked sync.Map // string -> *adminToken
}

type adminToken struct {
	issuer string
	seq    uint64
	exp    int64
}

// ExpireAdminSessions makes every Admin API access token issued so far answer
// 401 InvalidSession "invalid session: access token expired", as if its 30
// minutes had passed. Refresh tokens keep working.
func (s *Server) ExpireAdminSessions() {
	s.admin.minSeq.Store(s.admin.seq.Load() + 1)
}

// authorized is the admin login failure. The status is not documented;
// realm-cli shows this message, and the Atlas API answers 401 for bad keys.
func writeNotAuthorized(w http.ResponseWriter) {
	writeError(w, http.StatusUnauthorized, "You are not authorized for this resource.", codeAuthError)
}

func (s *Server) handleAdminLogin(w http.ResponseWriter, r *http.Request) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	user, _, _ := stringField(obj, "username")
	key, _, _ := stringField(obj, "apiKey")
	// Compare digests in constant time, so neither length nor content leaks.
	gotU, wantU := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(s.cfg.publicKey))
	gotK, wantK := sha256.Sum256([]byte(key)), sha256.Sum256([]byte(s.cfg.privateKey))
	if subtle.ConstantTimeCompare(gotU[:], wantU[:])&subtle.ConstantTimeCompare(gotK[:], wantK[:]) != 1 {
		writeNotAuthorized(w)
		return
	}
	now := s.Now()
	sid := s.ids.next(now)
	s.admin.mu.Lock()
	if s.admin.sessions == nil {
		s.admin.sessions = make(map[string]bool)
		s.admin.userID = s.ids.next(now)
	}
	s.admin.sessions[sid] = true
	uid := s.admin.userID
	s.admin.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token":  s.adminAccessToken(now, uid, sid),
		"refresh_token": signWith(s.adminKey, s.refreshClaims(now, uid, sid, adminDeviceID)),
		"user_id":       uid,
		"device_id":     adminDeviceID,
	})
}

func (s *Server) adminAccessToken(now time.Time, uid, sid string) string {
	c := &claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   uid,
			Issuer:    sid,
			ID:        strconv.FormatUint(s.admin.seq.Add(1), 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.adminTTL)),
		},
		Typ:      typAccess,
		DeviceID: adminDeviceID,
	}
	return signWith(s.adminKey, c)
}

// adminRefreshSession checks a Bearer admin refresh token and returns its
// claims, answering 401 as checkRefresh does otherwise.
func (s *Server) adminRefreshSession(w http.ResponseWriter, r *http.Request) (*claims, bool) {
	c, ok := s.checkRefresh(w, r, false)
	if !ok {
		return nil, false
	}
	s.admin.mu.RLock()
	live := s.admin.sessions[c.SessionID]
	s.admin.mu.RUnlock()
	if !live {
		refusedRefresh(w, msgNoRefreshSession)
		return nil, false
	}
	return c, true
}

func (s *Server) handleAdminRefresh(w http.ResponseWriter, r *http.Request) {
	c, ok := s.adminRefreshSession(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{
		"access_token": s.adminAccessToken(s.Now(), c.Subject, c.SessionID),
	})
}

func (s *Server) handleAdminLogout(w http.ResponseWriter, r *http.Request) {
	c, ok := s.adminRefreshSession(w, r)
	if !ok {
		return
	}
	s.admin.mu.Lock()
	delete(s.admin.sessions, c.SessionID)
	s.admin.mu.Unlock()
	writeNoContent(w)
}

// checkAdmin authenticates a Bearer admin access token. It answers 401 and
// reports false when the token is missing, badly signed (we answer
// InvalidSession: the admin session is unusable, and clients refresh on that
// code), a refresh token ("valid Issuer required", no code, as the service
// does), expired on the emulator's clock or expired by ExpireAdminSessions
// ("access token expired"), or of a session that logged out.
func (s *Server) checkAdmin(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "invalid session: missing access token", codeInvalidSession)
		return false
	}
	at, ok := s.admin.lookup(s, w, tok)
	if !ok {
		return false
	}
	if s.Now().Unix() >= at.exp || at.seq < s.admin.minSeq.Load() {
		writeError(w, http.StatusUnauthorized, "invalid session: access token expired", codeInvalidSession)
		return false
	}
	s.admin.mu.RLock()
	live := s.admin.sessions[at.issuer]
	s.admin.mu.RUnlock()
	if !live {
		writeError(w, http.StatusUnauthorized, "invalid session", codeInvalidSession)
		return false
	}
	return true
}

// lookup returns the claims of a well-formed admin access token, from the
// cache or by parsing it, or answers 401 and reports false.
func (a *adminState) lookup(s *Server, w http.ResponseWriter, tok string) (*adminToken, bool) {
	if v, ok := a.checked.Load(tok); ok {
		return v.(*adminToken), true
	}
	c, ok := s.parse(tok, s.adminKF)
	switch {
	case !ok:
		writeError(w, http.StatusUnauthorized, "invalid session: signature is invalid", codeInvalidSession)
		return nil, false
	case c.Issuer == "":
		writeError(w, http.StatusUnauthorized, "invalid session: valid Issuer required", "")
		return nil, false
	}
	seq, err := strconv.ParseUint(c.ID, 10, 64)
	if c.Typ != typAccess || err != nil || c.ExpiresAt == nil {
		writeError(w, http.StatusUnauthorized, "invalid session", codeInvalidSession)
		return nil, false
	}
	at := &adminToken{issuer: c.Issuer, seq: seq, exp: c.ExpiresAt.Unix()}
	a.checked.Store(tok, at)
	return at, true
}

// withAdmin guards an app-scoped Admin API handler: a valid admin access
// token first (401), then the group and app (404), as the service checks them.
func withAdmin(h handlerFunc) handlerFunc {
	return func(s *Server, w http.ResponseWriter, r *http.Request) {
		if !s.checkAdmin(w, r) {
			return
		}
		if r.PathValue("groupId") != s.cfg.groupID {
			writeError(w, http.StatusNotFound, "group not found", codeGroupNotFound)
			return
		}
		if r.PathValue("appId") != s.cfg.appID {
			writeError(w, http.StatusNotFound, "app not found", codeAppNotFound)
			return
		}
		h(s, w, r)
	}
}

// adminProfile is the AdminUser of the OpenAPI spec (getAdminProfile).
// realm-cli reads roles[].group_id to learn the projects it may use.
type adminProfile struct {
	UserID     string         `json:"user_id"`
	DomainID   string         `json:"domain_id"`
	Identities []identityJSON `json:"identities"`
	Data       map[string]any `json:"data"`
	Type       string         `json:"type"`
	Roles      []adminRole    `json:"roles"`
}

type adminRole struct {
	RoleName string `json:"role_name"`
	GroupID  string `json:"group_id"`
}

// handleAdminProfile answers GET /auth/profile for the admin session: a
// normal user whose one role is owner of the emulated project. The role's
// name is Atlas's GROUP_OWNER; the spec gives role names no values.
func (s *Server) handleAdminProfile(w http.ResponseWriter, r *http.Request) {
	if !s.checkAdmin(w, r) {
		return
	}
	s.admin.mu.RLock()
	uid := s.admin.userID
	s.admin.mu.RUnlock()
	writeJSON(w, http.StatusOK, adminProfile{
		UserID:   uid,
		DomainID: adminDeviceID,
		Identities: []identityJSON{{
			ID: uid, ProviderType: "mongodb-cloud", ProviderData: map[string]any{},
		}},
		Data:  map[string]any{"name": s.cfg.publicKey},
		Type:  userNormal,
		Roles: []adminRole{{RoleName: "GROUP_OWNER", GroupID: s.cfg.groupID}},
	})
}
