package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseWrkOutput(t *testing.T) {
	good := `Running 5s test @ http://127.0.0.1:8080/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.02ms  30.00ms   90.00%
  61234 requests in 5.00s, 9.1MB read
TGJSON {"requests":61234,"duration_us":5000000,"bytes":9500000,"connect_errors":1,"read_errors":2,"write_errors":3,"status_errors":7,"timeouts":4,"min_us":80,"mean_us":2100.5,"max_us":30000,"p50_us":1900,"p90_us":3100,"p99_us":6400,"p999_us":12000,"wrapped":2}
Requests/sec:  12246.80
`
	tests := []struct {
		name    string
		out     string
		want    wrkResult
		wantErr string
	}{
		{name: "summary among wrk's own lines", out: good, want: wrkResult{
			Requests: 61234, DurationUS: 5_000_000, Bytes: 9_500_000, ConnectErrors: 1, ReadErrors: 2, WriteErrors: 3,
			StatusErrors: 7, Timeouts: 4, MinUS: 80, MeanUS: 2100.5, MaxUS: 30000, P50US: 1900, P90US: 3100,
			P99US: 6400, P999US: 12000, Wrapped: 2}},
		{name: "no summary line", out: "Running 5s test\nunable to connect to 127.0.0.1:1 Connection refused\n", wantErr: "no TGJSON line"},
		{name: "truncated summary", out: `TGJSON {"requests":12`, wantErr: "decode summary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrkOutput([]byte(tt.out))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestWrkResultFigures(t *testing.T) {
	r := wrkResult{Requests: 50_000, DurationUS: 4_000_000, ConnectErrors: 1, ReadErrors: 2, WriteErrors: 3, Timeouts: 4, StatusErrors: 100}
	assert.InDelta(t, 12_500, r.RPS(), 1e-9)
	assert.Equal(t, int64(10), r.SocketErrors(), "HTTP statuses are not socket errors")
	assert.Zero(t, wrkResult{Requests: 5}.RPS(), "no duration: no rate")
}

func TestWrkRunArgs(t *testing.T) {
	tests := []struct {
		name string
		run  wrkRun
		want string
	}{
		{name: "random pick", run: wrkRun{URL: "http://127.0.0.1:1/", Threads: 2, Connections: 64, Duration: 5 * time.Second, TokenFile: "/t/hot.txt"},
			want: "-t2 -c64 -d5s --timeout 5s -s /t/s.lua http://127.0.0.1:1/ -- /t/hot.txt random 2"},
		{name: "seq walk, sub-second duration rounds up to 1s", run: wrkRun{URL: "http://x/", Threads: 1, Connections: 8, Duration: 300 * time.Millisecond, TokenFile: "f", Seq: true},
			want: "-t1 -c8 -d1s --timeout 5s -s /t/s.lua http://x/ -- f seq 1"},
		{name: "stamped random pick", run: wrkRun{URL: "http://x/", Threads: 2, Connections: 8, Duration: time.Second, TokenFile: "f", Stamp: true},
			want: "-t2 -c8 -d1s --timeout 5s -s /t/s.lua http://x/ -- f stamp 2"},
		{name: "fewer connections than threads is raised", run: wrkRun{URL: "http://x/", Threads: 4, Connections: 2, Duration: 2500 * time.Millisecond, TokenFile: "f"},
			want: "-t4 -c4 -d3s --timeout 5s -s /t/s.lua http://x/ -- f random 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, strings.Join(tt.run.args("/t/s.lua"), " "))
		})
	}
}

func TestWrkScriptPrintsEveryParsedField(t *testing.T) {
	// Every JSON field wrkResult decodes must be written by the script's done().
	for _, f := range []string{"requests", "duration_us", "bytes", "connect_errors", "read_errors", "write_errors",
		"status_errors", "timeouts", "min_us", "mean_us", "max_us", "p50_us", "p90_us", "p99_us", "p999_us", "wrapped"} {
		assert.Contains(t, wrkScript, `"`+f+`":`, f)
	}
	assert.Contains(t, wrkScript, wrkMarker)
}
