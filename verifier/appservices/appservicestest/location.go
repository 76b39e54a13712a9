package appservicestest

import (
	"net/http"
	"strings"
)

// locationJSON is the answer of GET /app/{clientAppId}/location. Realm SDKs
// call it before anything else and send every later request to hostname
// (realm-web's App.locationUrl reads hostname; realm-core's update_location
// requires hostname and ws_hostname).
type locationJSON struct {
	DeploymentModel string `json:"deployment_model"`
	Location        string `json:"location"`
	Hostname        string `json:"hostname"`
	WSHostname      string `json:"ws_hostname"`
}

// handleLocation points SDKs at the emulator itself, at the host the
// request named (so that an SDK given http://localhost:8090 keeps using it),
// as a global deployment in US-VA, the values the Admin API spec's examples
// show. Device Sync is not emulated: ws_hostname only satisfies realm-core.
func (s *Server) handleLocation(w http.ResponseWriter, r *http.Request) {
	host := strings.TrimPrefix(s.URL, "http://")
	if r.Host != "" {
		host = r.Host
	}
	writeJSON(w, http.StatusOK, locationJSON{
		DeploymentModel: "GLOBAL",
		Location:        "US-VA",
		Hostname:        "http://" + host,
		WSHostname:      "ws://" + host,
	})
}
