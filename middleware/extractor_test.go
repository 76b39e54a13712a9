package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/verifier"
)

// extractCase is one request and what an extractor must make of it.
type extractCase struct {
	name      string
	header    map[string][]string // set on the request as is (raw keys)
	target    string              // request target; "/" when empty
	want      string
	malformed bool
}

// runExtractCases sends each case through Authenticate with the given
// Lookups, credentials optional, over a verifier that checks the token's
// syntax as every upstream-calling verifier does and then accepts it: what
// the middleware makes of a request's credentials, on the real path.
func runExtractCases(t *testing.T, lookups []Lookup, cases []extractCase) {
	t.Helper()
	echo := verifier.VerifierFunc(func(_ context.Context, tok string) (*verifier.User, error) {
		if err := verifier.CheckSyntax(tok); err != nil {
			return nil, err
		}
		return &verifier.User{ID: "u", Data: tok}, nil
	})
	m := New(echo, WithLookup(lookups...), WithCredentialsOptional(true), WithLogger(quiet))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if target == "" {
				target = "/"
			}
			req := httptest.NewRequest(http.MethodGet, target, nil)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			d := m.Authenticate(context.Background(), httpSource{req})
			switch {
			case tc.malformed:
				require.Equal(t, KindMalformed, d.Kind, "error %v", d.Err)
				require.ErrorIs(t, d.Err, ErrMalformed)
				assert.Nil(t, d.User, "no user alongside an error")
			case tc.want == "":
				require.Equal(t, KindAnonymous, d.Kind, "error %v", d.Err)
			default:
				require.Equal(t, KindAuthenticated, d.Kind, "error %v", d.Err)
				assert.Equal(t, tc.want, d.User.Data)
			}
		})
	}
}

func authz(v ...string) map[string][]string { return map[string][]string{"Authorization": v} }

func TestLookupBearer(t *testing.T) {
	long := strings.Repeat("a", defaultMaxTokenLength)
	runExtractCases(t, []Lookup{LookupBearer()}, []extractCase{
		{name: "no header", want: ""},
		{name: "bearer", header: authz("Bearer abc.def-ghi_jkl"), want: "abc.def-ghi_jkl"},
		{name: "scheme lower case", header: authz("bearer tok"), want: "tok"},
		{name: "scheme upper case", header: authz("BEARER tok"), want: "tok"},
		{name: "scheme mixed case", header: authz("bEaReR tok"), want: "tok"},
		{name: "every token68 character", header: authz("Bearer aZ09-._~+/=="), want: "aZ09-._~+/=="},
		{name: "padding only at the end", header: authz("Bearer ab=="), want: "ab=="},
		{name: "at the length limit", header: authz("Bearer " + long), want: long},
		{name: "basic is absent", header: authz("Basic dXNlcjpwYXNz"), want: ""},
		{name: "digest is absent", header: authz(`Digest username="x"`), want: ""},
		{name: "longer scheme is absent", header: authz("Bearerx tok"), want: ""},
		{name: "empty header is absent", header: authz(""), want: ""},
		{name: "short header is absent", header: authz("Bear"), want: ""},
		{name: "two headers", header: authz("Bearer a", "Bearer b"), malformed: true},
		{name: "two headers one basic", header: authz("Basic x", "Bearer b"), malformed: true},
		{name: "scheme alone", header: authz("Bearer"), malformed: true},
		{name: "scheme and space", header: authz("Bearer "), malformed: true},
		{name: "two spaces", header: authz("Bearer  tok"), malformed: true},
		{name: "tab separator", header: authz("Bearer\ttok"), malformed: true},
		{name: "comma after scheme", header: authz("Bearer,tok"), malformed: true},
		{name: "trailing space", header: authz("Bearer tok "), malformed: true},
		{name: "space inside token", header: authz("Bearer to k"), malformed: true},
		{name: "auth-param instead of token", header: authz(`Bearer realm="x"`), malformed: true},
		{name: "padding in the middle", header: authz("Bearer ab=c"), malformed: true},
		{name: "padding only", header: authz("Bearer =="), malformed: true},
		{name: "quote", header: authz(`Bearer "tok"`), malformed: true},
		{name: "comma", header: authz("Bearer a,b"), malformed: true},
		{name: "non ascii", header: authz("Bearer tøk"), malformed: true},
		{name: "control character", header: authz("Bearer to\x00k"), malformed: true},
		{name: "over the length limit", header: authz("Bearer " + long + "a"), malformed: true},
	})
}

func TestLookupHeader(t *testing.T) {
	h := func(v ...string) map[string][]string { return map[string][]string{"X-Api-Token": v} }
	runExtractCases(t, []Lookup{LookupHeader("x-api-token")}, []extractCase{
		{name: "absent", want: ""},
		{name: "present", header: h("abc.def"), want: "abc.def"},
		{name: "name is canonicalised", header: h("tok"), want: "tok"},
		{name: "empty", header: h(""), malformed: true},
		{name: "twice", header: h("a", "b"), malformed: true},
		{name: "bearer prefix is not a token68", header: h("Bearer tok"), malformed: true},
		{name: "too long", header: h(strings.Repeat("a", defaultMaxTokenLength+1)), malformed: true},
		{name: "other header ignored", header: map[string][]string{"X-Other": {"tok"}}, want: ""},
	})
}

