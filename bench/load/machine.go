package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machineInfo is what the report says about where it was measured.
type machineInfo struct {
	NProc        int    `json:"nproc"`
	GOMAXPROCS   int    `json:"gomaxprocs"`
	CPUModel     string `json:"cpu_model"`
	MemTotal     string `json:"mem_total"`
	Kernel       string `json:"kernel"`
	GoVersion    string `json:"go_version"`
	NginxVersion string `json:"nginx_version"`
	WrkVersion   string `json:"wrk_version"`
	// LoadStart and LoadEnd are /proc/loadavg when the run began and ended:
	// other work on the machine shows there.
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func gatherMachine(h *harness) machineInfo {
	m := machineInfo{NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		LoadStart: h.loadStart, LoadEnd: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = procField(string(b), "model name")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = memGiB(procField(string(b), "MemTotal"))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.NginxVersion = "not installed"
	if h.nginxBin != "" {
		m.NginxVersion = strings.TrimPrefix(firstLine(commandOutput(h.nginxBin, "-v")), "nginx version: ")
	}
	if h.wrkBin != "" {
		m.WrkVersion, _, _ = strings.Cut(firstLine(commandOutput(h.wrkBin, "--version")), " Copyright")
	}
	return m
}

// procField returns the value of the first "key : value" line.
func procField(s, key string) string {
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// commandOutput is stdout and stderr of a short command, whatever its status
// (nginx -v writes to stderr, wrk --version exits 1).
func commandOutput(bin string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	_ = cmd.Run()
	return buf.String()
}

// memGiB turns meminfo's "24683656 kB" into "23.5 GiB".
func memGiB(s string) string {
	kb, err := strconv.ParseFloat(strings.TrimSuffix(s, " kB"), 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GiB"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}
