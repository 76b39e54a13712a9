package gateway

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSkipPaths(t *testing.T) {
	prefixes, err := cleanSkipPaths([]string{"/healthz", "/public/", "/a//b"})
	require.NoError(t, err)
	assert.Equal(t, []string{"/healthz", "/public", "/a/b"}, prefixes)
	skip := skipFunc(prefixes)
	tests := []struct {
		target string // request target as a client sends it
		want   bool
	}{
		{"/healthz", true},
		{"/healthz/", true},
		{"/healthz/live", true},
		{"/public/css/site.css?v=2", true},
		{"/a/b/c", true},
		{"/healthzX", false},             // not on a segment boundary
		{"/health", false},               // shorter than the prefix
		{"/api/healthz", false},          // not a prefix
		{"/admin/../healthz", false},     // dot segments: the upstream may not clean them
		{"/healthz/../admin", false},     // cleans to /admin
		{"/healthz//x", false},           // doubled slash
		{"/healthz/./x", false},          // dot segment
		{"/health%7a", false},            // an escape that is not the default encoding
		{"/healthz%2F..%2Fadmin", false}, // encoded slashes
		{"/healthz/a%20b", false},        // a space: outside [A-Za-z0-9._~/-]
		{"/healthz/..;/admin", false},    // Tomcat and Spring route this to /admin
		{"/healthz;/../admin", false},    // matrix parameter, then dot segment
		{"/healthz;jsessionid=1", false}, // matrix parameter
		{"/healthz/live;x=1", false},     // matrix parameter in a later segment
		{"/healthz/%3B", false},          // an encoded ";"
		{"/healthz/..%3B/admin", false},  // an encoded ";" after dots
		{"/healthz/%2e%2e;/admin", false},
		{"/healthz/caf%C3%A9", false}, // non-ASCII
		{"/healthz/a:b", false},       // sub-delims are not plain either
		{"/healthz/a~b_c-d.e", true},  // every unreserved character passes
		{"/healthz/..x", true},        // not a dot segment, and plain
		{"/", false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			u, err := url.ParseRequestURI(tt.target)
			require.NoError(t, err)
			assert.Equal(t, tt.want, skip(u.Path, u.RawPath != ""))
		})
	}
	assert.Nil(t, skipFunc(nil), "no prefixes: no predicate, so the middleware skips nothing")
}
