package conformance

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Aspect names, as used in exceptions.yaml and the report.
const (
	AspectStatus   = "status"
	AspectReason   = "reason" // same code, another reason phrase
	AspectBody     = "body"
	AspectHeaders  = "headers"
	AspectUpstream = "upstream"
	AspectTries    = "tries"
	AspectErrorLog = "errorlog"
	AspectTiming   = "timing"
	AspectExpect   = "expect"
)

// Diff is one aspect on which the two sides disagree.
type Diff struct {
	Aspect string `json:"aspect"`
	What   string `json:"what"` // header name, JSON field, ...
	Left   string `json:"left"` // real Kong (or the reference side)
	Right  string `json:"right"`
}

func (d Diff) String() string {
	w := d.Aspect
	if d.What != "" {
		w += " " + d.What
	}
	return fmt.Sprintf("%s: real %q, emulation %q", w, d.Left, d.Right)
}

// Normalised is one side's observation after normalisation: what the
// report shows and what is compared.
type Normalised struct {
	StatusLine string            `json:"status_line"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       string            `json:"body,omitempty"`
	Received   *Received         `json:"received,omitempty"`
	Tries      int64             `json:"tries"`
	ErrorLog   []string          `json:"error_log,omitempty"`
	ElapsedMS  int64             `json:"elapsed_ms"`
	Err        string            `json:"error,omitempty"`
	json       any
}

// Normalise applies n to o for case c.
func Normalise(c Case, o Observation, n *Normaliser) Normalised {
	r := Normalised{StatusLine: o.StatusLine, Headers: n.Headers(o.Headers), Body: n.String(o.Body),
		Tries: o.Tries, ErrorLog: n.Log(o.ErrorLog), ElapsedMS: o.Elapsed.Milliseconds(), Err: o.Err}
	if o.Received != nil {
		rc := *o.Received
		rc.Host = n.String(rc.Host)
		rc.Headers = n.Headers(rc.Headers)
		r.Received = &rc
	}
	if c.Admin || len(c.Compare.JSONFields) > 0 {
		r.json = n.JSON(o.Body)
		if r.json != nil {
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			_ = enc.Encode(selectFields(r.json, c.Compare.JSONFields))
			r.Body = b.String()
		}
	}
	return r
}

func selectFields(v any, fields []string) any {
	if len(fields) == 0 {
		return v
	}
	m := map[string]any{}
	for _, f := range fields {
		m[f] = Field(v, f)
	}
	return m
}

// Diffs lists every difference between the real (left) and emulated
// (right) answers to case c. No difference means the case matches.
func Diffs(c Case, left, right Normalised) []Diff {
	var d []Diff
	add := func(aspect, what string, l, r any) {
		d = append(d, Diff{Aspect: aspect, What: what, Left: fmt.Sprint(l), Right: fmt.Sprint(r)})
	}
	if left.Err != right.Err {
		add(AspectStatus, "transport error", left.Err, right.Err)
	}
	if lc, rc := statusCode(left.StatusLine), statusCode(right.StatusLine); lc != rc {
		add(AspectStatus, "", left.StatusLine, right.StatusLine)
	} else if left.StatusLine != right.StatusLine {
		add(AspectReason, "", left.StatusLine, right.StatusLine)
	}
	if c.Compare.Body {
		if left.json != nil && right.json != nil && c.Admin {
			l, r := selectFields(left.json, c.Compare.JSONFields), selectFields(right.json, c.Compare.JSONFields)
			if !reflect.DeepEqual(l, r) {
				add(AspectBody, jsonDiffPath(l, r, ""), left.Body, right.Body)
			}
		} else if left.Body != right.Body {
			add(AspectBody, "", left.Body, right.Body)
		}
	}
	if c.Compare.Headers {
		for _, k := range unionKeys(left.Headers, right.Headers) {
			lv, lok := left.Headers[k]
			rv, rok := right.Headers[k]
			if lok != rok || lv != rv {
				add(AspectHeaders, k, orAbsent(lv, lok), orAbsent(rv, rok))
			}
		}
	}
	if c.Compare.Upstream {
		l, r := left.Received, right.Received
		switch {
		case (l == nil) != (r == nil):
			add(AspectUpstream, "reached", l != nil, r != nil)
		case l != nil:
			if l.Method != r.Method {
				add(AspectUpstream, "method", l.Method, r.Method)
			}
			if l.Path != r.Path {
				add(AspectUpstream, "path", l.Path, r.Path)
			}
			if l.Query != r.Query {
				add(AspectUpstream, "query", l.Query, r.Query)
			}
			if l.Host != r.Host {
				add(AspectUpstream, "Host", l.Host, r.Host)
			}
			for _, k := range unionKeys(l.Headers, r.Headers) {
				lv, lok := l.Headers[k]
				rv, rok := r.Headers[k]
				if lok != rok || lv != rv {
					add(AspectUpstream, k, orAbsent(lv, lok), orAbsent(rv, rok))
				}
			}
		}
	}
	if c.Compare.Tries && left.Tries != right.Tries {
		add(AspectTries, "", left.Tries, right.Tries)
	}
	if c.Compare.ErrorLog && strings.Join(left.ErrorLog, "\n") != strings.Join(right.ErrorLog, "\n") {
		add(AspectErrorLog, "", strings.Join(left.ErrorLog, "\n"), strings.Join(right.ErrorLog, "\n"))
	}
	if c.Compare.Timing && !closeEnough(left.ElapsedMS, right.ElapsedMS) {
		add(AspectTiming, "", fmt.Sprintf("%d ms", left.ElapsedMS), fmt.Sprintf("%d ms", right.ElapsedMS))
	}
	return d
}

// statusCode is the code of "HTTP/1.1 504 Gateway Time-out".
func statusCode(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// closeEnough: retries x timeouts agree within 250 ms + 25 % (a noisy
// 2-core machine; a missing or extra retry of a 300 ms timeout still shows).
func closeEnough(a, b int64) bool {
	diff, hi := a-b, max(a, b)
	if diff < 0 {
		diff = -diff
	}
	return diff <= 250+hi/4
}

// Check compares one side with the case's hand-checked expectation.
func Check(c Case, o Normalised, elapsed time.Duration) []Diff {
	var d []Diff
	e := c.Expect
	if e.Status != 0 && !strings.Contains(o.StatusLine, fmt.Sprintf(" %d", e.Status)) {
		d = append(d, Diff{Aspect: AspectExpect, What: "status", Left: fmt.Sprint(e.Status), Right: o.StatusLine})
	}
	for _, s := range e.BodyContains {
		if !strings.Contains(o.Body, s) {
			d = append(d, Diff{Aspect: AspectExpect, What: "body contains", Left: s, Right: o.Body})
		}
	}
	for k, want := range e.Header {
		got, ok := o.Headers[k]
		if (want == "" && ok) || (want != "" && got != want) {
			d = append(d, Diff{Aspect: AspectExpect, What: "header " + k, Left: want, Right: orAbsent(got, ok)})
		}
	}
	if e.MinElapsed > 0 && elapsed < e.MinElapsed {
		d = append(d, Diff{Aspect: AspectExpect, What: "elapsed", Left: ">= " + e.MinElapsed.String(), Right: elapsed.String()})
	}
	return d
}

func orAbsent(v string, ok bool) string {
	if !ok {
		return "<absent>"
	}
	return v
}

func unionKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonDiffPath names the first differing JSON path, for the report.
func jsonDiffPath(a, b any, path string) string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			if !reflect.DeepEqual(am[k], bm[k]) {
				return jsonDiffPath(am[k], bm[k], strings.TrimPrefix(path+"."+k, "."))
			}
		}
	}
	if path == "" {
		return "(document)"
	}
	return path
}
