package appservicestest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// Provider types of user identities.
const (
	providerLocalUserpass = "local-userpass"
	providerAnonUser      = "anon-user"
)

// Errors returned by the direct helpers LoginUser and NewAccessToken.
var (
	ErrInvalidPassword = errors.New("appservicestest: invalid username/password")
	ErrUserDisabled    = errors.New("appservicestest: user disabled")
	ErrUserNotFound    = errors.New("appservicestest: user not found")
)

// store is the emulator's state; Server.mu guards it.
type store struct {
	users    map[string]*user    // by _id
	byEmail  map[string]*user    // local-userpass users by email
	order    []string            // user ids in creation (= _id) order
	pending  []*pendingUser      // in _id order
	sessions map[string]*session // client sessions by id
	// The ids of the auth providers, fixed per server.
	localProviderID, anonProviderID string
}

func newStore() store {
	return store{
		users:    make(map[string]*user),
		byEmail:  make(map[string]*user),
		sessions: make(map[string]*session),
	}
}

type user struct {
	id                 string
	email              string // "" for users without a local-userpass identity
	passwordHash       [32]byte
	provider           string
	identityID         string
	created, lastAuth  time.Time
	disabled           bool
	sessionsValidSince time.Time
	customData         json.RawMessage
	devices            []device
	sessions           []string // ids of live client sessions
}

type device struct {
	ID               string `json:"_id"`
	ClientAppVersion string `json:"client_app_version"`
	Platform         string `json:"platform"`
	PlatformVersion  string `json:"platform_version"`
}

type pendingUser struct {
	id    string
	email string
}

// session is a client login session; its id is the access tokens' iss.
type session struct {
	id, userID, deviceID string
}

// Session is the answer of a client login: what the client API returns.
type Session struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	UserID       string `json:"user_id"`
	DeviceID     string `json:"device_id"`
}

func hashPassword(p string) [32]byte { return sha256.Sum256([]byte(p)) }

// normEmail is the key of byEmail: App Services treats emails case-insensitively.
func normEmail(e string) string { return strings.ToLower(e) }

// errEmailInUse is returned by addUserLocked when the email is taken.
var errEmailInUse = errors.New("appservicestest: email already in use")

// addUserLocked creates a user; s.mu must be held for writing.
func (s *Server) addUserLocked(email, password, provider string) (*user, error) {
	if provider == providerLocalUserpass {
		if _, ok := s.st.byEmail[normEmail(email)]; ok {
			return nil, errEmailInUse
		}
		if s.pendingIndexLocked(email) >= 0 {
			return nil, errEmailInUse
		}
	}
	now := s.Now()
	u := &user{
		id:                 s.ids.next(now),
		email:              email,
		passwordHash:       hashPassword(password),
		provider:           provider,
		identityID:         s.ids.next(now),
		created:            now,
		sessionsValidSince: now,
	}
	s.st.users[u.id] = u
	s.st.order = append(s.st.order, u.id)
	if provider == providerLocalUserpass {
		s.st.byEmail[normEmail(email)] = u
	}
	return u, nil
}

func (s *Server) pendingIndexLocked(email string) int {
	return slices.IndexFunc(s.st.pending, func(p *pendingUser) bool { return normEmail(p.email) == normEmail(email) })
}

// AddUser creates a confirmed email/password user directly (no HTTP) and
// returns its id. It panics if the email is already in use: that is a bug in
// the test.
func (s *Server) AddUser(email, password string) (userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.addUserLocked(email, password, providerLocalUserpass)
	if err != nil {
		panic("appservicestest: AddUser(" + email + "): email already in use")
	}
	return u.id
}

// AddAnonUser creates a user whose only identity is anon-user (no email), as
// anonymous login would, and returns its id. reset_email refuses such users.
func (s *Server) AddAnonUser() (userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, _ := s.addUserLocked("", "", providerAnonUser) // cannot fail: no email
	return u.id
}

