package reports

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"
)

// Charts are inline SVG drawn here, so the report needs no script and no
// network: it opens from a CI artifact, an e-mail or a laptop on a plane.

const (
	chartW, chartH         = 860, 220
	padL, padR, padT, padB = 56, 110, 14, 30
)

type window struct {
	from, to float64
	label    string
}

type line struct {
	name   string
	color  string
	xs, ys []float64 // a NaN y breaks the line
}

// axis maps data to pixels.
type axis struct{ x0, x1, y0, y1 float64 }

func (a axis) px(x float64) float64 {
	if a.x1 == a.x0 {
		return padL
	}
	return padL + (x-a.x0)/(a.x1-a.x0)*(chartW-padL-padR)
}
func (a axis) py(y float64) float64 {
	if a.y1 == a.y0 {
		return chartH - padB
	}
	return chartH - padB - (y-a.y0)/(a.y1-a.y0)*(chartH-padT-padB)
}

// niceMax rounds up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func frame(b *strings.Builder, a axis, yUnit string, windows []window, phases []window) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" xmlns="http://www.w3.org/2000/svg" role="img">`, chartW, chartH)
	for _, w := range windows {
		x0, x1 := a.px(w.from), a.px(w.to)
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" class="fault"><title>%s</title></rect>`,
			x0, padT, math.Max(x1-x0, 1), chartH-padT-padB, template.HTMLEscapeString(w.label))
		fmt.Fprintf(b, `<text x="%.1f" y="%d" class="faultlabel">fault</text>`, x0+3, padT+11)
	}
	// Phase labels alternate between two rows so short phases (setup, fix)
	// do not print over their neighbours.
	for i, p := range phases {
		x := a.px(p.from)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="phase"/>`, x, padT, x, chartH-padB)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" class="phaselabel">%s</text>`, x+3, chartH-padB-4-12*(i%2), template.HTMLEscapeString(p.label))
	}
	for i := 0; i <= 4; i++ {
		y := a.y0 + (a.y1-a.y0)*float64(i)/4
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>`, padL, a.py(y), chartW-padR, a.py(y))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`, padL-4, a.py(y)+4, fmtNum(y))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" class="tick" text-anchor="end">%s</text>`, padL-4, chartH-padB+14, template.HTMLEscapeString(yUnit))
	steps := 6
	for i := 0; i <= steps; i++ {
		x := a.x0 + (a.x1-a.x0)*float64(i)/float64(steps)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%ss</text>`, a.px(x), chartH-8, fmtNum(x))
	}
}

func fmtNum(v float64) string {
	switch {
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func lineChart(lines []line, yUnit string, windows, phases []window, x1 float64) template.HTML {
	maxY := 0.0
	for _, l := range lines {
		for _, y := range l.ys {
			if !math.IsNaN(y) {
				maxY = math.Max(maxY, y)
			}
		}
	}
	a := axis{x0: 0, x1: math.Max(x1, 1), y0: 0, y1: niceMax(maxY * 1.05)}
	var b strings.Builder
	frame(&b, a, yUnit, windows, phases)
	for i, l := range lines {
		// A NaN (the end of one load) breaks the line: a slope drawn across
		// a phase without traffic would be invented data.
		var pts []string
		flush := func() {
			if len(pts) == 1 {
				fmt.Fprintf(&b, `<circle cx="%s" r="2.5" fill="%s"/>`, strings.Replace(pts[0], ",", `" cy="`, 1), l.color)
			} else if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`, l.color, strings.Join(pts, " "))
			}
			pts = nil
		}
		for j := range l.xs {
			if math.IsNaN(l.ys[j]) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", a.px(l.xs[j]), a.py(l.ys[j])))
		}
		flush()
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/><text x="%d" y="%d" class="legend">%s</text>`,
			chartW-padR+8, padT+8+i*16, l.color, chartW-padR+22, padT+12+i*16, template.HTMLEscapeString(l.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// outcomeColor: successes green, client errors amber, server errors red,
// transport errors purple — the colours an on-call dashboard uses.
func outcomeColor(o string) string {
	switch {
	case strings.HasPrefix(o, "2"), strings.HasPrefix(o, "3"):
		return "#2e9d5b"
	case o == "429":
		return "#d9a400"
	case strings.HasPrefix(o, "4"):
		return "#e07b1a"
	case o == "502":
		return "#c0392b"
	case o == "503":
		return "#e74c3c"
	case o == "504":
		return "#8e1b10"
	case strings.HasPrefix(o, "5"):
		return "#d35400"
	}
	palette := []string{"#7d3c98", "#5b2c6f", "#a569bd", "#34495e", "#6c7a89"}
	h := 0
	for _, c := range o {
		h += int(c)
	}
	return palette[h%len(palette)]
}

type barBucket struct {
	x, w     float64
	outcomes map[string]int
}

func barChart(buckets []barBucket, windows, phases []window, x1 float64) template.HTML {
	maxY := 0
	seen := map[string]bool{}
	for _, bk := range buckets {
		n := 0
		for o, c := range bk.outcomes {
			n += c
			seen[o] = true
		}
		maxY = max(maxY, n)
	}
	names := make([]string, 0, len(seen))
	for o := range seen {
		names = append(names, o)
	}
	sort.Strings(names)
	a := axis{x0: 0, x1: math.Max(x1, 1), y0: 0, y1: niceMax(float64(maxY) * 1.05)}
	var b strings.Builder
	frame(&b, a, "req/s", windows, phases)
	for _, bk := range buckets {
		y := 0.0
		w := math.Max(a.px(bk.x+bk.w)-a.px(bk.x)-1, 1)
		for _, o := range names {
			c := float64(bk.outcomes[o])
			if c == 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %.0f</title></rect>`,
				a.px(bk.x), a.py(y+c), w, a.py(y)-a.py(y+c), outcomeColor(o), template.HTMLEscapeString(o), c)
			y += c
		}
	}
	for i, o := range names {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" class="legend">%s</text>`,
			chartW-padR+8, padT+2+i*16, outcomeColor(o), chartW-padR+22, padT+11+i*16, template.HTMLEscapeString(o))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func secs(t, origin time.Time) float64 { return t.Sub(origin).Seconds() }
