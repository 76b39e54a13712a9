package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Kinds of work a gateway's CPU samples are sorted into, in report order.
var categoryOrder = []string{
	"kernel: TCP, syscalls, scheduling",
	"Go GC",
	"Go allocation",
	"Go scheduler, channels, locks",
	"Go runtime: maps, hashing, memmove, other",
	"net/http, net, bufio, io",
	"fasthttp",
	"other Go std library",
	"tokenguard: cache",
	"tokenguard: middleware",
	"tokenguard: internal/gateway",
	"tokenguard: other",
	"nginx",
	"nginx: proxy_cache",
	"libc",
	"other",
}

// categorize sums `perf report --sort comm,sym` lines into categoryOrder.
func categorize(report string) map[string]float64 {
	out := map[string]float64{}
	for line := range strings.SplitSeq(report, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasSuffix(f[0], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		marker := slices.IndexFunc(f, func(s string) bool { return s == "[k]" || s == "[.]" })
		if marker < 2 || marker == len(f)-1 {
			continue
		}
		out[category(f[1], f[marker] == "[k]", strings.Join(f[marker+1:], " "))] += pct
	}
	return out
}

func hasAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// category names the kind of work symbol sym of process comm does.
func category(comm string, kernel bool, sym string) string {
	const tg = "github.com/tokenguard/tokenguard/"
	switch {
	case kernel:
		return categoryOrder[0]
	case strings.HasPrefix(sym, tg):
		pkg := strings.TrimPrefix(sym, tg)
		switch {
		case strings.HasPrefix(pkg, "cache."):
			return "tokenguard: cache"
		case strings.HasPrefix(pkg, "middleware."):
			return "tokenguard: middleware"
		case strings.HasPrefix(pkg, "internal/gateway."):
			return "tokenguard: internal/gateway"
		}
		return "tokenguard: other"
	case strings.HasPrefix(sym, "github.com/valyala/fasthttp"):
		return "fasthttp"
	case strings.HasPrefix(sym, "ngx_http_file_cache"):
		return "nginx: proxy_cache"
	case strings.HasPrefix(sym, "ngx_"), strings.HasPrefix(comm, "nginx") && strings.HasPrefix(sym, "0x"):
		return "nginx"
	case strings.HasPrefix(sym, "runtime.") || strings.HasPrefix(sym, "internal/runtime/") ||
		hasAny(sym, "gcWriteBarrier", "aeshash", "memeqbody", "indexbytebody", "cmpbody"):
		switch {
		case hasAny(sym, "malloc", "newobject", "makeslice", "growslice", "memclr", "nextFreeFast", "refill",
			"mcache", "mcentral", "allocSpan", "newarray", "makemap", "rawstring", "slicebytetostring",
			"concatstring", "makechan", "writeHeapBits"):
			return "Go allocation"
		case hasAny(sym, "gc", "GC", "scan", "Scan", "mark", "Mark", "sweep", "Sweep", "wbBuf", "greyobject",
			"findObject", "spanOf", "heapBits", "bgsweep", "SpanInlineMarkBits", "moveInlineMarks", "tryDefer"):
			return "Go GC"
		case hasAny(sym, "select", "chan", "gopark", "goready", "schedule", "findRunnable", "netpoll", "futex",
			"lock", "Lock", "casgstatus", "runq", "mcall", "park_m", "gogo", "Sudog", "steal", "wakep", "ready",
			"notesleep", "notewakeup", "semacquire", "semrelease", "nanotime", "usleep", "osyield", "procyield",
			"entersyscall", "exitsyscall", "goexit", "newproc", "gfget", "gfput", "resetspinning", "startm", "stopm"):
			return "Go scheduler, channels, locks"
		}
		return "Go runtime: maps, hashing, memmove, other"
	case hasAny(sym, "net/http.", "net/textproto.", "bufio.", "net.", "internal/poll.", "syscall.", "io.", "net/url."):
		return "net/http, net, bufio, io"
	case strings.HasPrefix(sym, "0x") || strings.HasPrefix(sym, "__") || strings.HasPrefix(sym, "_int_") ||
		hasAny(sym, "malloc", "free", "memcpy", "memset", "memmove"):
		if strings.HasPrefix(comm, "nginx") {
			return "libc"
		}
		return "other"
	case strings.Contains(sym, "."):
		return "other Go std library"
	}
	return "other"
}

// profileSection renders the profiles: CPU per request by kind of work,
// scaled by each system's hot-token CPU per request, then the top symbols.
func profileSection(prs []profileResult, hot map[string]summary) string {
	if len(prs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Where the time goes (hot tokens)\n\nOne extra hot-token run per system right after the " +
		"\"Hot tokens\" scenario, sampled with perf (user and kernel time of every process of the system); not part of " +
		"the figures above. Each kind of work's share of the samples is scaled by the system's hot-token CPU per request.\n\n")
	head := []string{"kind of work"}
	var cols []profileResult
	for _, pr := range prs {
		if pr.Err == "" && len(pr.Categories) > 0 {
			cols = append(cols, pr)
			head = append(head, fmt.Sprintf("(%s) %s µs/req (share)", pr.System, shortName(pr.System)))
		}
	}
	var rows [][]string
	for _, cat := range categoryOrder {
		row, any := []string{cat}, false
		for _, pr := range cols {
			share := pr.Categories[cat]
			if share < 0.05 {
				row = append(row, "-")
				continue
			}
			any = true
			row = append(row, fmt.Sprintf("%.1f (%.0f%%)", share/100*hot[pr.System].CPUPerReqUS, share))
		}
		if any {
			rows = append(rows, row)
		}
	}
	if len(cols) > 0 {
		total := []string{"**total**"}
		for _, pr := range cols {
			total = append(total, fmt.Sprintf("**%.1f**", hot[pr.System].CPUPerReqUS))
		}
		b.WriteString(mdTable(head, append(rows, total)))
	}
	for _, pr := range prs {
		fmt.Fprintf(&b, "\n### (%s) %s, %s\n\n", pr.System, shortName(pr.System), pr.Tool)
		if pr.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", mdEscape(pr.Note))
		}
		if pr.Err != "" {
			fmt.Fprintf(&b, "Failed: %s\n", mdEscape(pr.Err))
			continue
		}
		fmt.Fprintf(&b, "Heaviest symbols (full list: %s):\n\n```\n%s\n```\n", pr.File, strings.Join(pr.Top, "\n"))
	}
	return b.String()
}
