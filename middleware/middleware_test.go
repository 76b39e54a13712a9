package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

func TestNewPanicsOnNilVerifier(t *testing.T) {
	assert.PanicsWithValue(t, "middleware: nil verifier", func() { New(nil) })
	assert.PanicsWithValue(t, "middleware: nil next handler", func() { newTest().Handler(nil) })
}

// TestAnswers covers each outcome of a required-credentials middleware: the
// status, the challenge, Retry-After, the JSON body and its headers.
func TestAnswers(t *testing.T) {
	const realm = `Bearer realm="tokenguard"`
	cases := []struct {
		name       string
		authz      []string
		opts       []Option
		status     int
		challenge  string
		retryAfter string
		code, desc string
	}{
		{
			name:   "authenticated",
			authz:  []string{"Bearer " + goodToken},
			status: http.StatusOK,
		},
		{
			name: "missing", status: http.StatusUnauthorized, challenge: realm,
			code: "unauthorized", desc: descMissing,
		},
		{
			name: "basic scheme counts as missing", authz: []string{"Basic dXNlcjpwYXNz"},
			status: http.StatusUnauthorized, challenge: realm, code: "unauthorized", desc: descMissing,
		},
		{
			name: "custom realm", opts: []Option{WithRealm("my app")},
			status: http.StatusUnauthorized, challenge: `Bearer realm="my app"`, code: "unauthorized", desc: descMissing,
		},
		{
			name: "malformed", authz: []string{"Bearer  " + goodToken},
			status: http.StatusBadRequest, challenge: realm + `, error="invalid_request"`,
			code: "invalid_request", desc: descMalformed,
		},
		{
			name: "two authorization headers", authz: []string{"Bearer " + goodToken, "Bearer " + goodToken},
			status: http.StatusBadRequest, challenge: realm + `, error="invalid_request"`,
			code: "invalid_request", desc: descMalformed,
		},
		{
			name: "invalid", authz: []string{"Bearer " + invalidToken},
			status:    http.StatusUnauthorized,
			challenge: realm + `, error="invalid_token", error_description="The access token is invalid."`,
			code:      "invalid_token", desc: descInvalid,
		},
		{
			name: "expired", authz: []string{"Bearer " + expiredToken},
			status:    http.StatusUnauthorized,
			challenge: realm + `, error="invalid_token", error_description="The access token expired."`,
			code:      "invalid_token", desc: descExpired,
		},
		{
			name: "revoked", authz: []string{"Bearer " + revokedToken},
			status:    http.StatusUnauthorized,
			challenge: realm + `, error="invalid_token", error_description="The access token was revoked."`,
			code:      "invalid_token", desc: descRevoked,
		},
		{
			name: "upstream 503 with retry-after", authz: []string{"Bearer " + downToken},
			status: http.StatusServiceUnavailable, retryAfter: "7",
			code: "temporarily_unavailable", desc: descUnavailable,
		},
		{
			name: "unavailable without delay gets the default", authz: []string{"Bearer " + unavailableToken},
			status: http.StatusServiceUnavailable, retryAfter: "2",
			code: "temporarily_unavailable", desc: descUnavailable,
		},
		{
			name: "configured default delay", authz: []string{"Bearer " + unavailableToken},
			opts:   []Option{WithRetryAfter(4500 * time.Millisecond)},
			status: http.StatusServiceUnavailable, retryAfter: "5", // rounded up, never down
			code: "temporarily_unavailable", desc: descUnavailable,
		},
		{
			name: "unclassified error fails closed", authz: []string{"Bearer " + weirdToken},
			status: http.StatusServiceUnavailable, retryAfter: "2",
			code: "temporarily_unavailable", desc: descUnavailable,
		},
		{
			name: "admin session 401 is not the user's fault", authz: []string{"Bearer " + adminToken},
			status: http.StatusServiceUnavailable, retryAfter: "2",
			code: "temporarily_unavailable", desc: descUnavailable,
		},
		{
			name: "nil user without error fails closed", authz: []string{"Bearer " + nilToken},
			status: http.StatusServiceUnavailable, retryAfter: "2",
			code: "temporarily_unavailable", desc: descUnavailable,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api", nil)
			if tc.authz != nil {
				req.Header["Authorization"] = tc.authz
			}
			rec, s := serve(newTest(tc.opts...), req)
			require.Equal(t, tc.status, rec.Code)
			if tc.status == http.StatusOK {
				assert.True(t, s.called)
				assert.Same(t, testUser, s.user)
				assert.Equal(t, "next", rec.Body.String())
				return
			}
			assert.False(t, s.called, "a refused request never reaches next")
			h := rec.Header()
			assert.Equal(t, tc.challenge, h.Get("WWW-Authenticate"))
			assert.Equal(t, tc.retryAfter, h.Get("Retry-After"))
			assert.Equal(t, "application/json", h.Get("Content-Type"))
			assert.Equal(t, "no-store", h.Get("Cache-Control"))
			code, desc := errorBody(t, rec.Body.Bytes())
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.desc, desc)
			assert.NotContains(t, rec.Body.String(), "fire", "upstream detail stays in the log")
		})
	}
}

