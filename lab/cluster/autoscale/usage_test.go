package autoscale_test

import (
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/lab/cluster/autoscale"
)

func TestUsageMillicores(t *testing.T) {
	for _, tc := range []struct {
		served  int64
		elapsed time.Duration
		cost    float64
		want    int64
	}{
		{20, time.Second, 25, 500},               // 20 req/s x 25 m·s = half a core
		{20, 2 * time.Second, 20, 200},           // rate, not count
		{1, 3 * time.Second, 10, 3},              // rounded to the nearest millicore
		{0, time.Second, 25, 0},                  // idle
		{10, 0, 25, 0},                           // no interval yet
		{10, time.Second, 0, 0},                  // free requests
		{3, 1500 * time.Millisecond, 1000, 2000}, // 2 req/s of one core each
		{-5, time.Second, 10, 0},                 // never negative
	} {
		if got := autoscale.UsageMillicores(tc.served, tc.elapsed, tc.cost); got != tc.want {
			t.Errorf("UsageMillicores(%d, %v, %v) = %d, want %d", tc.served, tc.elapsed, tc.cost, got, tc.want)
		}
	}
	if got := autoscale.FormatMillicores(250); got != "250m" {
		t.Errorf("FormatMillicores(250) = %q", got)
	}
}

func TestDesiredReplicas(t *testing.T) {
	for _, tc := range []struct {
		current            int32
		currentPct, target float64
		min, max, want     int32
	}{
		{1, 400, 50, 1, 5, 5},  // ceil(1 x 8) = 8, capped at max
		{1, 400, 50, 1, 10, 8}, // uncapped
		{4, 80, 50, 1, 10, 7},  // ceil(4 x 1.6) = 6.4 -> 7
		{4, 54, 50, 1, 10, 4},  // within the 0.1 tolerance: no change
		{4, 56, 50, 1, 10, 5},  // just outside: ceil(4 x 1.12) = 4.48 -> 5
		{6, 10, 50, 2, 10, 2},  // ceil(6 x 0.2) = 1.2 -> 2, also the min
		{6, 10, 50, 3, 10, 3},  // clamped to min
		{3, 50, 0, 1, 10, 3},   // no target: no change
	} {
		got := autoscale.DesiredReplicas(tc.current, tc.currentPct, tc.target, tc.min, tc.max)
		if got != tc.want {
			t.Errorf("DesiredReplicas(%d, %v%%, %v%%, [%d,%d]) = %d, want %d", tc.current, tc.currentPct, tc.target, tc.min, tc.max, got, tc.want)
		}
	}
}
