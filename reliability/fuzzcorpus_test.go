package reliability

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)

// Every fuzz target in the module (make fuzz runs them all in CI) keeps a
// seed corpus under its package's testdata/fuzz/<Target>/, so that crashers
// found once stay regression tests under plain go test.
func TestFuzzCorpora(t *testing.T) {
	root := filepath.Join("..")
	targets := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "testdata", "examples", ".git", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(src), -1) {
			targets++
			dir := filepath.Join(filepath.Dir(path), "testdata", "fuzz", m[1])
			t.Run(m[1], func(t *testing.T) {
				entries, err := os.ReadDir(dir)
				require.NoError(t, err, "%s (in %s) has no seed corpus directory %s", m[1], path, dir)
				require.NotEmpty(t, entries, "%s: empty corpus", dir)
				for _, e := range entries {
					assert.True(t, corpusFile(t, filepath.Join(dir, e.Name())), "%s is not a go test fuzz v1 file", e.Name())
				}
			})
		}
		return nil
	})
	require.NoError(t, err)
	require.NotZero(t, targets, "found no fuzz targets: is the module root at ..?")
}

func corpusFile(t *testing.T, path string) bool {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	return sc.Scan() && sc.Text() == "go test fuzz v1"
}
