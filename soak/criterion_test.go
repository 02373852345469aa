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
	for _, c := range []struct {
		name string
		vals []float64
		pass bool
	}{{"bounded pool (median 1.13x, a 740 burst at the end)", pool, true}, {"leak of one per sample", leak, false}} {
		q2, q4 := quarter(series(c.vals), 1, fds), quarter(series(c.vals), 3, fds)
		if got := q4.min <= q2.min*maxGrowth; got != c.pass {
			t.Errorf("%s: floors %.0f / %.0f: passes=%v, want %v", c.name, q4.min, q2.min, got, c.pass)
		}
	}
	if g := trendGrowth(series(leak), fds); g < 0.10 {
		t.Errorf("the leak's trend growth is %.3f, want >= 0.10", g)
	}
}
