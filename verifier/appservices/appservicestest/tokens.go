package appservicestest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token types, claim "typ".
const (
	typAccess  = "access"
	typRefresh = "refresh"
)

// claims are the claims of the tokens the emulator issues, with the names App
// Services uses. Access tokens carry iss (the session id); refresh tokens
// carry baas_session_id instead and no iss, which is why a refresh token
// presented as an access token fails with "valid Issuer required".
type claims struct {
	jwt.RegisteredClaims
	Typ            string          `json:"typ,omitempty"`
	DeviceID       string          `json:"baas_device_id,omitempty"`
	DomainID       string          `json:"baas_domain_id,omitempty"`
	SessionID      string          `json:"baas_session_id,omitempty"`
	StitchDevID    string          `json:"stitch_devId,omitempty"`
	StitchDomainID string          `json:"stitch_domainId,omitempty"`
	UserData       json.RawMessage `json:"user_data,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
}

func (s *Server) initTokens() {
	key := s.cfg.signingKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails
	}
	s.clientKey = key
	// Admin tokens come from a different issuer (MongoDB Cloud) in the real
	// service: sign them with a derived key so that a client token is never
	// accepted as an admin token and vice versa.
	ak := sha256.Sum256(append([]byte("verifiertest admin\x00"), key...))
	s.adminKey = ak[:]
	s.clientKF = func(*jwt.Token) (any, error) { return s.clientKey, nil }
	s.adminKF = func(*jwt.Token) (any, error) { return s.adminKey, nil }
	// One parser for every call: it is safe for concurrent use. Claims
	// (exp, typ) are checked by hand against the emulator's clock.
	s.parser = jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithoutClaimsValidation())
}

func signWith(key []byte, c jwt.Claims) string {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		// HMAC signing of marshalable claims cannot fail.
		panic("appservicestest: signing token: " + err.Error())
	}
	return tok
}

// Sign signs arbitrary claims with the key client access tokens are signed
// with, for tests that need tokens the emulator would not issue (expired,
// refresh-typed, with an aud or data claim, without exp).
func (s *Server) Sign(c jwt.MapClaims) string { return signWith(s.clientKey, c) }

// parse checks a token's signature with the given key function and decodes its
// claims. It does not look at exp or typ.
func (s *Server) parse(tok string, kf jwt.Keyfunc) (*claims, bool) {
	var c claims
	if _, err := s.parser.ParseWithClaims(tok, &c, kf); err != nil {
		return nil, false
	}
	return &c, true
}

// expired reports whether a token with these claims has expired at now. A
// token without exp counts as expired: the service never issues one.
func expired(c *claims, now time.Time) bool {
	return c.ExpiresAt == nil || now.Unix() >= c.ExpiresAt.Unix()
}

// newAccessClaims builds client access token claims for a session.
func (s *Server) accessClaims(now time.Time, sess *session, userData json.RawMessage) *claims {
	return &claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sess.userID,
			Issuer:    sess.id,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.tokenTTL)),
		},
		Typ:            typAccess,
		DeviceID:       sess.deviceID,
		DomainID:       DefaultDomainID,
		StitchDevID:    sess.deviceID,
		StitchDomainID: DefaultDomainID,
		UserData:       userData,
	}
}

// refreshClaims builds refresh token claims for a session.
func (s *Server) refreshClaims(now time.Time, userID, sessionID, deviceID string) *claims {
	return &claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.refreshTTL)),
		},
		Typ:       typRefresh,
		SessionID: sessionID,
		DeviceID:  deviceID,
		DomainID:  DefaultDomainID,
	}
}
