package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// resultsFile is results.json: every raw run plus the summaries the report shows.
type resultsFile struct {
	Started        time.Time         `json:"started"`
	Finished       time.Time         `json:"finished"`
	Interrupted    bool              `json:"interrupted"`
	Machine        machineInfo       `json:"machine"`
	Flags          map[string]string `json:"flags"`
	Systems        []systemInfo      `json:"systems"`
	ScenarioErrors map[string]string `json:"scenario_errors,omitempty"`
	Runs           []runResult       `json:"runs"`
	Summaries      []summary         `json:"summaries"`
	Profiles       []profileResult   `json:"profiles,omitempty"`
}

type systemInfo struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Cache       string `json:"cache,omitempty"`
	Unavailable string `json:"unavailable,omitempty"`
}

// sums maps scenario -> system id -> summary.
type sums map[string]map[string]summary

func (h *harness) summarize() (sums, []summary) {
	byKey := map[[2]string][]runResult{}
	for _, r := range h.results {
		k := [2]string{r.Scenario, r.System}
		byKey[k] = append(byKey[k], r)
	}
	out, flat := sums{}, []summary(nil)
	for _, sc := range h.ran {
		out[sc.Name] = map[string]summary{}
		for _, id := range h.cfg.only {
			if runs, ok := byKey[[2]string{sc.Name, id}]; ok {
				s := summarize(sc.Name, id, runs)
				out[sc.Name][id] = s
				flat = append(flat, s)
			}
		}
	}
	return out, flat
}

func (h *harness) flags() map[string]string {
	c := h.cfg
	return map[string]string{
		"only": strings.Join(c.only, ","), "scenarios": strings.Join(c.scenarios, ","),
		"duration": c.duration.String(), "rounds": fmt.Sprint(c.rounds), "latency": c.latency.String(),
		"connections": fmt.Sprint(c.connections), "threads": fmt.Sprint(c.threads), "users": fmt.Sprint(c.users),
		"cold-tokens": fmt.Sprint(c.coldTokens), "junk-tokens": fmt.Sprint(c.junkTokens),
		"stampede": fmt.Sprint(c.stampedeN), "stampede-conns": fmt.Sprint(c.stampedeConns),
		"expiry-ttl": c.expiryTTL.String(), "revoke": fmt.Sprint(c.revokeN),
		"nginx-workers": fmt.Sprint(c.nginxWorkers), "quick": fmt.Sprint(c.quick),
	}
}

func (h *harness) systemInfos() []systemInfo {
	var out []systemInfo
	for _, id := range h.cfg.only {
		si := systemInfo{ID: id, Name: specOf(id).Name, Unavailable: h.unavailable[id]}
		if s, ok := h.systems[id]; ok {
			si.Cache = s.Cache
		}
		out = append(out, si)
	}
	return out
}

// writeReport writes results.json, report.md and latency.svg into the out dir.
func (h *harness) writeReport() (string, error) {
	dir := h.cfg.out
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	s, flat := h.summarize()
	rf := resultsFile{Started: h.started, Finished: h.finished, Interrupted: h.interrupted, Machine: gatherMachine(h),
		Flags: h.flags(), Systems: h.systemInfos(), ScenarioErrors: h.scenarioErr, Runs: h.results, Summaries: flat,
		Profiles: h.profiles}
	js, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return "", err
	}
	var plots []latencyPanel
	for _, sc := range h.ran {
		p := latencyPanel{Title: sc.Title}
		for _, id := range h.cfg.only {
			if x, ok := s[sc.Name][id]; ok && x.Rounds > 0 {
				p.Labels = append(p.Labels, "("+id+") "+shortName(id))
				p.Values = append(p.Values, [4]float64{x.P50US, x.P90US, x.P99US, x.MaxUS})
			}
		}
		if len(p.Labels) > 0 {
			plots = append(plots, p)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "latency.svg"), []byte(latencySVG(plots)), 0o644); err != nil {
		return "", err
	}
	md := h.markdown(rf, s)
	return dir, os.WriteFile(filepath.Join(dir, "report.md"), []byte(md), 0o644)
}

func shortName(id string) string {
	return map[string]string{"a": "direct", "b": "plain proxy", "c": "tokenguard", "d": "nginx+fa", "e": "nginx cache",
		"f": "nginx+2 fa+redis", "g": "tokenguard fasthttp", "h": "nginx+fa fasthttp"}[id]
}

