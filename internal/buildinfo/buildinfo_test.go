package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/tokenguard/tokenguard", Version: "v0.0.0-20260102030405-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	installed := &debug.BuildInfo{Main: debug.Module{Path: "github.com/tokenguard/tokenguard", Version: "v0.3.1"}}
	local := &debug.BuildInfo{Main: debug.Module{Path: "github.com/tokenguard/tokenguard", Version: "(devel)"}}
	stamped := Info{Version: "v0.4.0", Commit: "fedcba9876543210fedcba9876543210fedcba98", Date: "2026-03-04T05:06:07Z"}

	tests := []struct {
		name    string
		stamped Info
		bi      *debug.BuildInfo
		want    Info
	}{
		{"release build: the stamp wins over what go recorded", stamped, vcs, stamped},
		{"release build without build information", stamped, nil, stamped},
		{"local build in a git checkout", Info{}, vcs, Info{
			Version: "v0.0.0-20260102030405-0123456789ab+dirty",
			Commit:  "0123456789abcdef0123456789abcdef01234567",
			Date:    "2026-01-02T03:04:05Z",
		}},
		{"go install @version: no VCS information", Info{}, installed, Info{Version: "v0.3.1", Commit: Unknown, Date: Unknown}},
		{"local build without VCS stamping", Info{}, local, Info{Version: "(devel)", Commit: Unknown, Date: Unknown}},
		{"no build information at all", Info{}, nil, Info{Version: "(devel)", Commit: Unknown, Date: Unknown}},
		{"a partial stamp is filled in field by field", Info{Version: "v0.4.0"}, vcs, Info{
			Version: "v0.4.0",
			Commit:  "0123456789abcdef0123456789abcdef01234567",
			Date:    "2026-01-02T03:04:05Z",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.GoVersion = runtime.Version()
			assert.Equal(t, tt.want, resolve(tt.stamped, tt.bi))
		})
	}
}

func TestReadFillsEveryField(t *testing.T) {
	i := Read()
	assert.NotEmpty(t, i.Version)
	assert.NotEmpty(t, i.Commit)
	assert.NotEmpty(t, i.Date)
	assert.Equal(t, runtime.Version(), i.GoVersion)
}

func TestLogArgs(t *testing.T) {
	var b strings.Builder
	i := Info{Version: "v0.1.0", Commit: "abc", Date: "2026-01-02T03:04:05Z", GoVersion: "go1.26.0"}
	newTextLogger(&b).Info("tokenguard: listening", i.LogArgs()...)
	assert.Contains(t, b.String(), `msg="tokenguard: listening" version=v0.1.0 commit=abc date=2026-01-02T03:04:05Z`)
}

func TestCollector(t *testing.T) {
	i := Info{Version: "v0.1.0", Commit: "abc", Date: "2026-01-02T03:04:05Z", GoVersion: "go1.26.0"}
	reg := prometheus.NewRegistry()
	reg.MustRegister(i.Collector())
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 1)
	mf := mfs[0]
	assert.Equal(t, "tokenguard_build_info", mf.GetName())
	assert.Equal(t, dto.MetricType_GAUGE, mf.GetType())
	require.Len(t, mf.GetMetric(), 1)
	m := mf.GetMetric()[0]
	assert.Equal(t, 1.0, m.GetGauge().GetValue())
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	assert.Equal(t, map[string]string{
		"version": "v0.1.0", "commit": "abc", "date": "2026-01-02T03:04:05Z", "goversion": "go1.26.0",
	}, labels)
}
