package conformance

import (
	"encoding/json"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is the JSON document (results.json) and the HTML page's model.
type Report struct {
	Left       string       `json:"left"`
	Right      string       `json:"right"`
	Started    time.Time    `json:"started"`
	Cases      int          `json:"cases"`
	Passed     int          `json:"passed"`
	Failed     int          `json:"failed"`
	Excepted   int          `json:"excepted"`
	Exceptions []Exception  `json:"exceptions"`
	Unused     []Exception  `json:"unused_exceptions,omitempty"`
	Results    []CaseResult `json:"results"`
}

// NewReport summarises a result.
func NewReport(res *Result, exc []Exception) *Report {
	p, f, e := res.Counts()
	return &Report{Left: res.Left, Right: res.Right, Started: res.Started, Cases: len(res.Cases),
		Passed: p, Failed: f, Excepted: e, Exceptions: exc, Unused: res.Unused, Results: res.Cases}
}

// Write puts <name>.json and <name>.html into dir.
func (r *Report) Write(dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, name+".html"))
	if err != nil {
		return err
	}
	if err := page.Execute(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sideText(n Normalised) string {
	var b strings.Builder
	if n.Err != "" {
		b.WriteString("error: " + n.Err + "\n")
	}
	b.WriteString(n.StatusLine + "\n")
	for _, k := range unionKeys(n.Headers, nil) {
		b.WriteString(k + ": " + n.Headers[k] + "\n")
	}
	if n.Body != "" {
		b.WriteString("\n" + n.Body)
		if !strings.HasSuffix(n.Body, "\n") {
			b.WriteString("\n")
		}
	}
	if r := n.Received; r != nil {
		b.WriteString("\n— upstream received —\n" + r.Method + " " + r.Path + query(r.Query) + "\nHost: " + r.Host + "\n")
		for _, k := range unionKeys(r.Headers, nil) {
			b.WriteString(k + ": " + r.Headers[k] + "\n")
		}
	}
	b.WriteString("\n— tries " + itoa(n.Tries) + ", " + itoa(n.ElapsedMS) + " ms —\n")
	for _, l := range n.ErrorLog {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func query(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

var page = template.Must(template.New("conformance").Funcs(template.FuncMap{
	"side": sideText,
	"date": func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>chaoslab conformance — {{.Passed}} of {{.Cases}} match, {{.Failed}} differ</title>
<style>
:root { --ok:#2e9d5b; --bad:#c0392b; --exc:#b9770e; --ink:#1c2833; --muted:#5d6d7e; --line:#d5d8dc; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 0; background: #f6f7f9; }
header { background: #1c2833; color: #fff; padding: 18px 28px; } header h1 { margin: 0 0 4px; font-size: 20px; }
header .meta { color: #aeb6bf; font-size: 13px; } main { padding: 18px 28px 60px; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 10px; color: #fff; font-weight: 600; font-size: 12px; }
.passed { background: var(--ok); } .failed { background: var(--bad); } .excepted { background: var(--exc); }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 8px 0 16px; }
th, td { text-align: left; padding: 6px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef0f3; } td.side { width: 50%; }
pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; background: #f4f6f7; padding: 8px; white-space: pre-wrap; word-break: break-all; margin: 0; }
.diff { color: var(--bad); font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; }
.exc { color: var(--exc); font-size: 12.5px; } details { margin: 4px 0; } summary { cursor: pointer; }
</style></head><body>
<header><h1>Kong conformance: {{.Left}} vs {{.Right}}</h1>
<div class="meta">{{date .Started}} · {{.Cases}} cases ·
<span class="pill passed">{{.Passed}} match</span> <span class="pill failed">{{.Failed}} differ</span>
<span class="pill excepted">{{.Excepted}} match only with an exception</span></div></header>
<main>
<h2>Exceptions (exceptions.yaml)</h2>
<table><tr><th>case</th><th>aspect</th><th>what</th><th>reason</th></tr>
{{range .Exceptions}}<tr><td><code>{{.Case}}</code></td><td>{{.Aspect}}</td><td>{{.What}}</td><td>{{.Reason}}</td></tr>
{{else}}<tr><td colspan="4">none</td></tr>{{end}}</table>
{{if .Unused}}<p class="diff">Exceptions no difference needed: {{range .Unused}}{{.Case}}/{{.Aspect}} {{end}}</p>{{end}}
<h2>Cases</h2>
<table><tr><th>case</th><th>request</th><th>{{.Left}}</th><th>{{.Right}}</th></tr>
{{range .Results}}<tr id="{{.Name}}"><td><code>{{.Name}}</code><br>
{{if not .Passed}}<span class="pill failed">differs</span>{{else if .Excepted}}<span class="pill excepted">exception</span>{{else}}<span class="pill passed">match</span>{{end}}
{{range .Diffs}}<div class="diff">{{.Aspect}} {{.What}}</div>{{end}}
{{range .LeftExpect}}<div class="diff">left vs facts: {{.What}} want {{.Left}}</div>{{end}}
{{range .RightExpect}}<div class="diff">right vs facts: {{.What}} want {{.Left}}</div>{{end}}
{{range .Excepted}}<div class="exc">{{.Diff.Aspect}} {{.Diff.What}}: {{.Reason}}</div>{{end}}</td>
<td><code>{{.Request}}</code></td>
<td class="side"><details{{if not .Passed}} open{{end}}><summary>{{.Left.StatusLine}}</summary><pre>{{side .Left}}</pre></details></td>
<td class="side"><details{{if not .Passed}} open{{end}}><summary>{{.Right.StatusLine}}</summary><pre>{{side .Right}}</pre></details></td></tr>
{{end}}</table>
</main></body></html>
`))
