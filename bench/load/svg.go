package main

import (
	"encoding/xml"
	"fmt"
	"math"
	"strings"
)

// latencyPanel is one scenario's latency percentiles, one group per system.
type latencyPanel struct {
	Title  string
	Labels []string     // one per system
	Values [][4]float64 // p50, p90, p99, max in microseconds, per system
}

const (
	svgWidth   = 960
	panelH     = 250
	plotLeft   = 80.0
	plotRight  = 940.0
	plotTop    = 36.0 // within a panel
	plotBottom = 200.0
	legendH    = 40
)

var (
	seriesNames  = [3]string{"p50", "p90", "p99"}
	seriesColors = [3]string{"#4c78a8", "#f58518", "#e45756"}
)

// latencySVG draws grouped bars of p50/p90/p99 per system on a log scale,
// with the maximum as a tick above, one panel per scenario.
func latencySVG(panels []latencyPanel) string {
	var b strings.Builder
	h := legendH + panelH*max(len(panels), 1)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, h, svgWidth, h)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="white"/>`+"\n", svgWidth, h)
	b.WriteString(`<text x="10" y="22" font-size="15" font-weight="bold">Latency percentiles per system (log scale)</text>` + "\n")
	for i, name := range seriesNames {
		x := 520 + i*90
		fmt.Fprintf(&b, `<rect x="%d" y="11" width="12" height="12" fill="%s"/><text x="%d" y="22">%s</text>`+"\n",
			x, seriesColors[i], x+16, name)
	}
	fmt.Fprintf(&b, `<line x1="790" y1="17" x2="806" y2="17" stroke="black" stroke-width="2"/><text x="810" y="22">max</text>`+"\n")
	if len(panels) == 0 {
		fmt.Fprintf(&b, `<text x="10" y="%d">no latency figures in this run</text>`+"\n", legendH+30)
	}
	for i, p := range panels {
		drawPanel(&b, p, float64(legendH+i*panelH))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// logRange is the decades spanning every positive value: [10^lo, 10^hi].
func logRange(p latencyPanel) (lo, hi float64) {
	mn, mx := math.Inf(1), 0.0
	for _, v := range p.Values {
		for _, x := range v {
			if x > 0 {
				mn, mx = math.Min(mn, x), math.Max(mx, x)
			}
		}
	}
	if mx == 0 {
		return 1, 4
	}
	lo, hi = math.Floor(math.Log10(mn)), math.Ceil(math.Log10(mx))
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

func drawPanel(b *strings.Builder, p latencyPanel, y0 float64) {
	lo, hi := logRange(p)
	yOf := func(us float64) float64 {
		if us <= 0 {
			return y0 + plotBottom
		}
		f := (math.Log10(us) - lo) / (hi - lo)
		return y0 + plotBottom - f*(plotBottom-plotTop)
	}
	fmt.Fprintf(b, `<text x="10" y="%.1f" font-size="14" font-weight="bold">%s</text>`+"\n", y0+20, esc(p.Title))
	for d := lo; d <= hi; d++ {
		y := yOf(math.Pow(10, d))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", plotLeft, y, plotRight, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, y+4, decadeLabel(int(d)))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n",
		plotLeft, y0+plotBottom, plotRight, y0+plotBottom)
	n := len(p.Labels)
	if n == 0 {
		return
	}
	groupW := (plotRight - plotLeft) / float64(n)
	barW := math.Min(groupW*0.22, 40)
	for i, label := range p.Labels {
		gx := plotLeft + groupW*float64(i) + (groupW-3*barW)/2
		v := p.Values[i]
		for k := range 3 {
			top := yOf(v[k])
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				gx+float64(k)*barW, top, barW-2, y0+plotBottom-top, seriesColors[k], esc(label), seriesNames[k], esc(fmtUS(v[k])))
		}
		if v[3] > 0 {
			my := yOf(v[3])
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="2"><title>%s max: %s</title></line>`+"\n",
				gx, my, gx+3*barW-2, my, esc(label), esc(fmtUS(v[3])))
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
			gx+1.5*barW, y0+plotBottom+16, esc(label))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">p99 %s</text>`+"\n",
			gx+1.5*barW, y0+plotBottom+31, esc(fmtUS(v[2])))
	}
}

// decadeLabel names 10^d microseconds: 1µs, 10µs, ..., 1ms, ..., 1s, 10s.
func decadeLabel(d int) string {
	units := []string{"µs", "ms", "s"}
	u := min(max(d/3, 0), len(units)-1)
	return fmt.Sprintf("%g%s", math.Pow(10, float64(d-3*u)), units[u])
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
