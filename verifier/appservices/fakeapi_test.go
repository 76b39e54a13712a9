package appservices

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test doubles shared by the package's tests: a fake clock and a small fake of
// the Admin API (admin login, refresh and bearer checks built in, app routes
// registered per test).

const (
	testGroup   = "5f0000000000000000000001"
	testApp     = "63ed00000000000000000002"
	testPublic  = "pub-key"
	testPrivate = "priv-key"
	appPrefix   = adminAPIPath + "/groups/" + testGroup + "/apps/" + testApp
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeAPI is an httptest server speaking the Admin API's auth endpoints, with
// per-test handlers for the app's routes.
type fakeAPI struct {
	*httptest.Server
	t testing.TB

	logins    atomic.Int64
	refreshes atomic.Int64

	mu           sync.Mutex // guards the fields below
	valid        map[string]bool
	refreshToken string
	issued       int
	routes       map[string]http.HandlerFunc // "METHOD /escaped/path/under/app"
	calls        map[string]int
	// loginHook and refreshHook, when set, run before the endpoint's own
	// logic; returning true means they wrote the answer.
	loginHook   func(w http.ResponseWriter, r *http.Request) bool
	refreshHook func(w http.ResponseWriter, r *http.Request) bool
	// issue makes the access token for the n-th login or refresh;
	// default "access-n".
	issue func(n int) string
}

func newFakeAPI(t testing.TB) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		t:            t,
		valid:        map[string]bool{},
		refreshToken: "refresh-1",
		routes:       map[string]http.HandlerFunc{},
		calls:        map[string]int{},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// handle registers h for method and path (escaped, under the app prefix).
func (f *fakeAPI) handle(method, path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" "+path] = h
}

// callCount returns how many authorised requests reached method and path.
func (f *fakeAPI) callCount(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method+" "+path]
}

// invalidateAll makes every admin access token issued so far answer 401
// InvalidSession.
func (f *fakeAPI) invalidateAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.valid)
}

func (f *fakeAPI) setHooks(login, refresh func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loginHook, f.refreshHook = login, refresh
}

func (f *fakeAPI) newAccess() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued++
	tok := fmt.Sprintf("access-%d", f.issued)
	if f.issue != nil {
		tok = f.issue(f.issued)
	}
	f.valid[tok] = true
	return tok
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	// Read the body first: until it is consumed the server cannot notice a
	// client hanging up, and r.Context() would never end for a stalled handler.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	loginHook, refreshHook := f.loginHook, f.refreshHook
	f.mu.Unlock()
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")

	switch path := r.URL.EscapedPath(); {
	case r.Method == http.MethodPost && path == adminAPIPath+"/auth/providers/mongodb-cloud/login":
		f.logins.Add(1)
		if loginHook != nil && loginHook(w, r) {
			return
		}
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in) != 2 ||
			in["username"] != testPublic || in["apiKey"] != testPrivate || bearer != "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "You are not authorized for this resource."})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{
			"access_token": f.newAccess(), "refresh_token": f.refreshToken,
			"user_id": "admin-user", "device_id": "000000000000000000000000",
		})
	case r.Method == http.MethodPost && path == adminAPIPath+"/auth/session":
		f.refreshes.Add(1)
		if refreshHook != nil && refreshHook(w, r) {
			return
		}
		if bearer != f.refreshToken || len(body) != 0 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid session", "error_code": CodeInvalidSession})
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"access_token": f.newAccess()})
	case strings.HasPrefix(path, appPrefix+"/"):
		f.mu.Lock()
		ok := f.valid[bearer]
		key := r.Method + " " + strings.TrimPrefix(path, appPrefix)
		h := f.routes[key]
		if ok {
			f.calls[key]++
		}
		f.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error": "invalid session: access token expired", "error_code": CodeInvalidSession})
			return
		}
		if h == nil {
			f.t.Errorf("fake Admin API: unexpected %s", key)
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no route"})
			return
		}
		h(w, r)
	default:
		f.t.Errorf("fake Admin API: unexpected %s %s", r.Method, path)
		w.WriteHeader(http.StatusNotFound)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// answer returns a handler writing status and the raw body.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// newTestClient returns a Client for f driven by clock, with cfg's other
// fields applied.
func newTestClient(t *testing.T, f *fakeAPI, clock *fakeClock, edit ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		BaseURL: f.URL, GroupID: testGroup, AppID: testApp,
		PublicKey: testPublic, PrivateKey: testPrivate,
		HTTPClient: f.Client(), Now: clock.Now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// blockUntil returns a hook that blocks a login or refresh until release is
// closed (or the request ends), after signalling entered.
func blockUntil(entered chan<- struct{}, release <-chan struct{}) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if entered != nil {
			entered <- struct{}{}
		}
		select {
		case <-release:
			return false
		case <-r.Context().Done():
			return true
		}
	}
}

// testCtx is a context for a test, bounded so that a bug hangs no longer
// than the test binary's patience.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
