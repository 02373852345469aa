package drill

import (
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/reports"
	"github.com/chaoslab/chaoslab/scenarios"
)

// Debrief is the summary a passing check earns: time to resolve, hints
// used, the cause and lesson, and the commands that find it fastest.
type Debrief struct {
	ID         string                   `json:"id"`
	Title      string                   `json:"title"`
	Ticket     string                   `json:"ticket"`
	Story      string                   `json:"story"`
	Lesson     string                   `json:"lesson"`
	Fixes      []string                 `json:"fixes"`
	Fastest    []string                 `json:"fastest"`
	TimeToFix  time.Duration            `json:"time_to_resolve_ns"`
	HintsUsed  int                      `json:"hints_used"`
	HintsTotal int                      `json:"hints_total"`
	Checks     int                      `json:"checks"`
	ResolvedAt time.Time                `json:"resolved_at"`
	Passing    *scenarios.CheckResult   `json:"passing"`
	Failed     []*scenarios.CheckResult `json:"failed_checks,omitempty"`
	HTML       string                   `json:"html,omitempty"` // in the drill's directory
	Kept       string                   `json:"kept,omitempty"` // where it is kept after stop
	HTMLError  string                   `json:"html_error,omitempty"`
}

func newDebrief(p paths, e scenarios.DrillEntry, st Status, pass *scenarios.CheckResult, fails []*scenarios.CheckResult) *Debrief {
	var addrs []scenarios.Address
	if st.Briefing != nil {
		addrs = st.Briefing.Addresses
	}
	exp := func(s string) string { return scenarios.Expand(s, addrs) }
	fastest := e.Drill.Fastest
	var out []string
	for _, c := range fastest {
		out = append(out, exp(c))
	}
	var fixes []string
	for _, f := range e.Drill.Fixes {
		fixes = append(fixes, exp(f))
	}
	d := &Debrief{ID: e.ID, Title: e.Title, Ticket: e.Drill.Ticket, Story: e.Story, Lesson: e.Lesson, Fixes: fixes,
		Fastest: out, TimeToFix: st.ResolvedAt.Sub(st.BriefedAt).Round(time.Second), HintsUsed: st.HintsUsed,
		HintsTotal: st.HintsTotal, Checks: st.Checks, ResolvedAt: st.ResolvedAt, Passing: pass,
		Failed: append([]*scenarios.CheckResult(nil), fails...)}
	d.Kept = filepath.Join(p.debriefs(), d.FileName())
	return d
}

// FileName is the debrief's name under debriefs/ once the drill stopped.
func (d *Debrief) FileName() string {
	return strings.ReplaceAll(d.ID, "/", "-") + "-" + d.ResolvedAt.UTC().Format("20060102T150405Z") + ".html"
}

// WriteText is the terminal debrief.
func (d *Debrief) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nDebrief: %s — %s\n", d.ID, d.Title)
	fmt.Fprintf(w, "  resolved in %s, %d of %d hints, %d check(s)\n", d.TimeToFix, d.HintsUsed, d.HintsTotal, d.Checks)
	fmt.Fprintf(w, "  what happened: %s\n", firstParagraph(d.Story))
	fmt.Fprintf(w, "  the lesson: %s\n", firstParagraph(d.Lesson))
	fmt.Fprintln(w, "  accepted fixes:")
	for _, f := range d.Fixes {
		fmt.Fprintf(w, "    - %s\n", f)
	}
	if len(d.Fastest) > 0 {
		fmt.Fprintln(w, "  what finds it fastest:")
		for _, c := range d.Fastest {
			fmt.Fprintf(w, "    %s\n", c)
		}
	}
	if d.HTML != "" {
		fmt.Fprintf(w, "  debrief page: %s (kept at %s after chaoslab drill stop)\n", d.HTML, d.Kept)
	}
}

func firstParagraph(s string) string { p, _, _ := strings.Cut(s, "\n\n"); return p }

var debriefTmpl = template.Must(template.New("debrief").Funcs(template.FuncMap{
	"paras": func(s string) []string { return strings.Split(s, "\n\n") },
	"style": func() template.CSS { return template.CSS(reports.Style()) },
	"dur":   func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"date":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chaoslab drill debrief — {{.ID}}</title>
<style>{{style}}</style>
</head>
<body>
<header>
  <h1>chaoslab drill debrief</h1>
  <div class="meta">{{date .ResolvedAt}} · <span class="pill passed">resolved</span> in <b>{{.TimeToFix}}</b> · {{.HintsUsed}} of {{.HintsTotal}} hints · {{.Checks}} check(s)</div>
</header>
<main>
<section class="scenario">
<h2><code>{{.ID}}</code> <span class="pill passed">passed</span></h2>
<div class="muted">{{.Title}}</div>
<h3>The ticket</h3><p>{{.Ticket}}</p>
<h3>What happened</h3>{{range paras .Story}}<p>{{.}}</p>{{end}}
<h3>The lesson</h3><div class="lesson">{{range paras .Lesson}}<p>{{.}}</p>{{end}}</div>
<h3>Accepted fixes</h3><ul>{{range .Fixes}}<li>{{.}}</li>{{end}}</ul>
{{if .Fastest}}<h3>What finds it fastest</h3><pre>{{range .Fastest}}{{.}}
{{end}}</pre>{{end}}
<h3>The passing check (recovery assertions against the live lab)</h3>
{{template "assertions" .Passing}}
{{range .Failed}}<details><summary>check {{.N}}: failed</summary><div class="reason">{{.Reason}}</div>{{template "assertions" .}}</details>
{{end}}
</section>
</main>
</body>
</html>
{{define "assertions"}}<table>
<tr><th>Assertion</th><th>Expected</th><th>Measured</th><th></th></tr>
{{range .Assertions}}<tr><td>{{.Description}}</td><td>{{.Expected}}</td><td>{{.Measured}}</td>{{if .Passed}}<td class="ok">ok</td>{{else}}<td class="bad">failed</td>{{end}}</tr>
{{end}}</table>{{end}}`))

func (d *Debrief) writeHTML(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := debriefTmpl.Execute(f, d); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
