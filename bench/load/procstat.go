package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procStat is the part of /proc/<pid>/stat the harness uses.
type procStat struct {
	PPID  int
	Utime uint64 // clock ticks
	Stime uint64 // clock ticks
}

// cpuMicros is the process's user+system CPU time in microseconds.
func (p procStat) cpuMicros() float64 {
	return float64(p.Utime+p.Stime) * 1e6 / clockTicks
}

// parseStat parses the contents of /proc/<pid>/stat. The command name (field
// 2) is in parentheses and may itself contain spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return procStat{}, errors.New("procstat: no ')' in stat line")
	}
	// After ") " come field 3 (state), 4 (ppid), ... 14 (utime), 15 (stime).
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("procstat: %d fields after comm, want >= 13", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("procstat: ppid: %w", err)
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("procstat: utime: %w", err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("procstat: stime: %w", err)
	}
	return procStat{PPID: ppid, Utime: ut, Stime: st}, nil
}

// parseVmRSS returns VmRSS in KiB from the contents of /proc/<pid>/status.
func parseVmRSS(b []byte) (int64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, errors.New("procstat: empty VmRSS")
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, errors.New("procstat: no VmRSS line")
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

// childrenOf lists the pids whose parent is pid (nginx workers, cache manager).
func childrenOf(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(c)
		if err == nil && st.PPID == pid {
			kids = append(kids, c)
		}
	}
	return kids
}

// measuredPIDs expands the root pids of a system into every pid whose CPU and
// memory count: the roots plus, where withChildren is set, their children.
func measuredPIDs(roots []int, withChildren []bool) []int {
	var pids []int
	for i, p := range roots {
		pids = append(pids, p)
		if withChildren[i] {
			pids = append(pids, childrenOf(p)...)
		}
	}
	return pids
}

// cpuOf sums user+system CPU microseconds over pids; processes that have gone
// are skipped.
func cpuOf(pids []int) float64 {
	var sum float64
	for _, p := range pids {
		if st, err := readStat(p); err == nil {
			sum += st.cpuMicros()
		}
	}
	return sum
}

// rssOf sums VmRSS (KiB) over pids.
func rssOf(pids []int) int64 {
	var sum int64
	for _, p := range pids {
		if kb, err := readRSS(p); err == nil {
			sum += kb
		}
	}
	return sum
}

// rssSampler records the peak summed RSS of pids until stopped.
type rssSampler struct {
	mu   sync.Mutex // guards peak
	peak int64
	stop context.CancelFunc
	done chan struct{}
}

func sampleRSS(ctx context.Context, pids []int, every time.Duration) *rssSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &rssSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			kb := rssOf(pids)
			s.mu.Lock()
			s.peak = max(s.peak, kb)
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak in KiB.
func (s *rssSampler) Stop() int64 {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
