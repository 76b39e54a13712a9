package appservicestest

import (
	"net/http"
	"strings"
)

// Codes of the emulator's answers to requests no route serves. No source
// shows what App Services answers there; the emulator keeps its error body
// shape, so that SDKs report the message instead of failing on plain text.
const (
	codeNotFound         = "NotFound"
	codeMethodNotAllowed = "MethodNotAllowed"
)

// probeMethods are the methods the API's routes use.
var probeMethods = [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// unrouted answers the requests no route matches, as the pattern "/" of the
// server's mux: 405 with Allow when the path has routes for other methods,
// else 404, both with an {"error", "error_code"} body. It runs only on that
// path, so routed requests pay for one mux lookup, as before.
func unrouted(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range probeMethods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := mux.Handler(probe); p != "" && p != "/" {
				allow = append(allow, m)
			}
		}
		what := r.Method + " " + r.URL.Path
		if len(allow) == 0 {
			writeError(w, http.StatusNotFound, "no route matches "+what, codeNotFound)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method not allowed: "+what+" (allowed: "+strings.Join(allow, ", ")+")", codeMethodNotAllowed)
	})
}
