package main

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// svgElements decodes doc as XML and counts its start elements by name.
func svgElements(t *testing.T, doc string) map[string]int {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	counts := map[string]int{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return counts
		}
		require.NoError(t, err, "latency.svg must be well-formed XML")
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
}

func TestLatencySVG(t *testing.T) {
	panels := []latencyPanel{
		{Title: "Hot tokens", Labels: []string{"(a) direct", "(c) tokenguard"},
			Values: [][4]float64{{800, 1500, 4000, 9000}, {1200, 2500, 7000, 20000}}},
		{Title: `Stampede <1,000> & "friends"`, Labels: []string{"(e) nginx <cache>"},
			Values: [][4]float64{{500_000, 510_000, 520_000, 0}}},
	}
	doc := latencySVG(panels)
	el := svgElements(t, doc)
	assert.Equal(t, 1, el["svg"])
	// background + 3 legend swatches + 3 bars per system (3 systems).
	assert.Equal(t, 1+3+3*3, el["rect"])
	assert.Contains(t, doc, "Stampede &lt;1,000&gt; &amp;", "titles are escaped")
	assert.Contains(t, doc, "(c) tokenguard p99: 7.00ms")
	assert.Contains(t, doc, "(a) direct max: 9.00ms")
	assert.NotContains(t, doc, "(e) nginx &lt;cache&gt; max", "no max tick without a max")
	assert.NotContains(t, doc, "NaN")
	assert.NotContains(t, doc, "Inf")
}

func TestLatencySVGEmpty(t *testing.T) {
	doc := latencySVG(nil)
	svgElements(t, doc)
	assert.Contains(t, doc, "no latency figures")
}

func TestLogRange(t *testing.T) {
	tests := []struct {
		name   string
		values [][4]float64
		lo, hi float64
	}{
		{"spans decades", [][4]float64{{150, 900, 2500, 0}}, 2, 4},
		{"exact power still gets a decade", [][4]float64{{100, 100, 100, 100}}, 2, 3},
		{"no figures", [][4]float64{{0, 0, 0, 0}}, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := logRange(latencyPanel{Values: tt.values})
			assert.Equal(t, [2]float64{tt.lo, tt.hi}, [2]float64{lo, hi})
		})
	}
}

func TestDecadeLabel(t *testing.T) {
	for d, want := range []string{"1µs", "10µs", "100µs", "1ms", "10ms", "100ms", "1s", "10s", "100s", "1000s"} {
		assert.Equal(t, want, decadeLabel(d))
	}
}
