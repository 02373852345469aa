package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var reportTmpl string

type scenarioView struct {
	*Scenario
	Anchor   string
	Latency  template.HTML
	Outcomes template.HTML
	Extra    []template.HTML
	Faults   []string
}

type runView struct {
	*Run
	Passed, Failed, Skipped int
	Views                   []scenarioView
	Generated               string
}

var funcs = template.FuncMap{
	"dur": func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"ts":  func(t time.Time) string { return t.Format("15:04:05.000") },
	"date": func(t time.Time) string {
		return t.Format("2006-01-02 15:04:05 MST")
	},
	"pct": func(n, total int) string {
		if total == 0 {
			return "0%"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
	},
	"ms":     func(v float64) string { return fmt.Sprintf("%.1f ms", v) },
	"num":    func(v float64) string { return fmtNum(v) },
	"sorted": sortedOutcomes,
	"lines":  paragraphs,
}

// paragraphs splits a story or a lesson at its blank lines: each part is
// one <p>.
func paragraphs(s string) []string { return strings.Split(strings.TrimSpace(s), "\n\n") }

type outcomeCount struct {
	Outcome string
	Count   int
}

func sortedOutcomes(m map[string]int) []outcomeCount {
	out := make([]outcomeCount, 0, len(m))
	for k, v := range m {
		out = append(out, outcomeCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// WriteHTML renders the run as one self-contained HTML file.
func (r *Run) WriteHTML(w io.Writer) error {
	t, err := template.New("report").Funcs(funcs).Parse(reportTmpl)
	if err != nil {
		return err
	}
	v := runView{Run: r, Generated: time.Now().Format(time.RFC3339)}
	v.Passed, v.Failed, v.Skipped = r.Counts()
	for _, s := range r.Scenarios {
		v.Views = append(v.Views, view(s))
	}
	return t.Execute(w, v)
}

// WriteHTMLFile writes the report to path.
func (r *Run) WriteHTMLFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WriteHTML(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func anchor(id string) string { return "s-" + strings.NewReplacer("/", "-", " ", "-").Replace(id) }

func view(s *Scenario) scenarioView {
	v := scenarioView{Scenario: s, Anchor: anchor(s.ID)}
	origin := s.StartedAt
	end := secs(origin.Add(s.Duration), origin)
	var phases []window
	for _, p := range s.Phases {
		phases = append(phases, window{from: secs(p.StartedAt, origin), label: p.Name})
	}
	windows := faultWindows(s.Timeline, origin, end)
	for _, w := range windows {
		v.Faults = append(v.Faults, fmt.Sprintf("%.1fs – %.1fs %s", w.from, w.to, w.label))
	}
	p50 := line{name: "p50", color: "#2471a3"}
	p95 := line{name: "p95", color: "#d68910"}
	p99 := line{name: "p99", color: "#c0392b"}
	var bars []barBucket
	for _, p := range s.Phases {
		for _, l := range p.Loads {
			for _, b := range l.Buckets {
				if b.Requests == 0 {
					continue
				}
				x := secs(b.Start, origin) + 0.5
				p50.xs, p50.ys = append(p50.xs, x), append(p50.ys, b.P50)
				p95.xs, p95.ys = append(p95.xs, x), append(p95.ys, b.P95)
				p99.xs, p99.ys = append(p99.xs, x), append(p99.ys, b.P99)
				bars = append(bars, barBucket{x: secs(b.Start, origin), w: 1, outcomes: b.Outcomes})
			}
			for _, l := range []*line{&p50, &p95, &p99} {
				l.xs, l.ys = append(l.xs, math.NaN()), append(l.ys, math.NaN())
			}
		}
	}
	if len(p50.xs) > 0 {
		v.Latency = lineChart([]line{p50, p95, p99}, "ms", windows, phases, end)
		v.Outcomes = barChart(bars, windows, phases, end)
	}
	// Generic series with the same name across phases join into one chart.
	byName := map[string]*line{}
	var order []string
	units := map[string]string{}
	for _, p := range s.Phases {
		for _, sr := range p.Series {
			l, ok := byName[sr.Name]
			if !ok {
				l = &line{name: sr.Name, color: "#16a085"}
				byName[sr.Name] = l
				order = append(order, sr.Name)
				units[sr.Name] = sr.Unit
			}
			for _, pt := range sr.Points {
				l.xs, l.ys = append(l.xs, secs(pt.Time, origin)), append(l.ys, pt.Value)
			}
		}
	}
	for _, n := range order {
		v.Extra = append(v.Extra, lineChart([]line{*byName[n]}, units[n], windows, phases, end))
	}
	return v
}

// faultWindows pairs fault-applied with the next fault-removed of the same
// component and detail; a fault never removed lasts to the end.
func faultWindows(events []Event, origin time.Time, end float64) []window {
	open := map[string]int{}
	var ws []window
	for _, e := range events {
		key := e.Component + "|" + e.Detail
		switch e.Kind {
		case "fault-applied":
			open[key] = len(ws)
			ws = append(ws, window{from: secs(e.Time, origin), to: end, label: e.Component + ": " + e.Detail})
		case "fault-removed":
			if i, ok := open[key]; ok {
				ws[i].to = secs(e.Time, origin)
				delete(open, key)
			}
		}
	}
	return ws
}
