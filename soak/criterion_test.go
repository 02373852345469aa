package soak

import (
	"testing"
	"time"
)

// The soak's criterion must tell a leak from a bounded pool: the series
// below are shaped like the open files of two real runs (a pool that fills
// and drains) and like a leak of one file per sample on the same base.
func TestFloorCriterionSeparatesLeakFromPool(t *testing.T) {
	series := func(vals []float64) []sample {
		var out []sample
		t0 := time.Unix(0, 0)
		for i, v := range vals {
			out = append(out, sample{at: t0.Add(time.Duration(i) * round), procs: map[string]procSample{"p": {fds: v}}})
		}
		return out
	}
	fds := func(sm sample) (float64, bool) { p, ok := sm.procs["p"]; return p.fds, ok }
	pool := []float64{30, 168, 184, 188, 192, 220, 360, 360, 360, 361, 360, 360, 360, 220, 220, 220, 220, 220, 220, 220,
		220, 220, 220, 220, 252, 264, 264, 264, 264, 264, 264, 224, 224, 224, 224, 224, 236, 236, 236, 240, 240, 240,
		236, 228, 236, 228, 220, 204, 236, 235, 266, 220, 264, 264, 252, 248, 248, 260, 256, 256, 740}
	var leak []float64
	for i := range pool {
		leak = append(leak, 220+float64(i))
	}
	// A soak on a busy machine: the pool filled to its cap (2,128 open
	// files) in the first quarter and drained, then bursts kept it full
	// through the whole last quarter.
	stormyEnd := []float64{30, 272, 300, 304, 2132, 2124, 2124, 2124, 2124, 2124, 968, 648, 648, 616, 616, 604, 604, 604,
		348, 792, 788, 788, 788, 788, 788, 404, 404, 404, 368, 636, 632, 632, 632, 632, 632, 404, 404, 404, 524, 524, 524,
		524, 524, 524, 1372, 1372, 1372, 1372, 1372, 1372, 952, 952, 952, 2128, 2128, 2128, 2128, 2128, 2128, 2128, 2128}
	// A leak on top of a pool that filled and drained early: it must still
	// fail once it outgrows the level the pool drained from.
	var leakOverPool []float64
	for i := range pool {
		leakOverPool = append(leakOverPool, 220+float64(i))
	}
	leakOverPool[3], leakOverPool[4] = 230, 230
	for i := 45; i < len(leakOverPool); i++ {
		leakOverPool[i] += 10 * float64(i-44)
	}
	for _, c := range []struct {
		name string
		vals []float64
		pass bool
	}{{"bounded pool (median 1.13x, a 740 burst at the end)", pool, true}, {"leak of one per sample", leak, false},
		{"pool full through the last quarter, at a level it drained from before", stormyEnd, true},
		{"leak growing past anything released", leakOverPool, false}} {
		ss := series(c.vals)
		q2, q4 := quarter(ss, 1, fds), quarter(ss, 3, fds)
		rel := released(ss, fds, q2.min*maxGrowth)
		if got := q4.min <= q2.min*maxGrowth || q4.max <= rel*maxGrowth; got != c.pass {
			t.Errorf("%s: floors %.0f / %.0f, last max %.0f, released %.0f: passes=%v, want %v", c.name, q4.min, q2.min, q4.max, rel, got, c.pass)
		}
	}
	if g := trendGrowth(series(leak), fds); g < 0.10 {
		t.Errorf("the leak's trend growth is %.3f, want >= 0.10", g)
	}
}
