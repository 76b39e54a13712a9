package appservicestest

import (
	"encoding/json"
	"errors"
	"net/http"
)

// withClientApp guards a handler of /api/client/v2.0/app/{clientAppId}/...:
// another client app id gets 404 AppNotFound.
func withClientApp(h handlerFunc) handlerFunc {
	return func(s *Server, w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("clientAppId"); id != s.cfg.clientApp {
			writeError(w, http.StatusNotFound, "cannot find app using Client App ID '"+id+"'", codeAppNotFound)
			return
		}
		h(s, w, r)
	}
}

// deviceInfo is the device description Realm SDKs send with every login as
// options.device: realm-web's DeviceInformation (sdkVersion, platform,
// platformVersion, appId, appVersion and the deviceId of an earlier login)
// and realm-core's attach_auth_options (which adds sdk, cpuArch, deviceName
// and more, but no deviceId). Fields the emulator does not keep are ignored.
type deviceInfo struct {
	AppVersion      string          `json:"appVersion"`
	Platform        string          `json:"platform"`
	PlatformVersion string          `json:"platformVersion"`
	SDKVersion      string          `json:"sdkVersion"`
	DeviceID        json.RawMessage `json:"deviceId"`
}

// parseDevice reads the device of a login body's options. A missing or
// malformed description is an empty device: the login goes ahead, as the
// description is informational.
func parseDevice(obj map[string]json.RawMessage) device {
	var opts struct {
		Device deviceInfo `json:"device"`
	}
	raw, ok := obj["options"]
	if !ok || json.Unmarshal(raw, &opts) != nil {
		return device{}
	}
	d := opts.Device
	return device{
		ID:               parseDeviceID(d.DeviceID),
		ClientAppVersion: d.AppVersion,
		Platform:         d.Platform,
		PlatformVersion:  d.PlatformVersion,
		SDKVersion:       d.SDKVersion,
	}
}

// parseDeviceID reads a deviceId: an ObjectId as a string, or as canonical
// Extended JSON {"$oid": "..."}, which is how realm-web serializes the
// bson.ObjectId it keeps. Anything else, and the all-zero default id, is "".
func parseDeviceID(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) != nil {
		var oid struct {
			OID string `json:"$oid"`
		}
		if json.Unmarshal(raw, &oid) != nil {
			return ""
		}
		id = oid.OID
	}
	if !validID(id) || id == defaultDeviceID {
		return ""
	}
	return id
}

// readLogin reads a login body. Linking an identity to a logged-in user
// (?link=true) is not emulated and answers 400.
func readLogin(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, device, bool) {
	if r.URL.Query().Get("link") == "true" {
		badRequest(w, "linking identities is not supported by the emulator")
		return nil, device{}, false
	}
	obj, ok := readObject(w, r)
	if !ok {
		return nil, device{}, false
	}
	return obj, parseDevice(obj), true
}

// handleClientLogin is local-userpass login: {username, password, options}.
// A wrong password, an unknown email and a registration still pending all
// answer 401 InvalidPassword "invalid username/password" (InvalidPassword is
// the wire code; InvalidEmailPassword is realm-core's name for it).
func (s *Server) handleClientLogin(w http.ResponseWriter, r *http.Request) {
	obj, dev, ok := readLogin(w, r)
	if !ok {
		return
	}
	username, _, uok := stringField(obj, "username")
	password, _, pok := stringField(obj, "password")
	if !uok || !pok {
		badRequest(w, "username and password must be strings")
		return
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

// handleAnonLogin is anonymous login: every call creates a new user whose
// only identity is anon-user. Realm SDKs reuse an anonymous user they
// already hold without calling the service.
func (s *Server) handleAnonLogin(w http.ResponseWriter, r *http.Request) {
	_, dev, ok := readLogin(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	u, _ := s.addUserLocked("", [32]byte{}, providerAnonUser) // cannot fail: no email
	sess := s.openSessionLocked(u, dev)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, sess)
}

// handleAPIKeyLogin is API key login: {key, options}, as the server user of
// an enabled server API key (POST .../api_keys on the Admin API).
func (s *Server) handleAPIKeyLogin(w http.ResponseWriter, r *http.Request) {
	obj, dev, ok := readLogin(w, r)
	if !ok {
		return
	}
	key, _, isString := stringField(obj, "key")
	if !isString {
		badRequest(w, "key must be a string")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.apiKeyBySecretLocked(key)
	u := (*user)(nil)
	if k != nil {
		u = s.st.users[k.userID]
	}
	switch {
	case k == nil || u == nil:
		writeError(w, http.StatusUnauthorized, "invalid API key", codeAuthError)
	case k.disabled || u.disabled:
		writeError(w, http.StatusUnauthorized, "user disabled", codeUserDisabled)
	default:
		writeJSON(w, http.StatusOK, s.openSessionLocked(u, dev))
	}
}