func TestLookupCookie(t *testing.T) {
	c := func(v ...string) map[string][]string { return map[string][]string{"Cookie": v} }
	runExtractCases(t, []Lookup{LookupCookie("tg_session")}, []extractCase{
		{name: "no cookie header", want: ""},
		{name: "only cookie", header: c("tg_session=abc.def"), want: "abc.def"},
		{name: "among others", header: c("a=1; tg_session=abc; b=2"), want: "abc"},
		{name: "quoted", header: c(`tg_session="abc"`), want: "abc"},
		{name: "second cookie header (HTTP/2)", header: c("a=1", "tg_session=abc"), want: "abc"},
		{name: "first of two wins", header: c("tg_session=first; tg_session=second"), want: "first"},
		{name: "empty value is absent", header: c("tg_session=; a=1"), want: ""},
		{name: "other cookie", header: c("tg_sessionx=abc; xtg_session=def"), want: ""},
		{name: "name is case sensitive", header: c("TG_SESSION=abc"), want: ""},
		{name: "no equals sign", header: c("tg_session"), want: ""},
		{name: "bad characters", header: c("tg_session=a%20b"), malformed: true},
		{name: "too long", header: c("tg_session=" + strings.Repeat("a", defaultMaxTokenLength+1)), malformed: true},
	})
}

func TestLookupQuery(t *testing.T) {
	runExtractCases(t, []Lookup{LookupQuery("access_token")}, []extractCase{
		{name: "no query", target: "/p", want: ""},
		{name: "present", target: "/p?access_token=abc.def", want: "abc.def"},
		{name: "among others", target: "/p?a=1&access_token=abc&b=2", want: "abc"},
		{name: "percent-encoded", target: "/p?access_token=ab%2Bc%3D", want: "ab+c="},
		{name: "encoded key", target: "/p?access%5Ftoken=abc", want: "abc"},
		{name: "semicolon is no separator", target: "/p?a=1;access_token=abc", want: ""},
		{name: "other parameter", target: "/p?access_tokens=abc", want: ""},
		{name: "twice", target: "/p?access_token=a&access_token=b", malformed: true},
		{name: "empty", target: "/p?access_token=", malformed: true},
		{name: "no value", target: "/p?access_token", malformed: true},
		{name: "plus decodes to space", target: "/p?access_token=a+b", malformed: true},
		{name: "bad escape", target: "/p?access_token=%zz", malformed: true},
	})
}

// The first Lookup that finds a token wins; a malformed credential stops the
// search.
func TestLookupOrder(t *testing.T) {
	runExtractCases(t, []Lookup{LookupBearer(), LookupCookie("tok"), LookupQuery("access_token")}, []extractCase{
		{name: "none", want: ""},
		{name: "bearer wins", header: map[string][]string{"Authorization": {"Bearer b"}, "Cookie": {"tok=c"}}, target: "/?access_token=q", want: "b"},
		{name: "cookie after basic", header: map[string][]string{"Authorization": {"Basic x"}, "Cookie": {"tok=c"}}, want: "c"},
		{name: "query last", target: "/?access_token=q", want: "q"},
		{name: "malformed bearer stops the search", header: map[string][]string{"Authorization": {"Bearer "}, "Cookie": {"tok=c"}}, malformed: true},
		{name: "malformed cookie stops the search", header: map[string][]string{"Cookie": {"tok=a b"}}, target: "/?access_token=q", malformed: true},
	})
}

func TestLookupConstructorsPanic(t *testing.T) {
	for name, f := range map[string]func(){
		"empty header":        func() { LookupHeader("") },
		"header with space":   func() { LookupHeader("X Token") },
		"empty cookie":        func() { LookupCookie("") },
		"cookie with equals":  func() { LookupCookie("a=b") },
		"empty query":         func() { LookupQuery("") },
		"WithLookup nothing":  func() { WithLookup() },
		"WithLookup zero":     func() { WithLookup(Lookup{}) },
		"max length zero":     func() { WithMaxTokenLength(0) },
		"realm with quote":    func() { WithRealm(`a"b`) },
		"bad identity prefix": func() { WithIdentityHeaders(IdentityHeaders{Prefix: "X Auth"}) },
		"retry after zero":    func() { WithRetryAfter(0) },
	} {
		t.Run(name, func(t *testing.T) {
			assert.PanicsWithValue(t, panicValue(f), f)
			assert.True(t, strings.HasPrefix(panicValue(f), "middleware: "), "panic message %q", panicValue(f))
		})
	}
}

// panicValue returns what f panics with, as a string.
func panicValue(f func()) (v string) {
	defer func() { v, _ = recover().(string) }()
	f()
	return ""
}

func TestWithMaxTokenLength(t *testing.T) {
	m := newTest(WithMaxTokenLength(len(goodToken)))
	rec, s := serve(m, bearerRequest("/", goodToken))
	assert.Equal(t, http.StatusOK, rec.Code, "a token at the limit passes")
	assert.True(t, s.called)

	calls := 0
	m = New(fakeVerifierCounting(&calls), WithLogger(quiet), WithMaxTokenLength(len(goodToken)-1))
	rec, s = serve(m, bearerRequest("/", goodToken))
	assert.Equal(t, http.StatusBadRequest, rec.Code, "a longer one is malformed")
	assert.False(t, s.called)
	assert.Zero(t, calls, "an overlong token never reaches the verifier")
}

func fakeVerifierCounting(calls *int) verifier.VerifierFunc {
	f := fakeVerifier()
	return func(ctx context.Context, tok string) (*verifier.User, error) {
		*calls++
		return f(ctx, tok)
	}
}

func TestLookupString(t *testing.T) {
	assert.Equal(t, "bearer", LookupBearer().String())
	assert.Equal(t, "header X-Api-Token", LookupHeader("x-api-token").String())
	assert.Equal(t, "cookie s", LookupCookie("s").String())
	assert.Equal(t, "query access_token", LookupQuery("access_token").String())
	assert.Equal(t, "invalid lookup", Lookup{}.String())
}
