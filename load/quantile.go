package load

import (
	"sort"
	"strconv"
	"time"
)

// Millis is d in milliseconds with its fraction, the unit measures and
// reports show latencies in.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// HeaderQuantile is quantile q of a numeric response header (an app's
// "X-Creds-Duration" in ms) over the results that carry it; -1 when none do.
func (rs Results) HeaderQuantile(name string, q float64) float64 {
	var vs []float64
	for _, r := range rs {
		if v, err := strconv.ParseFloat(r.Headers[name], 64); err == nil {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return -1
	}
	sort.Float64s(vs)
	i := int(q * float64(len(vs)))
	return vs[min(i, len(vs)-1)]
}

// PhaseQuantile is quantile q of one phase (tls, connect, ttfb...) over the
// successful requests that really had that phase (a reused connection has
// no handshake), and how many those were.
func (rs Results) PhaseQuantile(q float64, phase func(Phases) time.Duration) (time.Duration, int) {
	var ds []time.Duration
	for _, r := range rs {
		if d := phase(r.Phases); r.Code >= 200 && r.Code < 300 && d > 0 {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return 0, 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)-1, int(q*float64(len(ds))))], len(ds)
}
