package load

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Results is one attack's results.
type Results []Result

func (rs Results) sortBySeq() { sort.Slice(rs, func(i, j int) bool { return rs[i].Seq < rs[j].Seq }) }

// Bucket is one time slice of a series.
type Bucket struct {
	Start    time.Time      `json:"start"`
	Requests int            `json:"requests"`
	Outcomes map[string]int `json:"outcomes"` // "200": 12, "504": 3, "reset": 1
	P50      float64        `json:"p50_ms"`
	P95      float64        `json:"p95_ms"`
	P99      float64        `json:"p99_ms"`
	Max      float64        `json:"max_ms"`
}

// histogram records latencies in microseconds, 1 µs .. 10 min, 3 significant
// digits: HDR keeps quantiles exact to 0.1% whatever the spread.
func histogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)
}

func msAt(h *hdrhistogram.Histogram, q float64) float64 {
	return float64(h.ValueAtQuantile(q)) / 1000
}

// Series aggregates results into buckets by send time, from start.
func (rs Results) Series(start time.Time, width time.Duration) []Bucket {
	if len(rs) == 0 {
		return nil
	}
	if width <= 0 {
		width = time.Second
	}
	type acc struct {
		h *hdrhistogram.Histogram
		b Bucket
	}
	var accs []*acc
	for _, r := range rs {
		i := int(r.Timestamp.Sub(start) / width)
		if i < 0 {
			i = 0
		}
		for len(accs) <= i {
			accs = append(accs, &acc{h: histogram(), b: Bucket{Start: start.Add(time.Duration(len(accs)) * width), Outcomes: map[string]int{}}})
		}
		a := accs[i]
		a.b.Requests++
		a.b.Outcomes[r.Outcome()]++
		_ = a.h.RecordValue(max(int64(r.Latency/time.Microsecond), 1))
	}
	out := make([]Bucket, len(accs))
	for i, a := range accs {
		b := a.b
		if b.Requests > 0 {
			b.P50, b.P95, b.P99 = msAt(a.h, 50), msAt(a.h, 95), msAt(a.h, 99)
			b.Max = float64(a.h.Max()) / 1000
		}
		out[i] = b
	}
	return out
}

// Summary is the whole attack in numbers.
type Summary struct {
	Requests int            `json:"requests"`
	Outcomes map[string]int `json:"outcomes"`
	P50      float64        `json:"p50_ms"`
	P90      float64        `json:"p90_ms"`
	P95      float64        `json:"p95_ms"`
	P99      float64        `json:"p99_ms"`
	Max      float64        `json:"max_ms"`
	Mean     float64        `json:"mean_ms"`
	Rate     float64        `json:"rate"`       // requests sent per second
	Duration time.Duration  `json:"duration"`   // first send to last completion
	Phases   PhaseQuantiles `json:"phases_p50"` // median of each phase, ms
}

// PhaseQuantiles is the median of each phase in milliseconds.
type PhaseQuantiles struct {
	DNS, Connect, TLS, TTFB, Total float64
}

// Summarize computes quantiles over every result.
func (rs Results) Summarize() Summary {
	s := Summary{Requests: len(rs), Outcomes: map[string]int{}}
	if len(rs) == 0 {
		return s
	}
	h := histogram()
	ph := [5]*hdrhistogram.Histogram{histogram(), histogram(), histogram(), histogram(), histogram()}
	first, last := rs[0].Timestamp, rs[0].End()
	for _, r := range rs {
		s.Outcomes[r.Outcome()]++
		_ = h.RecordValue(max(int64(r.Latency/time.Microsecond), 1))
		for i, d := range []time.Duration{r.Phases.DNS, r.Phases.Connect, r.Phases.TLS, r.Phases.TTFB, r.Phases.Total} {
			_ = ph[i].RecordValue(max(int64(d/time.Microsecond), 0))
		}
		if r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if r.End().After(last) {
			last = r.End()
		}
	}
	s.P50, s.P90, s.P95, s.P99 = msAt(h, 50), msAt(h, 90), msAt(h, 95), msAt(h, 99)
	s.Max, s.Mean = float64(h.Max())/1000, h.Mean()/1000
	s.Duration = last.Sub(first)
	var lastSent time.Time
	for _, r := range rs {
		if r.Timestamp.After(lastSent) {
			lastSent = r.Timestamp
		}
	}
	if span := lastSent.Sub(first).Seconds(); span > 0 && len(rs) > 1 {
		s.Rate = float64(len(rs)-1) / span
	}
	s.Phases = PhaseQuantiles{msAt(ph[0], 50), msAt(ph[1], 50), msAt(ph[2], 50), msAt(ph[3], 50), msAt(ph[4], 50)}
	return s
}

// Share is the fraction of results for which keep is true (0 when empty).
func (rs Results) Share(keep func(Result) bool) float64 {
	if len(rs) == 0 {
		return 0
	}
	n := 0
	for _, r := range rs {
		if keep(r) {
			n++
		}
	}
	return float64(n) / float64(len(rs))
}

// Filter returns the results for which keep is true.
func (rs Results) Filter(keep func(Result) bool) Results {
	var out Results
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// Between returns the results sent in [from, to).
func (rs Results) Between(from, to time.Time) Results {
	return rs.Filter(func(r Result) bool { return !r.Timestamp.Before(from) && r.Timestamp.Before(to) })
}

// Quantile returns the latency at quantile q (0..1) using an HDR histogram.
func (rs Results) Quantile(q float64) time.Duration {
	h := histogram()
	for _, r := range rs {
		_ = h.RecordValue(max(int64(r.Latency/time.Microsecond), 1))
	}
	return time.Duration(h.ValueAtQuantile(q*100)) * time.Microsecond
}

// Distribution describes the outcomes as "41% 504, 59% 200 of 300 requests",
// most frequent first: the words failure messages use.
func (rs Results) Distribution() string {
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.Outcome()]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(rs) == 0 {
		return "no requests"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = percent(float64(counts[k])/float64(len(rs))) + " " + k
	}
	out := strings.Join(parts, ", ")
	return out + " of " + strconv.Itoa(len(rs)) + " requests"
}

// percent formats a share as "41%" or "33.3%".
func percent(share float64) string {
	p := 100 * share
	if p == float64(int(p)) {
		return strconv.Itoa(int(p)) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}
