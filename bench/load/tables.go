package main

import (
	"fmt"
	"strings"
)

func isBurst(scenario string) bool { return scenario == "stampede" || scenario == "expiry" }

// scenarioTable renders one scenario's summaries, one row per system.
func (h *harness) scenarioTable(name string, s sums) string {
	byID := s[name]
	a, b := byID["a"], byID["b"]
	var rows [][]string
	var notes []string
	if isBurst(name) {
		head := []string{"system", "wide calls per round", "upstream calls per round", "p50", "p99", "max",
			"waiters p50", "cached waiters p50", "added", "cached p99", "added p99", "non-2xx", "errors", "CPU µs/req", "RSS MiB"}
		for _, id := range h.cfg.only {
			x, ok := byID[id]
			if !ok || x.Rounds == 0 {
				continue
			}
			e := x.Extra
			rows = append(rows, []string{"(" + id + ") " + shortName(id), wideCalls(h, x), joinInts(x.UpstreamCalls),
				fmtUS(x.P50US), fmtUS(x.P99US), fmtUS(x.MaxUS),
				fmtUS(e["wave_p50_us"]), fmtUS(e["cached_wave_p50_us"]), fmtSigned(e["added_p50_us"]),
				fmtUS(e["cached_p99_us"]), fmtSigned(e["added_p99_us"]),
				fmt.Sprint(x.Non2xx), fmt.Sprint(x.Errors), fmtNum(x.CPUPerReqUS, 1), fmtNum(float64(x.RSSPeakKB)/1024, 1)})
		}
		return mdTable(head, rows)
	}
	head := []string{"system", "req/s", "spread", "×(a)", "×(b)", "p50", "p90", "p99", "max", "non-2xx", "errors",
		"upstream calls", "CPU µs/req", "spread", "CPU ×(b)", "RSS MiB"}
	switch name {
	case "cold":
		head = append(head, "tokens reused")
	case "junk":
		head = append(head, "hot p99 ×(no flood)", "flood req/s", "heap in use MiB", "heap growth MiB", "positive entries", "negative entries")
	case "revoke":
		head = append(head, "admitted", "latest admitted after revoke", "in flight", "webhook non-2xx")
	}
	for _, id := range h.cfg.only {
		x, ok := byID[id]
		if !ok || x.Rounds == 0 {
			continue
		}
		calls := sumInts(x.UpstreamCalls)
		row := []string{"(" + id + ") " + shortName(id),
			fmtNum(x.RPS, 0), fmtSpread(x.RPSMin, x.RPSMax, 0),
			fmtRatio(ratio(x.RPS, a.RPS)), fmtRatio(ratio(x.RPS, b.RPS)),
			fmtUS(x.P50US), fmtUS(x.P90US), fmtUS(x.P99US), fmtUS(x.MaxUS),
			fmt.Sprint(x.Non2xx), fmt.Sprint(x.Errors),
			fmt.Sprintf("%d (%.3f/req)", calls, float64(calls)/float64(max(x.Requests, 1))),
			fmtNum(x.CPUPerReqUS, 1), fmtSpread(x.CPUMin, x.CPUMax, 1),
			fmtRatio(ratio(x.CPUPerReqUS, b.CPUPerReqUS)), fmtNum(float64(x.RSSPeakKB)/1024, 1)}
		e := x.Extra
		switch name {
		case "cold":
			row = append(row, fmtCount(e, "wrapped", specOf(id).Auth))
		case "junk":
			row = append(row, fmtRatio(ratio(x.P99US, s["hot"][id].P99US)), fmtNum(e["flood_rps"], 0),
				fmtNum(e["heap_inuse_bytes"]/(1<<20), 1), fmtGrowth(e), fmtCount(e, "positive_entries", specOf(id).Auth),
				fmtCount(e, "negative_entries", specOf(id).Auth))
		case "revoke":
			if specOf(id).Auth {
				row = append(row, fmt.Sprint(e["admitted_revoked"]), fmt.Sprintf("%.1fms", e["admitted_max_lag_ms"]),
					fmt.Sprint(e["inflight_at_revoke"]), fmtWebhook(e))
			} else {
				row = append(row, "n/a (no auth)", "-", "-", "-")
			}
		}
		if e["anonymous"] > 0 || e["token_leaked"] > 0 {
			notes = append(notes, fmt.Sprintf("- (%s): %.0f requests reached the upstream without an identity header, "+
				"%.0f still carrying the Authorization header.", id, e["anonymous"], e["token_leaked"]))
		}
		rows = append(rows, row)
	}
	out := mdTable(head, rows)
	if len(notes) > 0 {
		out += "\n" + strings.Join(notes, "\n") + "\n"
	}
	return out
}