// AddPendingUser registers a pending (unconfirmed) email/password user, as
// the email confirmation flow would, and returns its _id. The emulator does
// not model that flow; this helper stands in for it. It panics if the email
// is already in use.
func (s *Server) AddPendingUser(email string) (id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.byEmail[normEmail(email)]; ok || s.pendingIndexLocked(email) >= 0 {
		panic("appservicestest: AddPendingUser(" + email + "): email already in use")
	}
	p := &pendingUser{id: s.ids.next(s.Now()), email: email}
	s.st.pending = append(s.st.pending, p)
	return p.id
}

// SetCustomUserData sets the custom user data of a user; access tokens issued
// from now on carry it in their user_data claim, and verify_token returns it
// as custom_user_data. data must be a JSON object, or nil to clear it. It
// panics for an unknown user or data that is not an object.
func (s *Server) SetCustomUserData(userID string, data json.RawMessage) {
	if data != nil {
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil || obj == nil {
			panic("appservicestest: SetCustomUserData: data is not a JSON object")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.st.users[userID]
	if !ok {
		panic("appservicestest: SetCustomUserData: unknown user " + userID)
	}
	u.customData = append(json.RawMessage(nil), data...)
}

// LoginUser logs an email/password user in directly (no HTTP), exactly as the
// client API's login does: it checks the password, refuses disabled users,
// opens a session on a new device and returns its tokens.
func (s *Server) LoginUser(email, password string) (Session, error) {
	return s.login(email, password, device{Platform: "appservicestest"})
}

func (s *Server) login(email, password string, dev device) (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.st.byEmail[normEmail(email)]
	// Compare even for unknown users, so timing does not tell them apart.
	want := hashPassword("\x00unknown-user")
	if ok {
		want = u.passwordHash
	}
	got := hashPassword(password)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !ok {
		return Session{}, ErrInvalidPassword
	}
	if u.disabled {
		return Session{}, ErrUserDisabled
	}
	return s.openSessionLocked(u, dev), nil
}

// NewAccessToken opens a fresh session for a user, as a login would, and
// returns its access token.
func (s *Server) NewAccessToken(userID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.st.users[userID]
	if !ok {
		return "", ErrUserNotFound
	}
	if u.disabled {
		return "", ErrUserDisabled
	}
	return s.openSessionLocked(u, device{Platform: "appservicestest"}).AccessToken, nil
}

// openSessionLocked records a device and a session for u and signs its
// tokens; s.mu must be held for writing.
func (s *Server) openSessionLocked(u *user, dev device) Session {
	now := s.Now()
	dev.ID = s.ids.next(now)
	sess := &session{id: s.ids.next(now), userID: u.id, deviceID: dev.ID}
	u.devices = append(u.devices, dev)
	u.sessions = append(u.sessions, sess.id)
	u.lastAuth = now
	s.st.sessions[sess.id] = sess
	return Session{
		AccessToken:  signWith(s.clientKey, s.accessClaims(now, sess, u.customData)),
		RefreshToken: signWith(s.clientKey, s.refreshClaims(now, u.id, sess.id, dev.ID)),
		UserID:       u.id,
		DeviceID:     dev.ID,
	}
}

// revokeLocked ends every session of u: refresh fails from now on, and in
// strict mode their access tokens stop verifying; s.mu must be held.
func (s *Server) revokeLocked(u *user) {
	for _, id := range u.sessions {
		delete(s.st.sessions, id)
	}
	u.sessions = nil
	u.sessionsValidSince = s.Now()
}

// deleteUserLocked removes u and its sessions; s.mu must be held.
func (s *Server) deleteUserLocked(u *user) {
	s.revokeLocked(u)
	delete(s.st.users, u.id)
	if u.email != "" {
		delete(s.st.byEmail, normEmail(u.email))
	}
	if i, ok := slices.BinarySearch(s.st.order, u.id); ok {
		s.st.order = slices.Delete(s.st.order, i, i+1)
	}
}
