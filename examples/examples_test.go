// Package examples_test keeps the examples honest: the proxy configurations
// pass every identity header the middleware sets, and the Grafana dashboard
// queries only metrics, labels and values tokenguard exports, and all of its
// metrics.
package examples_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

func refuseAll(context.Context, string) (*verifier.User, error) { return nil, verifier.ErrInvalidToken }

// identityHeaders returns the names of the headers the middleware sets, as
// the middleware itself spells them: a user with custom data gets them all.
func identityHeaders(t *testing.T) []string {
	t.Helper()
	m := middleware.New(verifier.VerifierFunc(refuseAll))
	var names []string
	for _, h := range m.IdentityHeaders(&verifier.User{ID: "u", CustomUserData: json.RawMessage(`{"a":1}`)}) {
		names = append(names, h.Name)
	}
	require.Len(t, names, 6, "User-Id, Session-Id, Domain-Id, Device-Id, Expires, User-Data")
	return names
}

func readFile(t *testing.T, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(path...))
	require.NoError(t, err)
	return string(b)
}

// listUnder returns the items of the YAML block list under the first line
// whose trimmed text starts with key: lines "- item" indented deeper than
// key, with quotes and "{ exact: ..., ... }" wrappers removed.
func listUnder(t *testing.T, text, key string) []string {
	t.Helper()
	var items []string
	keyIndent := -1
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if keyIndent < 0 {
			if strings.HasPrefix(trimmed, key) {
				keyIndent = indent
			}
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if indent <= keyIndent {
			break
		}
		if item, ok := strings.CutPrefix(trimmed, "- "); ok {
			if m := regexp.MustCompile(`exact:\s*([^,}\s]+)`).FindStringSubmatch(item); m != nil {
				item = m[1]
			}
			items = append(items, strings.Trim(item, `"'`))
		}
	}
	require.GreaterOrEqual(t, keyIndent, 0, "no %q in the file", key)
	return items
}

// lineFields returns the fields after directive on each line that starts
// with it.
func lineFields(text, directive string) []string {
	var out []string
	for line := range strings.Lines(text) {
		fields := strings.Fields(line)
		if len(fields) > 1 && fields[0] == directive {
			out = append(out, fields[1:]...)
		}
	}
	return out
}

// matches returns the first group of every match of re in text.
func matches(text, re string) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// containsFold reports whether list holds name, ignoring ASCII case.
func containsFold(list []string, name string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, name) })
}

// TestProxyConfigsPassIdentityHeaders checks that each forward-auth proxy
// configuration copies every identity header from tokenguard's answer onto
// the request, and removes the ones the client sent.
func TestProxyConfigsPassIdentityHeaders(t *testing.T) {
	names := identityHeaders(t)
	tests := []struct {
		name     string
		file     string
		copied   func(t *testing.T, text string) []string // headers copied from tokenguard's answer
		removed  func(t *testing.T, text string) []string // client headers removed first; nil: copying replaces them
		settings []string                                 // text the configuration must hold: the security-relevant settings
	}{
		{
			name:     "traefik authResponseHeaders",
			file:     "traefik/dynamic.yml",
			copied:   func(t *testing.T, s string) []string { return listUnder(t, s, "authResponseHeaders:") },
			settings: []string{"trustForwardHeader: false", `authResponseHeadersRegex: "(?i)^x[-_.]auth[-_.]"`, `Authorization: ""`},
		},
		{
			name:     "caddy copy_headers",
			file:     "caddy/Caddyfile",
			copied:   func(_ *testing.T, s string) []string { return lineFields(s, "copy_headers") },
			settings: []string{"request_header -X-Auth-*", "request_header -*_*", "header_up -Authorization"},
		},
		{
			name:     "envoy allowed_upstream_headers",
			file:     "envoy/envoy.yaml",
			copied:   func(t *testing.T, s string) []string { return listUnder(t, s, "allowed_upstream_headers:") },
			removed:  func(_ *testing.T, s string) []string { return matches(s, `(?m)^\s*- remove:\s*(\S+)`) },
			settings: []string{"failure_mode_allow: false", "headers_with_underscores_action: DROP_HEADER", `request_headers_to_remove: ["authorization"]`},
		},
		{
			// proxy_set_header replaces the client's header, and an empty
			// value removes it.
			name:   "nginx proxy_set_header",
			file:   "nginx/nginx.conf",
			copied: func(_ *testing.T, s string) []string { return lineFields(s, "proxy_set_header") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := readFile(t, filepath.FromSlash(tt.file))
			copied := tt.copied(t, text)
			var removed []string
			if tt.removed != nil {
				removed = tt.removed(t, text)
			}
			for _, name := range names {
				assert.True(t, containsFold(copied, name), "%s is not copied; have %q", name, copied)
				if tt.removed != nil {
					assert.True(t, containsFold(removed, name), "a client's %s is not removed; have %q", name, removed)
				}
			}
			for _, s := range tt.settings {
				assert.Contains(t, text, s)
			}
		})
	}
}
