// Package assertions holds Gomega matchers over load results (status and
// error shares, latency quantiles, latency relative to a baseline, headers,
// bodies). A failure states the observed distribution in the user's terms:
// "expected >= 95% 504, got 41% 504, 59% 200 of 300 requests".
//
// Every matcher also implements Explainer, so the scenario runner can put the
// expected and the measured value side by side in the report, pass or fail.
package assertions

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/load"
)

// Explainer is implemented by every matcher here.
type Explainer interface {
	Expected() string
	Measured(actual any) string
}

func results(actual any) (load.Results, error) {
	switch v := actual.(type) {
	case load.Results:
		return v, nil
	case []load.Result:
		return load.Results(v), nil
	case *load.Results:
		return *v, nil
	}
	return nil, fmt.Errorf("assertions: expected load.Results, got %T", actual)
}

// compare applies a Gomega-style comparator ("<", "<=", ">", ">=", "==").
func compare(got float64, cmp string, want float64) (bool, error) {
	switch cmp {
	case ">=":
		return got >= want, nil
	case ">":
		return got > want, nil
	case "<=":
		return got <= want, nil
	case "<":
		return got < want, nil
	case "==":
		return got == want, nil
	}
	return false, fmt.Errorf("assertions: unknown comparator %q (use <, <=, >, >=, ==)", cmp)
}

func pct(f float64) string {
	p := 100 * f
	if p == float64(int64(p)) {
		return fmt.Sprintf("%d%%", int64(p))
	}
	return fmt.Sprintf("%.1f%%", p)
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}

func negate(s string) string { return "not " + strings.TrimPrefix(s, "not ") }