func TestKindStatus(t *testing.T) {
	want := map[Kind]int{
		KindUnavailable: 503, KindMissing: 401, KindMalformed: 400,
		KindInvalid: 401, KindAnonymous: 200, KindAuthenticated: 200,
		Kind(200): 503,
	}
	for k, status := range want {
		assert.Equal(t, status, k.Status(), "kind %v", k)
	}
	assert.Equal(t, "unknown", Kind(200).String())
	assert.False(t, Decision{}.Allowed(), "the zero Decision refuses")
	assert.False(t, Decision{Kind: KindAuthenticated}.Allowed(), "authenticated without a user refuses")
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1", time.Millisecond: "1", time.Second: "1", 1001 * time.Millisecond: "2", 90 * time.Second: "90",
	} {
		assert.Equal(t, want, retryAfterSeconds(d), "%v", d)
	}
}

func TestCustomErrorHandler(t *testing.T) {
	var got Refusal
	m := newTest(WithErrorHandler(func(w http.ResponseWriter, r *http.Request, rf Refusal) {
		got = rf
		if rf.Kind == KindMissing {
			http.Redirect(w, r, "/login", http.StatusFound)
			return
		}
		DefaultErrorHandler(w, r, rf)
	}))

	rec, _ := serve(m, bearerRequest("/", ""))
	assert.Equal(t, http.StatusFound, rec.Code)
	assert.Equal(t, "/login", rec.Header().Get("Location"))
	assert.ErrorIs(t, got.Err, ErrMissingToken)

	rec, _ = serve(m, bearerRequest("/", downToken))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, KindUnavailable, got.Kind)
	assert.ErrorIs(t, got.Err, verifier.ErrUnavailable, "the handler gets the upstream error")

	serve(m, bearerRequest("/", weirdToken))
	assert.Equal(t, KindUnavailable, got.Kind)
	assert.NotContains(t, got.Err.Error(), weirdToken, "a verifier error quoting the token is scrubbed")
	assert.Contains(t, got.Err.Error(), fingerprint(weirdToken))
}

func TestDefaultErrorHandlerZeroRefusalRefuses(t *testing.T) {
	rec := httptest.NewRecorder()
	DefaultErrorHandler(rec, httptest.NewRequest(http.MethodGet, "/", nil), Refusal{})
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, Refusal{}, newTest().Refusal(Decision{Kind: KindAnonymous}))
}

func TestCredentialsOptional(t *testing.T) {
	cases := []struct {
		name   string
		authz  string
		status int
		user   bool
	}{
		{name: "no token passes anonymous", status: http.StatusOK},
		{name: "other scheme passes anonymous", authz: "Basic dXNlcjpwYXNz", status: http.StatusOK},
		{name: "good token has a user", authz: "Bearer " + goodToken, status: http.StatusOK, user: true},
		{name: "bad token is refused", authz: "Bearer " + invalidToken, status: http.StatusUnauthorized},
		{name: "expired token is refused", authz: "Bearer " + expiredToken, status: http.StatusUnauthorized},
		{name: "malformed is refused", authz: "Bearer ", status: http.StatusBadRequest},
		{name: "outage is refused", authz: "Bearer " + downToken, status: http.StatusServiceUnavailable},
	}
	m := newTest(WithCredentialsOptional(true))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			rec, s := serve(m, req)
			require.Equal(t, tc.status, rec.Code)
			assert.Equal(t, tc.status == http.StatusOK, s.called)
			assert.Equal(t, tc.user, s.hasUser)
			if tc.user {
				assert.Same(t, testUser, s.user)
			}
		})
	}
}

