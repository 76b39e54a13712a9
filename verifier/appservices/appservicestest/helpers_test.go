package appservicestest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testEpoch is the base time of test servers: a fixed clock, so that
// assertions on whole seconds (iat, creation_date) cannot straddle a tick.
var testEpoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newTestServer starts a server on a fixed clock (moved only by Advance),
// closed at the end of the test. opts may replace the clock.
func newTestServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := NewServer(append([]Option{WithClock(func() time.Time { return testEpoch })}, opts...)...)
	t.Cleanup(s.Close)
	return s
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// object decodes the body as a JSON object.
func (r response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// do sends a request with an optional bearer token and body (a string is
// sent as is, anything else as JSON) and reads the whole answer.
func do(t testing.TB, s *Server, method, url, token string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// adminTokens logs in to the Admin API and returns its tokens.
func adminTokens(t testing.TB, s *Server) (access, refresh string) {
	t.Helper()
	r := do(t, s, "POST", s.AdminURL()+"/auth/providers/mongodb-cloud/login", "",
		map[string]string{"username": s.cfg.publicKey, "apiKey": s.cfg.privateKey})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	m := r.object(t)
	return m["access_token"].(string), m["refresh_token"].(string)
}

// appURL is the base of the app-scoped Admin API.
func appURL(s *Server) string {
	return s.AdminURL() + "/groups/" + s.cfg.groupID + "/apps/" + s.cfg.appID
}

// verify posts a token to verify_token.
func verify(t testing.TB, s *Server, admin, token string) response {
	t.Helper()
	return do(t, s, "POST", appURL(s)+"/users/verify_token", admin, map[string]string{"token": token})
}

// arrivals returns a channel that receives the endpoint of every request the
// server counts from now on.
func arrivals(s *Server) <-chan Endpoint {
	ch := make(chan Endpoint, 100)
	f := func(e Endpoint) { ch <- e }
	s.testHook.Store(&f)
	return ch
}

// decodeJSON decodes an HTTP answer's body into v.
func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

// newFunctionServer serves a Function at a loopback URL: answer gets each
// request's body and returns the response body. It is closed at the end of
// the test.
func newFunctionServer(t *testing.T, answer func(body string) string) Function {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer(string(b)))
	}))
	t.Cleanup(ts.Close)
	return FunctionURL(ts.URL)
}
