package buildinfo_test

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/buildinfo"
)

// The Info of a release build, as `tokenguard version` prints it, and its
// gauge in a registry.
func ExampleInfo() {
	i := buildinfo.Info{
		Version:   "v0.1.0",
		Commit:    "0123456789abcdef0123456789abcdef01234567",
		Date:      "2026-01-02T03:04:05Z",
		GoVersion: "go1.26.0",
	}
	// String ends with the platform of the running binary.
	fmt.Println(strings.SplitAfter(i.String(), "go1.26.0")[0])

	reg := prometheus.NewRegistry()
	reg.MustRegister(i.Collector())
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, l := range mf.GetMetric()[0].GetLabel() {
			fmt.Printf("%s %s=%q\n", mf.GetName(), l.GetName(), l.GetValue())
		}
	}
	// Output:
	// tokenguard v0.1.0 (commit 0123456789abcdef0123456789abcdef01234567, date 2026-01-02T03:04:05Z, go1.26.0
	// tokenguard_build_info commit="0123456789abcdef0123456789abcdef01234567"
	// tokenguard_build_info date="2026-01-02T03:04:05Z"
	// tokenguard_build_info goversion="go1.26.0"
	// tokenguard_build_info version="v0.1.0"
}
