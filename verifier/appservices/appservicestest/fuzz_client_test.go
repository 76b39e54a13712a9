package appservicestest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzDeviceID checks parseDeviceID, which reads the deviceId of an SDK's
// login: it yields "" or an ObjectId other than the default, and keeps
// every ObjectId sent as a string or as {"$oid"}.
func FuzzDeviceID(f *testing.F) {
	f.Add([]byte(`{"$oid":"6650a1b2c3d4e5f60123abcd"}`))
	f.Add([]byte(`"6650a1b2c3d4e5f60123abcd"`))
	f.Add([]byte(`"000000000000000000000000"`))
	f.Add([]byte(`{"$oid":7}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := parseDeviceID(raw)
		if got != "" && (!validID(got) || got == defaultDeviceID) {
			t.Fatalf("parseDeviceID(%q) = %q: not a usable ObjectId", raw, got)
		}
		var str string
		var oid struct {
			OID string `json:"$oid"`
		}
		switch {
		case json.Unmarshal(raw, &str) == nil:
		case json.Unmarshal(raw, &oid) == nil:
			str = oid.OID
		}
		if validID(str) && str != defaultDeviceID && got != str {
			t.Fatalf("parseDeviceID(%q) = %q, want %q", raw, got, str)
		}
	})
}

// FuzzLoginBody feeds arbitrary bodies to local-userpass login: the answer
// is always JSON and never a 5xx, and only the right password logs in.
func FuzzLoginBody(f *testing.F) {
	s := NewServer()
	f.Cleanup(s.Close)
	s.AddUser("ada@example.com", "password1")
	path := strings.TrimPrefix(loginURL(s, "local-userpass"), s.URL)
	f.Add([]byte(`{"username":"ada@example.com","password":"password1","options":{"device":{"sdkVersion":"2.0.1","platform":"node","platformVersion":"20.20.2","deviceId":{"$oid":"6650a1b2c3d4e5f60123abcd"}}}}`))
	f.Add([]byte(`{"username":"ada@example.com","password":"wrong"}`))
	f.Add([]byte(`{"username":"ada@example.com","password":"password1","options":[1]}`))
	f.Add([]byte(`{"username":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := serveDirect(s, "POST", path, "", body)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d: body is not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		switch rec.Code {
		case http.StatusOK:
			var in struct{ Username, Password string }
			if json.Unmarshal(body, &in) != nil || normEmail(in.Username) != "ada@example.com" || in.Password != "password1" {
				t.Fatalf("logged in with %q", body)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body.Bytes())
		}
	})
}

// userpassOps are the email/password operations FuzzUserpassBody drives.
var userpassOps = [...]string{"register", "confirm", "confirm/send", "confirm/call", "reset", "reset/send", "reset/call"}

// FuzzUserpassBody feeds arbitrary bodies to the email/password provider's
// operations: never a 5xx, JSON on every error, and no confirmation or reset
// without a token the server minted (the fuzzer cannot know one).
func FuzzUserpassBody(f *testing.F) {
	s := NewServer(WithConfirmation(ConfirmEmail))
	f.Cleanup(s.Close)
	s.AddUser("ada@example.com", "password1")
	base := strings.TrimPrefix(userpassURL(s, ""), s.URL)
	f.Add(byte(0), []byte(`{"email":"new@example.com","password":"password1"}`))
	f.Add(byte(1), []byte(`{"token":"x","tokenId":"6650a1b2c3d4e5f60123abcd"}`))
	f.Add(byte(2), []byte(`{"email":"new@example.com"}`))
	f.Add(byte(4), []byte(`{"token":"x","tokenId":"y","password":"password2"}`))
	f.Add(byte(5), []byte(`{"email":"ada@example.com"}`))
	f.Add(byte(6), []byte(`{"email":"ada@example.com","password":"password2","arguments":{}}`))
	f.Fuzz(func(t *testing.T, op byte, body []byte) {
		name := userpassOps[int(op)%len(userpassOps)]
		rec := serveDirect(s, "POST", base+name, "", body)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: status %d: %s", name, body, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 300 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: status %d: body is not JSON: %q", name, rec.Code, rec.Body.Bytes())
		}
		if rec.Code < 300 && (name == "confirm" || name == "reset") {
			t.Fatalf("%s %q succeeded without a minted token", name, body)
		}
		if rec.Code == http.StatusCreated {
			var in struct{ Email, Password string }
			if json.Unmarshal(body, &in) != nil || in.Email == "" || !validPassword(in.Password) {
				t.Fatalf("registered %q", body)
			}
		}
	})
}
