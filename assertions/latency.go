package assertions

import (
	"fmt"
	"math"
	"time"

	"github.com/onsi/gomega/types"

	"github.com/chaoslab/chaoslab/load"
)

func qname(q float64) string { return fmt.Sprintf("p%g", q*100) }

// HaveLatencyQuantile checks a latency quantile (q in 0..1) against a bound:
// HaveLatencyQuantile(0.99, "<", 300*time.Millisecond).
func HaveLatencyQuantile(q float64, cmp string, bound time.Duration) types.GomegaMatcher {
	return &quantileMatcher{q: q, cmp: cmp, bound: bound}
}

type quantileMatcher struct {
	q     float64
	cmp   string
	bound time.Duration
}

func (m *quantileMatcher) Match(actual any) (bool, error) {
	rs, err := results(actual)
	if err != nil || len(rs) == 0 {
		return false, orEmpty(err)
	}
	return compare(float64(rs.Quantile(m.q)), m.cmp, float64(m.bound))
}
func (m *quantileMatcher) Expected() string {
	return fmt.Sprintf("%s %s %s", qname(m.q), m.cmp, ms(m.bound))
}
func (m *quantileMatcher) Measured(actual any) string {
	rs, err := results(actual)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s %s over %d requests", qname(m.q), ms(rs.Quantile(m.q)), len(rs))
}
func (m *quantileMatcher) FailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", m.Expected(), m.Measured(a))
}
func (m *quantileMatcher) NegatedFailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", negate(m.Expected()), m.Measured(a))
}

// HaveLatencyIncrease checks that quantile q rose by delta over the baseline,
// within max(absTol, relTol × delta): "p50 rises by 200ms within max(5ms, 5%)".
func HaveLatencyIncrease(baseline load.Results, q float64, delta, absTol time.Duration, relTol float64) types.GomegaMatcher {
	return &increaseMatcher{base: baseline, q: q, delta: delta, abs: absTol, rel: relTol}
}

type increaseMatcher struct {
	base  load.Results
	q     float64
	delta time.Duration
	abs   time.Duration
	rel   float64
}

func (m *increaseMatcher) tol() time.Duration {
	return max(m.abs, time.Duration(m.rel*float64(m.delta)))
}
func (m *increaseMatcher) Match(actual any) (bool, error) {
	rs, err := results(actual)
	if err != nil || len(rs) == 0 || len(m.base) == 0 {
		return false, orEmpty(err)
	}
	got := rs.Quantile(m.q) - m.base.Quantile(m.q)
	return math.Abs(float64(got-m.delta)) <= float64(m.tol()), nil
}
func (m *increaseMatcher) Expected() string {
	return fmt.Sprintf("%s +%s ± %s over baseline", qname(m.q), ms(m.delta), ms(m.tol()))
}
func (m *increaseMatcher) Measured(actual any) string {
	rs, err := results(actual)
	if err != nil {
		return err.Error()
	}
	b, a := m.base.Quantile(m.q), rs.Quantile(m.q)
	return fmt.Sprintf("%s %s -> %s (%+.1fms, error %+.1fms)", qname(m.q), ms(b), ms(a),
		float64(a-b)/1e6, float64(a-b-m.delta)/1e6)
}
func (m *increaseMatcher) FailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", m.Expected(), m.Measured(a))
}
func (m *increaseMatcher) NegatedFailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", negate(m.Expected()), m.Measured(a))
}

// HaveLatencyRatio compares quantile q with the baseline's as a ratio:
// HaveLatencyRatio(base, 0.5, ">=", 3) is "p50 at least 3x the baseline",
// HaveLatencyRatio(base, 0.5, "<=", 1.2) is "p50 within 20% of baseline".
func HaveLatencyRatio(baseline load.Results, q float64, cmp string, ratio float64) types.GomegaMatcher {
	return HaveLatencyRatioTo("baseline", baseline, q, cmp, ratio)
}

// HaveLatencyRatioTo is HaveLatencyRatio against a named reference load
// ("GET"): HaveLatencyRatioTo("GET", gets, 0.5, "<=", 0.5).
func HaveLatencyRatioTo(refName string, ref load.Results, q float64, cmp string, ratio float64) types.GomegaMatcher {
	return &ratioMatcher{name: refName, base: ref, q: q, cmp: cmp, ratio: ratio}
}

type ratioMatcher struct {
	name  string
	base  load.Results
	q     float64
	cmp   string
	ratio float64
}

func (m *ratioMatcher) got(rs load.Results) float64 {
	b := m.base.Quantile(m.q)
	if b <= 0 {
		b = time.Microsecond
	}
	return float64(rs.Quantile(m.q)) / float64(b)
}
func (m *ratioMatcher) Match(actual any) (bool, error) {
	rs, err := results(actual)
	if err != nil || len(rs) == 0 || len(m.base) == 0 {
		return false, orEmpty(err)
	}
	return compare(m.got(rs), m.cmp, m.ratio)
}
func (m *ratioMatcher) Expected() string {
	return fmt.Sprintf("%s %s %gx %s", qname(m.q), m.cmp, m.ratio, m.name)
}
func (m *ratioMatcher) Measured(actual any) string {
	rs, err := results(actual)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s %s vs %s %s = %.2fx", qname(m.q), ms(rs.Quantile(m.q)), m.name, ms(m.base.Quantile(m.q)), m.got(rs))
}
func (m *ratioMatcher) FailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", m.Expected(), m.Measured(a))
}
func (m *ratioMatcher) NegatedFailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", negate(m.Expected()), m.Measured(a))
}

func orEmpty(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("no requests to judge latency on: the load sent nothing")
}
