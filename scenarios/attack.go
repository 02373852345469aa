package scenarios

import (
	"fmt"
	"sort"
	"time"

	"github.com/chaoslab/chaoslab/load"
	"github.com/chaoslab/chaoslab/reports"
)

// Attack drives load for d at pacer p and records it in the current phase
// (summary, per-second buckets, a few sample bodies and errors).
func (s *S) Attack(name string, targets []load.Target, p load.Pacer, d time.Duration, opts ...load.Option) load.Results {
	t0 := time.Now()
	rs, err := load.Run(s.Ctx, targets, p, d, opts...)
	if err != nil && len(rs) == 0 {
		s.failAt(fmt.Sprintf("load %s: %v", name, err), 1)
	}
	if err := s.Ctx.Err(); err != nil {
		s.failAt(fmt.Sprintf("load %s interrupted: %v", name, err), 1)
	}
	s.RecordLoad(name, p.String(), t0, rs)
	return rs
}

// RecordLoad adds results gathered elsewhere (a hand-rolled client) to the
// current phase.
func (s *S) RecordLoad(name, pacer string, start time.Time, rs load.Results) {
	sum := rs.Summarize()
	l := &reports.Load{Name: name, Pacer: pacer, Duration: sum.Duration, Requests: sum.Requests,
		Outcomes: sum.Outcomes,
		Latency: map[string]float64{"p50": sum.P50, "p90": sum.P90, "p95": sum.P95, "p99": sum.P99,
			"max": sum.Max, "mean": sum.Mean},
		Phases: map[string]float64{"dns": sum.Phases.DNS, "connect": sum.Phases.Connect, "tls": sum.Phases.TLS,
			"ttfb": sum.Phases.TTFB, "total": sum.Phases.Total},
		Samples: samples(rs, 4)}
	for _, b := range rs.Series(start, time.Second) {
		l.Buckets = append(l.Buckets, reports.Bucket(b))
	}
	p := s.phase()
	p.Loads = append(p.Loads, l)
}

// samples keeps one example per outcome (up to n): what a reader wants to see
// is the body Kong sent for the 504 and the error text for the reset.
func samples(rs load.Results, n int) []string {
	seen := map[string]string{}
	for _, r := range rs {
		o := r.Outcome()
		if _, ok := seen[o]; ok {
			continue
		}
		text := r.Body
		if r.Code == 0 {
			text = r.Error
		}
		if len(text) > 300 {
			text = text[:300] + "..."
		}
		seen[o] = fmt.Sprintf("[%s] %s", o, text)
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		if len(out) == n {
			break
		}
		out = append(out, seen[k])
	}
	return out
}
