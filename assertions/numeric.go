package assertions

import (
	"fmt"
	"math"

	"github.com/onsi/gomega/types"
)

// BeAround checks a measured number is want ± tol, in unit: the accepted
// rate of a rate limiter, a latency header's median.
func BeAround(want, tol float64, unit string) types.GomegaMatcher {
	return &numMatcher{desc: fmt.Sprintf("%s ± %s %s", num(want), num(tol), unit), unit: unit,
		ok: func(v float64) bool { return math.Abs(v-want) <= tol }}
}

// BeNumber compares a measured number with cmp ("<", "<=", ">", ">=").
func BeNumber(cmp string, want float64, unit string) types.GomegaMatcher {
	return &numMatcher{desc: fmt.Sprintf("%s %s %s", cmp, num(want), unit), unit: unit,
		ok: func(v float64) bool { r, _ := compare(v, cmp, want); return r }}
}

// BeBetween checks lo <= v <= hi.
func BeBetween(lo, hi float64, unit string) types.GomegaMatcher {
	return &numMatcher{desc: fmt.Sprintf("between %s and %s %s", num(lo), num(hi), unit), unit: unit,
		ok: func(v float64) bool { return v >= lo && v <= hi }}
}

type numMatcher struct {
	desc, unit string
	ok         func(float64) bool
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e12 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3g", v)
}

func toFloat(actual any) (float64, error) {
	switch v := actual.(type) {
	case float64:
		return v, nil
	case float32:
		return float64(v), nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	}
	return 0, fmt.Errorf("assertions: expected a number, got %T", actual)
}

func (m *numMatcher) Match(actual any) (bool, error) {
	v, err := toFloat(actual)
	if err != nil {
		return false, err
	}
	return m.ok(v), nil
}
func (m *numMatcher) Expected() string { return m.desc }
func (m *numMatcher) Measured(actual any) string {
	v, err := toFloat(actual)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%.4g %s", v, m.unit)
}
func (m *numMatcher) FailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", m.Expected(), m.Measured(a))
}
func (m *numMatcher) NegatedFailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", negate(m.Expected()), m.Measured(a))
}