// wideCallList is the upstream calls of each round's wide burst.
func wideCallList(h *harness, x summary) ([]int64, bool) {
	if h.cfg.stampedeConns >= h.cfg.stampedeN {
		return nil, false
	}
	return x.WideCalls, true
}

func wideCalls(h *harness, x summary) string {
	if w, ok := wideCallList(h, x); ok {
		return joinInts(w)
	}
	return "-"
}

// fmtSigned writes a latency difference, negative ones too.
func fmtSigned(us float64) string {
	if us < 0 {
		return "-" + fmtUS(-us)
	}
	if us == 0 {
		return "0"
	}
	return "+" + fmtUS(us)
}

func fmtGrowth(e map[string]float64) string {
	v, ok := e["heap_growth_bytes"]
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%+.1f", v/(1<<20))
}

func fmtWebhook(e map[string]float64) string {
	if st, ok := e["revoke_status"]; ok && st != 0 {
		return fmt.Sprintf("%.0f (status %.0f)", e["revoke_non2xx"], st)
	}
	return fmt.Sprintf("%.0f", e["revoke_non2xx"])
}

func fmtCount(e map[string]float64, key string, applies bool) string {
	v, ok := e[key]
	if !applies || !ok {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

func sumInts(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

func allEqual(xs []int64, v int64) bool {
	for _, x := range xs {
		if x != v {
			return false
		}
	}
	return len(xs) > 0
}

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

// barsSection checks the bars against this run's figures.
func (h *harness) barsSection(s sums) string {
	var b strings.Builder
	b.WriteString("- Middleware hit vs bare handler (>= 0.95× req/s, p99 + 1 ms): measured by the in-process " +
		"benchmarks (`make bench-micro`), not by this harness.\n")
	hot := s["hot"]
	c, bb, e := hot["c"], hot["b"], hot["e"]
	if c.Rounds > 0 && bb.Rounds > 0 {
		rr, cr := ratio(c.RPS, bb.RPS), ratio(c.CPUPerReqUS, bb.CPUPerReqUS)
		fmt.Fprintf(&b, "- tokenguard proxy (c) vs plain proxy without auth (b), hot tokens: %s req/s (%.0f vs %.0f), "+
			"%s CPU/request (%.1f vs %.1f µs): %s.\n", fmtRatio(rr), c.RPS, bb.RPS, fmtRatio(cr), c.CPUPerReqUS,
			bb.CPUPerReqUS, verdict(rr >= 1 && cr <= 1))
		if e.Rounds > 0 {
			fmt.Fprintf(&b, "  Against nginx auth_request + proxy_cache (e): %s req/s (%.0f vs %.0f), %s CPU/request "+
				"(%.1f vs %.1f µs).\n", fmtRatio(ratio(c.RPS, e.RPS)), c.RPS, e.RPS,
				fmtRatio(ratio(c.CPUPerReqUS, e.CPUPerReqUS)), c.CPUPerReqUS, e.CPUPerReqUS)
		}
	} else {
		b.WriteString("- tokenguard proxy (c) vs plain proxy (b), hot tokens: not measured in this run.\n")
	}
	b.WriteString(engineBars(hot))
	for _, name := range []string{"stampede", "expiry"} {
		byID, ok := s[name]
		if !ok {
			continue
		}
		for _, id := range cachingSystems {
			x := byID[id]
			if x.Rounds == 0 {
				continue
			}
			added := x.Extra["added_p50_us"]
			latOK := added <= float64(h.cfg.latency.Microseconds())+1000
			calls := x.UpstreamCalls
			if wide, ok := wideCallList(h, x); ok {
				calls = append(wide, calls...)
			}
			fmt.Fprintf(&b, "- %s, (%s): upstream calls per burst %s (bar: 1): %s; waiters' added latency %s "+
				"(bar: <= %s + 1ms): %s; p99 %s (%s over the same burst once cached).\n",
				map[string]string{"stampede": "Stampede of a fresh token", "expiry": "Stampede at cache expiry"}[name],
				id, joinInts(calls), verdict(allEqual(calls, 1)), fmtSigned(added), h.cfg.latency, verdict(latOK),
				fmtUS(x.P99US), fmtSigned(x.Extra["added_p99_us"]))
		}
	}
	for _, id := range cachingSystems {
		x, ok := s["junk"][id]
		if !ok || x.Rounds == 0 {
			continue
		}
		calls := sumInts(x.UpstreamCalls)
		p99r := ratio(x.P99US, s["hot"][id].P99US)
		flood := "-"
		if a := s["junk"]["a"]; a.Rounds > 0 {
			flood = fmtRatio(ratio(a.P99US, s["hot"]["a"].P99US))
		}
		fmt.Fprintf(&b, "- Junk flood, (%s): %d upstream calls (bar: 0) %s; hot p99 %s = %s of its value without the flood "+
			"(bar: < 2×) %s (the upstream direct (a) under the same flood: %s, the load generator's own share); heap in use "+
			"%s MiB (%s MiB during the flood), %s positive and %s negative cache entries, gateway RSS %.1f MiB.\n",
			id, calls, verdict(calls == 0), fmtUS(x.P99US), fmtRatio(p99r), verdict(p99r < 2), flood,
			fmtNum(x.Extra["heap_inuse_bytes"]/(1<<20), 1), fmtGrowth(x.Extra), fmtCount(x.Extra, "positive_entries", true),
			fmtCount(x.Extra, "negative_entries", true), float64(x.RSSPeakKB)/1024)
	}
	for _, id := range cachingSystems {
		x, ok := s["revoke"][id]
		if !ok || x.Rounds == 0 {
			continue
		}
		adm := x.Extra["admitted_revoked"]
		fmt.Fprintf(&b, "- Revoke under load, (%s): %.0f admitted after revoke (bar: 0): %s", id, adm, verdict(adm == 0))
		if id == "e" {
			b.WriteString(" (nginx's proxy_cache keeps admitting a revoked token until its entry expires, and " +
				"tokenguard's webhook cannot reach that cache)")
		}
		b.WriteString(".\n")
	}
	return b.String()
}

// engineBars checks issue 13's bars for the fasthttp engine against nginx
// auth_request + proxy_cache (e) on hot tokens, and sets (d) beside (h).
func engineBars(hot map[string]summary) string {
	var b strings.Builder
	e, bb := hot["e"], hot["b"]
	if e.Rounds == 0 {
		return ""
	}
	vsE := func(id string) (rr, cr float64) {
		x := hot[id]
		return ratio(x.RPS, e.RPS), ratio(x.CPUPerReqUS, e.CPUPerReqUS)
	}
	if g := hot["g"]; g.Rounds > 0 {
		rr, cr := vsE("g")
		fmt.Fprintf(&b, "- tokenguard proxy --engine fasthttp (g) vs nginx auth_request + proxy_cache (e), hot tokens: "+
			"%s req/s (%.0f vs %.0f; bar >= 1.0×), %s CPU/request (%.1f vs %.1f µs; bar <= 1.0×): %s.\n",
			fmtRatio(rr), g.RPS, e.RPS, fmtRatio(cr), g.CPUPerReqUS, e.CPUPerReqUS, verdict(rr >= 1 && cr <= 1))
		if bb.Rounds > 0 {
			r := ratio(g.RPS, bb.RPS)
			fmt.Fprintf(&b, "  Against the plain proxy (b): %s req/s (bar >= 2×): %s.\n", fmtRatio(r), verdict(r >= 2))
		}
	}
	for _, id := range []string{"d", "h"} {
		x := hot[id]
		if x.Rounds == 0 {
			continue
		}
		rr, cr := vsE(id)
		fmt.Fprintf(&b, "- %s (%s) vs (e), hot tokens: %s req/s (%.0f vs %.0f), %s CPU/request (%.1f vs %.1f µs",
			specOf(id).Name, id, fmtRatio(rr), x.RPS, e.RPS, fmtRatio(cr), x.CPUPerReqUS, e.CPUPerReqUS)
		if split := splitOf(x); split != "" {
			b.WriteString("; " + split)
		}
		b.WriteString(")")
		if id == "h" {
			fmt.Fprintf(&b, " (bar: CPU <= 1.8×): %s", verdict(cr <= 1.8))
		}
		b.WriteString(".\n")
	}
	return b.String()
}

// splitPrograms are the programs whose CPU the report splits, in order.
var splitPrograms = []string{"tokenguard", "nginx", "redis-server"}

// splitOf writes a system's CPU per request by program ("tokenguard 20.1 µs
// (41%), nginx 29.0 µs (59%)"); "" when it runs one program.
func splitOf(x summary) string {
	var parts []string
	var total float64
	for _, p := range splitPrograms {
		total += x.Extra[cpuSplitKey(p)]
	}
	if total == 0 {
		return ""
	}
	for _, p := range splitPrograms {
		if v, ok := x.Extra[cpuSplitKey(p)]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f µs (%.0f%%)", p, v, 100*v/total))
		}
	}
	return strings.Join(parts, ", ")
}

// cpuSplitTable lists, for the systems of a scenario that run more than one
// program, each program's CPU per request: how much of (d) and (h) is
// tokenguard's and how much nginx's. "" when there is none.
func (h *harness) cpuSplitTable(name string, s sums) string {
	var rows [][]string
	for _, id := range h.cfg.only {
		x, ok := s[name][id]
		if !ok || x.Rounds == 0 {
			continue
		}
		if split := splitOf(x); split != "" {
			rows = append(rows, []string{"(" + id + ") " + shortName(id), fmtNum(x.CPUPerReqUS, 1), split})
		}
	}
	if len(rows) == 0 {
		return ""
	}
	return "\nCPU per request by program (medians across rounds; each program's share of their sum):\n\n" +
		mdTable([]string{"system", "CPU µs/req", "by program"}, rows)
}

// harnessCPUTable lists, for every system of a scenario, the harness
// process's CPU per request (the upstream application, the emulator) beside
// the system's: both share the machine's cores, so req/s depends on the sum.
// wrk's own CPU is in neither. "" when no run recorded it.
func (h *harness) harnessCPUTable(name string, s sums) string {
	var rows [][]string
	for _, id := range h.cfg.only {
		x, ok := s[name][id]
		if !ok || x.Rounds == 0 {
			continue
		}
		v, ok := x.Extra[harnessCPUKey]
		if !ok {
			continue
		}
		rows = append(rows, []string{"(" + id + ") " + shortName(id), fmtNum(x.CPUPerReqUS, 1), fmtNum(v, 1), fmtNum(x.CPUPerReqUS+v, 1)})
	}
	if len(rows) == 0 {
		return ""
	}
	return "\nCPU per request beside the system's: the harness process, which serves the upstream application (and " +
		"the emulator); medians across rounds; wrk's own CPU is in neither:\n\n" +
		mdTable([]string{"system", "system CPU µs/req", "harness CPU µs/req", "sum"}, rows)
}