func TestSkip(t *testing.T) {
	m := newTest(WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }))
	for _, tok := range []string{"", invalidToken, goodToken} {
		rec, s := serve(m, bearerRequest("/healthz", tok))
		assert.Equal(t, http.StatusOK, rec.Code, "token %q", tok)
		assert.False(t, s.hasUser, "a skipped request carries no user, even with a good token")
	}
	rec, _ := serve(m, bearerRequest("/healthz/x", ""))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
}

func TestPreflight(t *testing.T) {
	preflight := func() *http.Request {
		req := httptest.NewRequest(http.MethodOptions, "/api", nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		return req
	}
	rec, _ := serve(newTest(), preflight())
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "off by default")

	m := newTest(WithPreflight(true))
	rec, s := serve(m, preflight())
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, s.called)

	plain := httptest.NewRequest(http.MethodOptions, "/api", nil)
	rec, _ = serve(m, plain)
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "OPTIONS without Access-Control-Request-Method is no preflight")
}

func TestHideCredentials(t *testing.T) {
	cookieLookup := WithLookup(LookupBearer(), LookupCookie("tg"))
	queryLookup := WithLookup(LookupBearer(), LookupQuery("access_token"))
	cases := []struct {
		name   string
		opts   []Option
		target string
		header map[string]string
		check  func(t *testing.T, s *seen)
	}{
		{
			name: "library mode keeps the header", target: "/",
			header: map[string]string{"Authorization": "Bearer " + goodToken},
			check: func(t *testing.T, s *seen) {
				assert.Equal(t, "Bearer "+goodToken, s.header.Get("Authorization"))
			},
		},
		{
			name: "gateway mode removes the header", opts: []Option{WithIdentityHeaders(IdentityHeaders{})}, target: "/",
			header: map[string]string{"Authorization": "Bearer " + goodToken},
			check: func(t *testing.T, s *seen) {
				assert.NotContains(t, s.header, "Authorization")
			},
		},
		{
			name: "identity headers alone hide too", opts: []Option{WithIdentityHeaders(IdentityHeaders{})}, target: "/",
			header: map[string]string{"Authorization": "Bearer " + goodToken},
			check: func(t *testing.T, s *seen) {
				assert.NotContains(t, s.header, "Authorization")
			},
		},
		{
			name: "gateway mode with hiding turned off", opts: []Option{WithIdentityHeaders(IdentityHeaders{KeepCredential: true})}, target: "/",
			header: map[string]string{"Authorization": "Bearer " + goodToken},
			check: func(t *testing.T, s *seen) {
				assert.Equal(t, "Bearer "+goodToken, s.header.Get("Authorization"))
			},
		},
		{
			name: "custom header", opts: []Option{WithIdentityHeaders(IdentityHeaders{}), WithLookup(LookupHeader("X-Token"))}, target: "/",
			header: map[string]string{"X-Token": goodToken, "Authorization": "Basic dXNlcjpwYXNz"},
			check: func(t *testing.T, s *seen) {
				assert.NotContains(t, s.header, "X-Token")
				assert.Equal(t, "Basic dXNlcjpwYXNz", s.header.Get("Authorization"), "only the token's credential goes")
			},
		},
		{
			name: "cookie rewritten without the token", opts: []Option{WithIdentityHeaders(IdentityHeaders{}), cookieLookup}, target: "/",
			header: map[string]string{"Cookie": "a=1; tg=" + goodToken + "; b=2"},
			check: func(t *testing.T, s *seen) {
				assert.Equal(t, []string{"a=1; b=2"}, s.header["Cookie"])
			},
		},
		{
			name: "sole cookie removed", opts: []Option{WithIdentityHeaders(IdentityHeaders{}), cookieLookup}, target: "/",
			header: map[string]string{"Cookie": "tg=" + goodToken},
			check: func(t *testing.T, s *seen) {
				assert.NotContains(t, s.header, "Cookie")
			},
		},
		{
			name: "bearer token leaves cookies alone", opts: []Option{WithIdentityHeaders(IdentityHeaders{}), cookieLookup}, target: "/",
			header: map[string]string{"Authorization": "Bearer " + goodToken, "Cookie": "tg=other"},
			check: func(t *testing.T, s *seen) {
				assert.NotContains(t, s.header, "Authorization")
				assert.Equal(t, "tg=other", s.header.Get("Cookie"))
			},
		},
		{
			name: "query rewritten without the token", opts: []Option{WithIdentityHeaders(IdentityHeaders{}), queryLookup},
			target: "/p?x=1&access_token=" + goodToken + "&y=%2F",
			check: func(t *testing.T, s *seen) {
				assert.Equal(t, "x=1&y=%2F", s.rawQuery)
				assert.Equal(t, "/p?x=1&y=%2F", s.requestURI)
				assert.Equal(t, map[string][]string{"x": {"1"}, "y": {"/"}}, s.query)
			},
		},
		{
			name: "sole query parameter removed", opts: []Option{WithIdentityHeaders(IdentityHeaders{}), queryLookup},
			target: "/p?access_token=" + goodToken,
			check: func(t *testing.T, s *seen) {
				assert.Empty(t, s.rawQuery)
				assert.Equal(t, "/p", s.requestURI)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec, s := serve(newTest(tc.opts...), req)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Same(t, testUser, s.user)
			tc.check(t, s)
		})
	}
}

