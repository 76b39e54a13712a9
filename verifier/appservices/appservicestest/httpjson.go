package appservicestest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// maxRequestBody bounds request bodies; the emulator answers 413 beyond it.
const maxRequestBody = 64 << 10

// apiError is the App Services error body. Code is omitted when empty: some
// 401s carry only "error".
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"error_code,omitempty"`
}

// Error codes used by the emulator: the codes the App Services backend sends,
// as realm-core's ErrorCodes table names them.
const (
	codeInvalidSession       = "InvalidSession"
	codeUserNotFound         = "UserNotFound"
	codeUserDisabled         = "UserDisabled"
	codeAccountNameInUse     = "AccountNameInUse"
	codeBadRequest           = "BadRequest"
	codeAuthError            = "AuthError"
	codeInvalidPassword      = "InvalidPassword"
	codeGroupNotFound        = "GroupNotFound"
	codeAppNotFound          = "AppNotFound"
	codeUserAlreadyConfirmed = "UserAlreadyConfirmed"
	// codeAPIKeyNotFound is the emulator's: no source shows the code of an
	// unknown API key.
	codeAPIKeyNotFound = "APIKeyNotFound"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only emulator-built values are written; they always marshal.
		panic("appservicestest: marshal response: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg, code string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

func writeNoContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

func badRequest(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, msg, codeBadRequest)
}

// readBody reads a request body of at most maxRequestBody bytes. On failure
// it answers (413 or 400) and reports false.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large", codeBadRequest)
		} else {
			badRequest(w, "failed to read request body")
		}
		return nil, false
	}
	return b, true
}

// readObject reads a JSON object body into its raw fields. On failure it
// answers 400 (or 413) and reports false.
func readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	b, ok := readBody(w, r)
	if !ok {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		badRequest(w, "invalid request body: expected a JSON object")
		return nil, false
	}
	return obj, true
}

// stringField returns obj[name] when it is a JSON string. present is false
// when the field is missing or null.
func stringField(obj map[string]json.RawMessage, name string) (v string, present, isString bool) {
	raw, ok := obj[name]
	if !ok || string(raw) == "null" {
		return "", false, false
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, false
	}
	return v, true, true
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return h[len(p):], true
}
