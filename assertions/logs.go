package assertions

import (
	"fmt"
	"strings"

	"github.com/onsi/gomega/types"
)

// HaveLogLines checks how many log lines contain substr: the exact texts
// users grep a gateway's error log for ("upstream timed out (110: ...").
func HaveLogLines(substr, cmp string, n int) types.GomegaMatcher {
	return &logMatcher{substr: substr, cmp: cmp, n: n}
}

type logMatcher struct {
	substr string
	cmp    string
	n      int
}

func lines(actual any) ([]string, error) {
	if l, ok := actual.([]string); ok {
		return l, nil
	}
	return nil, fmt.Errorf("assertions: expected log lines ([]string), got %T", actual)
}

func (m *logMatcher) count(l []string) (int, string) {
	n, first := 0, ""
	for _, line := range l {
		if strings.Contains(line, m.substr) {
			if n == 0 {
				first = line
			}
			n++
		}
	}
	return n, first
}

func (m *logMatcher) Match(actual any) (bool, error) {
	l, err := lines(actual)
	if err != nil {
		return false, err
	}
	n, _ := m.count(l)
	return compare(float64(n), m.cmp, float64(m.n))
}

func (m *logMatcher) Expected() string {
	return fmt.Sprintf("%s %d log lines containing %q", m.cmp, m.n, m.substr)
}

func (m *logMatcher) Measured(actual any) string {
	l, err := lines(actual)
	if err != nil {
		return err.Error()
	}
	n, first := m.count(l)
	if n == 0 {
		last := "(empty log)"
		if len(l) > 0 {
			last = "last line: " + l[len(l)-1]
		}
		return fmt.Sprintf("0 of %d lines; %s", len(l), last)
	}
	return fmt.Sprintf("%d of %d lines, e.g. %s", n, len(l), first)
}

func (m *logMatcher) FailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", m.Expected(), m.Measured(a))
}
func (m *logMatcher) NegatedFailureMessage(a any) string {
	return fmt.Sprintf("expected %s, got %s", negate(m.Expected()), m.Measured(a))
}