func TestHiddenQueryReachesFormParsing(t *testing.T) {
	m := newTest(WithIdentityHeaders(IdentityHeaders{}), WithLookup(LookupQuery("access_token")))
	req := httptest.NewRequest(http.MethodGet, "/p?access_token="+goodToken+"&x=1", nil)
	require.NoError(t, req.ParseForm()) // something before the middleware parsed the form
	var before, after map[string][]string
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before = r.Form
		_ = r.ParseForm()
		after = r.Form
	}))
	h.ServeHTTP(httptest.NewRecorder(), req)
	assert.Nil(t, before, "the stale form, token included, is dropped")
	assert.Equal(t, map[string][]string{"x": {"1"}}, after)
}

func TestUserContext(t *testing.T) {
	_, ok := UserFromContext(context.Background())
	assert.False(t, ok)
	_, ok = UserFromContext(NewContext(context.Background(), nil))
	assert.False(t, ok, "a nil user is no user")
	u, ok := UserFromContext(NewContext(context.Background(), testUser))
	assert.True(t, ok)
	assert.Same(t, testUser, u)
	type otherKey int
	_, ok = UserFromContext(context.WithValue(context.Background(), otherKey(userKey), testUser))
	assert.False(t, ok, "only the private key type counts")
}

func TestAuthenticateWithCustomSource(t *testing.T) {
	m := newTest(WithLookup(LookupBearer(), LookupCookie("tg"), LookupQuery("t")), WithIdentityHeaders(IdentityHeaders{}))
	cases := []struct {
		name string
		src  mapSource
		kind Kind
		hide Hide
	}{
		{name: "bearer", src: mapSource{header: map[string][]string{"Authorization": {"Bearer " + goodToken}}},
			kind: KindAuthenticated, hide: Hide{Header: "Authorization"}},
		{name: "cookie", src: mapSource{header: map[string][]string{"Cookie": {"x=1; tg=" + goodToken}}},
			kind: KindAuthenticated, hide: Hide{RewriteCookie: true, Cookie: "x=1"}},
		{name: "query", src: mapSource{query: "t=" + goodToken + "&z=2"},
			kind: KindAuthenticated, hide: Hide{RewriteQuery: true, RawQuery: "z=2"}},
		{name: "none", src: mapSource{}, kind: KindMissing},
		{name: "invalid", src: mapSource{query: "t=" + invalidToken}, kind: KindInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := m.Authenticate(context.Background(), tc.src)
			require.Equal(t, tc.kind, d.Kind, "err %v", d.Err)
			assert.Equal(t, tc.hide, d.Hide)
			if tc.kind == KindAuthenticated {
				assert.Same(t, testUser, d.User)
				assert.Equal(t, m.IdentityHeaders(testUser), d.Identity)
			} else {
				assert.Nil(t, d.User)
				assert.Nil(t, d.Identity)
				assert.Error(t, d.Err)
			}
		})
	}
}

