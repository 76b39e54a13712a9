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
	providerAPIKey        = "api-key"
)

// User types: users of server API keys are "server", all others "normal".
const (
	userNormal = "normal"
	userServer = "server"
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
	apiKeys  []*apiKey           // server API keys in _id order
	resets   map[string]*resetToken
	// The ids of the auth providers, fixed per server.
	localProviderID, anonProviderID, apiKeyProviderID string
}

func newStore() store {
	return store{
		users:    make(map[string]*user),
		byEmail:  make(map[string]*user),
		sessions: make(map[string]*session),
		resets:   make(map[string]*resetToken),
	}
}

type user struct {
	id                 string
	typ                string // userNormal or userServer
	email              string // "" for users without a local-userpass identity
	name               string // a server user's API key name
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

// device is a device a user logged in from, as ListDevices shows it. The
// Admin API spec gives a device no fields; _id, client_app_version,
// platform and platform_version are the ones clients model. sdk_version is
// the emulator's name for the sdkVersion SDKs send, which the service keeps
// under a name no source shows.
type device struct {
	ID               string `json:"_id"`
	ClientAppVersion string `json:"client_app_version"`
	Platform         string `json:"platform"`
	PlatformVersion  string `json:"platform_version"`
	SDKVersion       string `json:"sdk_version,omitempty"`
}

// pendingUser is an email/password registration not yet confirmed.
type pendingUser struct {
	id           string
	email        string
	passwordHash [32]byte
	confirm      oneTimeToken // the latest confirmation token; zero if none
}

// oneTimeToken is the token and tokenId pair of a confirmation or password
// reset, valid for 30 minutes as the provider's emails are.
type oneTimeToken struct {
	id, secret string
	exp        time.Time
}

// tokenTTL is how long a confirmation or reset token is valid.
const tokenTTL = 30 * time.Minute

// resetToken is a pending password reset of a user.
type resetToken struct {
	userID string
	tok    oneTimeToken
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

// normEmail is the key of byEmail. The emulator matches emails without regard
// to case, so that two registrations that differ only in case conflict; the
// App Services docs call emails case-sensitive.
func normEmail(e string) string { return strings.ToLower(e) }

// errEmailInUse is returned by addUserLocked when the email is taken.
var errEmailInUse = errors.New("appservicestest: email already in use")

// emailTakenLocked reports whether a user or a pending registration holds
// email; s.mu must be held.
func (s *Server) emailTakenLocked(email string) bool {
	_, ok := s.st.byEmail[normEmail(email)]
	return ok || s.pendingIndexLocked(email) >= 0
}

// addUserLocked creates a normal user; s.mu must be held for writing.
func (s *Server) addUserLocked(email string, passwordHash [32]byte, provider string) (*user, error) {
	if provider == providerLocalUserpass && s.emailTakenLocked(email) {
		return nil, errEmailInUse
	}
	now := s.Now()
	u := &user{
		id:                 s.ids.next(now),
		typ:                userNormal,
		email:              email,
		passwordHash:       passwordHash,
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
	u, err := s.addUserLocked(email, hashPassword(password), providerLocalUserpass)
	if err != nil {
		panic("appservicestest: AddUser(" + email + "): email already in use")
	}
	return u.id
}

// AddAnonUser creates a user whose only identity is anon-user (no email), as
// anonymous login does, and returns its id. reset_email refuses such users.
func (s *Server) AddAnonUser() (userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, _ := s.addUserLocked("", [32]byte{}, providerAnonUser) // cannot fail: no email
	return u.id
}

// AddPendingUser registers a pending (unconfirmed) email/password user
// directly, as POST .../local-userpass/register does under ConfirmEmail, and
// returns its _id. Its password is unknown: confirm it with the Admin API,
// not by logging in. It panics if the email is already in use.
func (s *Server) AddPendingUser(email string) (id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emailTakenLocked(email) {
		panic("appservicestest: AddPendingUser(" + email + "): email already in use")
	}
	p := &pendingUser{id: s.ids.next(s.Now()), email: email, passwordHash: hashPassword("\x00unknown-password")}
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
