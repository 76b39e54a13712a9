package examples_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenguard/tokenguard/cache"
	"github.com/tokenguard/tokenguard/middleware"
	"github.com/tokenguard/tokenguard/verifier"
)

// exported gathers the metrics of a cache and a middleware: every metric
// tokenguard exports, with every label value (they are all resolved at
// construction), keyed by name, then label, then value.
func exported(t *testing.T) map[string]map[string][]string {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := cache.New(verifier.VerifierFunc(refuseAll), cache.Options{Registerer: reg})
	middleware.New(c, middleware.WithRegisterer(reg))
	mfs, err := reg.Gather()
	require.NoError(t, err)

	out := map[string]map[string][]string{}
	add := func(name string, labels []*dto.LabelPair) {
		if out[name] == nil {
			out[name] = map[string][]string{}
		}
		for _, l := range labels {
			if !slices.Contains(out[name][l.GetName()], l.GetValue()) {
				out[name][l.GetName()] = append(out[name][l.GetName()], l.GetValue())
			}
		}
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetType() != dto.MetricType_HISTOGRAM {
				add(mf.GetName(), m.GetLabel())
				continue
			}
			add(mf.GetName()+"_sum", m.GetLabel())
			add(mf.GetName()+"_count", m.GetLabel())
			add(mf.GetName()+"_bucket", append(slices.Clone(m.GetLabel()), &dto.LabelPair{Name: new("le")}))
			add(mf.GetName(), nil) // the family, for the coverage check
		}
	}
	return out
}

var (
	metricRe  = regexp.MustCompile(`\b(tokenguard_[a-z0-9_]+)(\{[^}]*\})?`)
	matcherRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	byRe      = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	plainRe   = regexp.MustCompile(`^[a-z_]+$`)
)

// promLabels are added by Prometheus when it scrapes, not by tokenguard.
var promLabels = []string{"job", "instance"}

// dashboard is what the test reads of dashboard.json.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name, Type string
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct{ X, W int }
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// TestGrafanaDashboard checks that the dashboard is valid JSON with a data
// source variable, and that its queries name only metrics, labels and label
// values tokenguard exports, and every one of its metrics.
func TestGrafanaDashboard(t *testing.T) {
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(readFile(t, "grafana", "dashboard.json")))
	require.NoError(t, dec.Decode(&d), "dashboard.json")
	require.NotEmpty(t, d.Title)
	require.NotEmpty(t, d.UID)

	var dsVar bool
	type query struct{ where, expr string }
	var queries []query
	for _, v := range d.Templating.List {
		dsVar = dsVar || (v.Type == "datasource" && v.Name == "datasource" && string(v.Query) == `"prometheus"`)
		if v.Type == "query" {
			queries = append(queries, query{"variable " + v.Name, string(v.Query)})
		}
	}
	require.True(t, dsVar, `a "datasource" variable of type datasource over prometheus`)

	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			assert.False(t, ids[p.ID], "panel id %d used twice", p.ID)
			ids[p.ID] = true
			assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "panel %q is wider than the grid", p.Title)
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			assert.JSONEq(t, `{"type":"prometheus","uid":"${datasource}"}`, string(p.Datasource), "panel %q data source", p.Title)
			require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
			for _, tg := range p.Targets {
				assert.JSONEq(t, `{"type":"prometheus","uid":"${datasource}"}`, string(tg.Datasource), "panel %q query data source", p.Title)
				queries = append(queries, query{"panel " + p.Title, tg.Expr})
			}
		}
	}
	walk(d.Panels)

	known := exported(t)
	used := map[string]bool{}
	for _, q := range queries {
		expr := q.expr
		t.Run(q.where, func(t *testing.T) {
			labels := map[string]bool{}
			for _, m := range metricRe.FindAllStringSubmatch(expr, -1) {
				name, selector := m[1], m[2]
				mlabels, ok := known[name]
				if !assert.True(t, ok, "%s: no metric %s", expr, name) {
					continue
				}
				used[name] = true
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
				for l := range mlabels {
					labels[l] = true
				}
				for _, mm := range matcherRe.FindAllStringSubmatch(selector, -1) {
					label, op, value := mm[1], mm[2], mm[3]
					if slices.Contains(promLabels, label) {
						continue
					}
					values, ok := mlabels[label]
					if !assert.True(t, ok, "%s: %s has no label %s", expr, name, label) {
						continue
					}
					alts := []string{value}
					if op == "=~" || op == "!~" {
						alts = strings.Split(value, "|")
					}
					for _, a := range alts {
						if assert.Regexp(t, plainRe, a, "%s: keep label matchers to plain values", expr) {
							assert.Contains(t, values, a, "%s: %s{%s} has no value %q", expr, name, label, a)
						}
					}
				}
			}
			for _, m := range byRe.FindAllStringSubmatch(expr, -1) {
				for l := range strings.SplitSeq(m[1], ",") {
					l = strings.TrimSpace(l)
					assert.True(t, labels[l] || slices.Contains(promLabels, l), "%s: grouping by %q, which its metrics lack", expr, l)
				}
			}
		})
	}
	for name := range known {
		if !strings.HasSuffix(name, "_bucket") && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") {
			assert.True(t, used[name], "no panel shows %s", name)
		}
	}
}
