package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildRelease runs scripts/build.sh, the release build, into dir.
func buildRelease(t *testing.T, dir, name string, env ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("../../scripts/build.sh", out)
	cmd.Env = append(append(os.Environ(), "GOOS=linux"), env...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "scripts/build.sh: %s", b)
	return out
}

// The release binary is static, the same bytes on every build of a commit,
// and stamped with the commit's date rather than the clock's.
func TestReleaseBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the release build stamps the commit and needs git")
	}
	dir := t.TempDir()
	a := buildRelease(t, dir, "a", "VERSION=v0.0.0-test")
	b := buildRelease(t, dir, "b", "VERSION=v0.0.0-test")
	ab, err := os.ReadFile(a)
	require.NoError(t, err)
	bb, err := os.ReadFile(b)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(ab, bb), "two builds of one commit differ")

	f, err := elf.Open(a)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a dynamic loader is requested")
		assert.NotEqual(t, elf.PT_DYNAMIC, p.Type, "the binary has a dynamic section")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs)

	if runtime.GOOS != "linux" {
		return // the linux binary cannot run here
	}
	out, err := exec.Command(a, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	gitLog := exec.Command("git", "log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ")
	gitLog.Env = append(os.Environ(), "TZ=UTC0")
	date, err := gitLog.Output()
	require.NoError(t, err)
	commit, err := exec.Command("git", "rev-parse", "HEAD").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "tokenguard v0.0.0-test (commit "+strings.TrimSpace(string(commit))+", date "+strings.TrimSpace(string(date))+",")
}

// The Dockerfile builds with the release command line, statically, and runs
// the binary as its entry point without a HEALTHCHECK.
func TestDockerfileUsesTheReleaseBuild(t *testing.T) {
	df := readRepoFile(t, "Dockerfile")
	assert.Regexp(t, regexp.MustCompile(`(?m)^RUN .*\./scripts/build\.sh /out/tokenguard$`), df)
	assert.Contains(t, df, `ENTRYPOINT ["tokenguard"]`)
	assert.Regexp(t, regexp.MustCompile(`(?m)^USER nonroot`), df)
	assert.NotRegexp(t, regexp.MustCompile(`(?m)^HEALTHCHECK`), df)

	mk := readRepoFile(t, "Makefile")
	assert.Regexp(t, regexp.MustCompile(`\./scripts/build\.sh \$\(DIST\)/`), mk, "make release builds with the same script")
	sh := readRepoFile(t, "scripts", "build.sh")
	assert.Contains(t, sh, "CGO_ENABLED=0")
	assert.Contains(t, sh, "-trimpath")
}

func readRepoFile(t *testing.T, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", ".."}, path...)...))
	require.NoError(t, err)
	return string(b)
}