// mapSource is a TokenSource over plain maps, as another engine's adapter
// would be.
type mapSource struct {
	header map[string][]string
	query  string
}

func (s mapSource) Header(name string) []string { return s.header[name] }
func (s mapSource) RawQuery() string            { return s.query }
func (s mapSource) Method() string              { return "GET" }
func (s mapSource) Path() string                { return "/custom" }
func (s mapSource) Peer() netip.Addr            { return netip.Addr{} }

func TestVerifierGetsRequestContext(t *testing.T) {
	type key struct{}
	var got any
	m := New(verifier.VerifierFunc(func(ctx context.Context, _ string) (*verifier.User, error) {
		got = ctx.Value(key{})
		return testUser, nil
	}), WithLogger(quiet))
	req := bearerRequest("/", goodToken)
	req = req.WithContext(context.WithValue(req.Context(), key{}, "from request"))
	rec, _ := serve(m, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "from request", got)
}

func TestUnprintableUserIDFailsClosed(t *testing.T) {
	for _, id := range []string{"", "user\r\nX-Auth-User-Id: admin"} {
		m := New(verifier.VerifierFunc(func(context.Context, string) (*verifier.User, error) {
			return &verifier.User{ID: id}, nil
		}), WithLogger(quiet), WithIdentityHeaders(IdentityHeaders{}))
		rec, s := serve(m, bearerRequest("/", goodToken))
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "id %q", id)
		assert.False(t, s.called)
	}
}

func TestBodyIsSharedButIntact(t *testing.T) {
	m := newTest()
	first, _ := serve(m, bearerRequest("/", ""))
	second, _ := serve(m, bearerRequest("/", ""))
	assert.Equal(t, first.Body.String(), second.Body.String())
	assert.True(t, strings.HasPrefix(first.Body.String(), `{"error":"unauthorized"`))
}

func TestHandBuiltRequestWithoutHeader(t *testing.T) {
	m := newTest(WithIdentityHeaders(IdentityHeaders{}), WithLookup(LookupQuery("access_token")))
	u, err := url.Parse("/p?access_token=" + goodToken)
	require.NoError(t, err)
	rec, s := serve(m, &http.Request{Method: http.MethodGet, URL: u})
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "user-1", s.header.Get("X-Auth-User-Id"))
	assert.Empty(t, s.rawQuery)
}

func TestObserverSeesEveryDecision(t *testing.T) {
	type key struct{}
	type seen struct {
		kind Kind
		user string
		ctx  any
	}
	var got []seen
	m := newTest(
		WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }),
		WithObserver(func(ctx context.Context, d Decision) {
			s := seen{kind: d.Kind, ctx: ctx.Value(key{})}
			if d.User != nil {
				s.user = d.User.ID
			}
			got = append(got, s)
		}),
	)
	for _, tc := range []struct{ path, tok string }{
		{"/", goodToken}, {"/", invalidToken}, {"/", ""}, {"/", downToken}, {"/healthz", goodToken},
	} {
		req := bearerRequest(tc.path, tc.tok)
		serve(m, req.WithContext(context.WithValue(req.Context(), key{}, tc.tok)))
	}
	fa := httptest.NewRecorder()
	req := bearerRequest("/", goodToken)
	m.ForwardAuth().ServeHTTP(fa, req.WithContext(context.WithValue(req.Context(), key{}, "forward-auth")))
	assert.Equal(t, []seen{
		{KindAuthenticated, "user-1", goodToken},
		{KindInvalid, "", invalidToken},
		{KindMissing, "", ""},
		{KindUnavailable, "", downToken},
		// the skipped /healthz makes no decision
		{KindAuthenticated, "user-1", "forward-auth"},
	}, got)
}