func (h *harness) markdown(rf resultsFile, s sums) string {
	var b strings.Builder
	m := rf.Machine
	fmt.Fprintf(&b, "# Load harness report, %s\n\n", rf.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Produced by `go run ./bench/load %s` (bench/load), in %s.", h.argsLine(), rf.Finished.Sub(rf.Started).Round(time.Second))
	if rf.Interrupted {
		b.WriteString(" **The run was interrupted: the figures below are partial.**")
	}
	fmt.Fprintf(&b, "\n\nEach wrk run lasts %s (wrk -t%d -c%d); %d round(s) per scenario, systems interleaved round by round "+
		"(A B C D E A B C D E ...). The emulator answers verify_token after %s. Everything runs on 127.0.0.1 on one machine, "+
		"so the load generator, the emulator and the upstream share its CPUs with the system under test: read req/s as "+
		"ratios within one run, and gateway CPU per request (from /proc/<pid>/stat, nginx master and workers plus "+
		"tokenguard forward-auth summed) as the steadier figure. Figures are medians across rounds; spread is min-max.\n\n",
		h.cfg.duration, h.cfg.threads, h.cfg.connections, h.cfg.rounds, h.cfg.latency)
	b.WriteString("## Machine\n\n")
	b.WriteString(mdTable([]string{"nproc", "CPU", "memory", "kernel", "Go", "nginx", "wrk", "load avg at start / end"},
		[][]string{{fmt.Sprint(m.NProc), m.CPUModel, m.MemTotal, m.Kernel, m.GoVersion, m.NginxVersion, m.WrkVersion,
			m.LoadStart + " / " + m.LoadEnd}}))
	b.WriteString("\n## Systems\n\n")
	var rows [][]string
	for _, si := range rf.Systems {
		st := "ran"
		if si.Unavailable != "" {
			st = "**did not run**: " + mdEscape(si.Unavailable)
		}
		rows = append(rows, []string{"(" + si.ID + ")", si.Name, orDash(si.Cache), st})
	}
	b.WriteString(mdTable([]string{"id", "system", "cache", "status"}, rows))
	if h.nginxBin == "" {
		b.WriteString("\nnginx is not installed on this machine: the systems with nginx in front did not run.\n")
	}
	b.WriteString("\n## Bars (issue 6)\n\n")
	b.WriteString(h.barsSection(s))
	b.WriteString("\n![latency percentiles per system](latency.svg)\n")
	for _, sc := range h.ran {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", sc.Title, sc.About)
		if e := rf.ScenarioErrors[sc.Name]; e != "" {
			fmt.Fprintf(&b, "**Stopped early:** %s\n\n", mdEscape(e))
		}
		b.WriteString(h.scenarioTable(sc.Name, s))
		b.WriteString(h.cpuSplitTable(sc.Name, s))
		b.WriteString(h.harnessCPUTable(sc.Name, s))
		b.WriteString(failures(s[sc.Name], h.cfg.only))
	}
	b.WriteString(profileSection(rf.Profiles, s["hot"]))
	b.WriteString("\nRaw figures of every run: results.json.\n")
	return b.String()
}

// failures lists runs that failed, under a scenario's table.
func failures(byID map[string]summary, ids []string) string {
	var b strings.Builder
	for _, id := range ids {
		for _, f := range byID[id].Failures {
			fmt.Fprintf(&b, "- (%s) failed: %s\n", id, mdEscape(tail(f, 300)))
		}
	}
	if b.Len() > 0 {
		return "\n" + b.String()
	}
	return ""
}

func (h *harness) argsLine() string {
	args := os.Args[1:]
	if len(args) == 0 {
		return "(defaults)"
	}
	return strings.Join(args, " ")
}

func mdTable(head []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", "").Replace(s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fmtUS writes a latency given in microseconds with a readable unit.
func fmtUS(us float64) string {
	switch {
	case us <= 0 || math.IsNaN(us):
		return "-"
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 10_000:
		return fmt.Sprintf("%.2fms", us/1000)
	case us < 1_000_000:
		return fmt.Sprintf("%.0fms", us/1000)
	}
	return fmt.Sprintf("%.2fs", us/1e6)
}

// fmtRatio writes x as "1.23×", "-" when it has no meaning.
func fmtRatio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2f×", x)
}

// fmtSpread writes a min-max range, "-" when there is none.
func fmtSpread(lo, hi float64, prec int) string {
	if lo == 0 && hi == 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f-%.*f", prec, lo, prec, hi)
}

func fmtNum(x float64, prec int) string {
	if x == 0 || math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}
