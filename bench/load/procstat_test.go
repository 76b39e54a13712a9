package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr string
	}{
		{name: "plain comm",
			line: "4242 (tokenguard) S 4200 4242 4200 0 -1 4194560 1205 0 0 0 731 219 0 0 20 0 8 0 123456 1300000000 4000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
			want: procStat{PPID: 4200, Utime: 731, Stime: 219}},
		{name: "comm with spaces and parentheses",
			line: "7 (nginx: worker (x) ) R 6 7 6 0 -1 0 0 0 0 0 12 3 0 0 20 0 1 0 1 1 1 1",
			want: procStat{PPID: 6, Utime: 12, Stime: 3}},
		{name: "no comm", line: "1 nginx S 0", wantErr: "no ')'"},
		{name: "too few fields", line: "1 (a) S 0 1 2", wantErr: "fields after comm"},
		{name: "bad utime", line: "1 (a) S 0 1 1 0 -1 0 0 0 0 0 x 3 0", wantErr: "utime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.line))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCPUMicros(t *testing.T) {
	assert.InDelta(t, 1_250_000, procStat{Utime: 100, Stime: 25}.cpuMicros(), 1e-9, "125 ticks of 10ms")
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tnginx\nVmPeak:\t  20000 kB\nVmRSS:\t   12345 kB\nThreads:\t1\n"
	kb, err := parseVmRSS([]byte(status))
	require.NoError(t, err)
	assert.Equal(t, int64(12345), kb)

	_, err = parseVmRSS([]byte("Name:\tkthreadd\n")) // kernel threads have no VmRSS
	assert.ErrorContains(t, err, "no VmRSS")
}

func TestProcReadsOwnProcess(t *testing.T) {
	st, err := readStat(os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, os.Getppid(), st.PPID)
	kb, err := readRSS(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, kb)
	assert.Contains(t, childrenOf(os.Getppid()), os.Getpid(), "this test process is a child of its parent")
	assert.Equal(t, []int{os.Getpid()}, measuredPIDs([]int{os.Getpid()}, []bool{false}))
}
