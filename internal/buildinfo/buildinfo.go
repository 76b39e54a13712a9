package buildinfo

import (
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set by the linker (-X) in release builds; see the package doc. They are
// unexported so that nothing but the linker writes them.
var (
	version string
	commit  string
	date    string
)

// Unknown is the Commit or Date of a build that recorded neither.
const Unknown = "unknown"

// Info describes one build of tokenguard. Every field is set: a value the
// build did not record reads Unknown ("(devel)" for the Version of a local
// build without VCS stamping, as the go command records it).
type Info struct {
	Version   string // module version: v0.1.0, a pseudo-version, or "(devel)"
	Commit    string // full git commit hash
	Date      string // the commit's date, RFC 3339 in UTC
	GoVersion string // the toolchain that built it: go1.26.0
}

// Read returns this binary's Info: the values stamped with -X where set,
// else those of runtime/debug.ReadBuildInfo.
func Read() Info {
	bi, _ := debug.ReadBuildInfo() // nil without build information
	return resolve(Info{Version: version, Commit: commit, Date: date}, bi)
}

// resolve fills in, field by field, what stamped lacks from bi (nil when
// the binary carries no build information), then the defaults. Only
// Version, Commit and Date of stamped are read.
func resolve(stamped Info, bi *debug.BuildInfo) Info {
	var recorded Info
	if bi != nil {
		recorded.Version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				recorded.Commit = s.Value
			case "vcs.time":
				recorded.Date = s.Value
			}
		}
	}
	return Info{
		Version:   first(stamped.Version, recorded.Version, "(devel)"),
		Commit:    first(stamped.Commit, recorded.Commit, Unknown),
		Date:      first(stamped.Date, recorded.Date, Unknown),
		GoVersion: runtime.Version(),
	}
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// String is the line `tokenguard version` prints:
//
//	tokenguard v0.1.0 (commit 0123abcd..., date 2026-01-02T03:04:05Z, go1.26.0 linux/amd64)
func (i Info) String() string {
	return fmt.Sprintf("tokenguard %s (commit %s, date %s, %s %s/%s)",
		i.Version, i.Commit, i.Date, i.GoVersion, runtime.GOOS, runtime.GOARCH)
}

// LogArgs returns the version, commit and date as slog attributes, for
// the args of a log call.
func (i Info) LogArgs() []any {
	return []any{
		slog.String("version", i.Version),
		slog.String("commit", i.Commit),
		slog.String("date", i.Date),
	}
}

// Collector returns the gauge tokenguard_build_info, always 1, with the
// labels version, commit, date and goversion, for a registry to serve:
// `tokenguard_build_info{version="v0.1.0",...} 1` in every scrape lets a
// dashboard tell which build each replica runs.
func (i Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tokenguard_build_info",
		Help: "A constant 1, labelled with the version, commit, commit date and Go version of the running tokenguard.",
		ConstLabels: prometheus.Labels{
			"version":   i.Version,
			"commit":    i.Commit,
			"date":      i.Date,
			"goversion": i.GoVersion,
		},
	})
	g.Set(1)
	return g
}
