package examples_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// forwardAuthFlags returns the flag names `tokenguard forward-auth --help`
// lists.
func forwardAuthFlags(t *testing.T) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "run", "../cmd/tokenguard", "forward-auth", "--help")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // --help exits non-zero with the flag package
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(out.String(), -1) {
		flags[m[1]] = true
	}
	require.Contains(t, flags, "redis-url", "help output:\n%s", out.String())
	return flags
}

// yamlDocs decodes every document of a multi-document YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err, path)
		require.NotEmpty(t, doc["kind"], "%s: a document without a kind", path)
		docs = append(docs, doc)
	}
}

// The Kubernetes example parses, and every flag and environment variable it
// gives tokenguard exists.
func TestKubernetesExample(t *testing.T) {
	flags := forwardAuthFlags(t)
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 3)
	kinds := map[string]int{}
	var containers []map[string]any
	for _, f := range files {
		for _, doc := range yamlDocs(t, f) {
			kinds[doc["kind"].(string)]++
			if doc["kind"] == "Deployment" {
				spec := doc["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
				for _, c := range spec["containers"].([]any) {
					containers = append(containers, c.(map[string]any))
				}
			}
		}
	}
	assert.Equal(t, map[string]int{"Deployment": 2, "Service": 2, "NetworkPolicy": 1, "Ingress": 1}, kinds)

	var tg map[string]any
	for _, c := range containers {
		if c["name"] == "tokenguard" {
			tg = c
		}
	}
	require.NotNil(t, tg, "a tokenguard container")
	args := tg["args"].([]any)
	require.Equal(t, "forward-auth", args[0])
	for _, a := range args[1:] {
		name, _, _ := strings.Cut(strings.TrimLeft(a.(string), "-"), "=")
		assert.True(t, flags[name], "flag --%s does not exist", name)
	}
	envs := 0
	for _, e := range tg["env"].([]any) {
		name := e.(map[string]any)["name"].(string)
		flag, ok := strings.CutPrefix(name, "TOKENGUARD_")
		require.True(t, ok, "%s is not a TOKENGUARD_ variable", name)
		assert.True(t, flags[strings.ReplaceAll(strings.ToLower(flag), "_", "-")], "%s names no flag", name)
		envs++
	}
	assert.Equal(t, 6, envs)
	probes := map[string]string{}
	for _, p := range []string{"livenessProbe", "readinessProbe"} {
		probes[p] = tg[p].(map[string]any)["httpGet"].(map[string]any)["path"].(string)
	}
	assert.Equal(t, map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"}, probes)

	ingress := yamlDocs(t, filepath.Join("kubernetes", "ingress.yaml"))[0]
	ann := ingress["metadata"].(map[string]any)["annotations"].(map[string]any)
	assert.Contains(t, ann["nginx.ingress.kubernetes.io/auth-url"], "tokenguard")
	got := strings.Split(ann["nginx.ingress.kubernetes.io/auth-response-headers"].(string), ",")
	assert.ElementsMatch(t, identityHeaders(t), got, "the Ingress copies every identity header tokenguard sets")
}
