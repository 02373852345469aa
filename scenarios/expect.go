package scenarios

import (
	"fmt"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/reports"
)

// Expectation is one pending assertion; To/NotTo evaluate it.
type Expectation struct {
	s      *S
	actual any
	desc   string
}

// Expect starts an assertion on actual. description says, in the runbook's
// words, what is being checked ("504 share while the upstream is slow").
func (s *S) Expect(actual any, description string) *Expectation {
	return &Expectation{s: s, actual: actual, desc: description}
}

// To asserts the matcher matches; a failure ends the scenario as failed.
func (e *Expectation) To(m types.GomegaMatcher) { e.eval(m, true) }

// NotTo asserts the matcher does not match.
func (e *Expectation) NotTo(m types.GomegaMatcher) { e.eval(m, false) }

func (e *Expectation) eval(m types.GomegaMatcher, want bool) {
	ok, err := m.Match(e.actual)
	passed := err == nil && ok == want
	a := reports.Assertion{Description: e.desc, Passed: passed, Location: caller(2)}
	if x, isX := m.(assertions.Explainer); isX {
		a.Expected, a.Measured = x.Expected(), x.Measured(e.actual)
		if !want {
			a.Expected = "not " + a.Expected
		}
	} else {
		a.Expected = strings.TrimSpace(firstLine(m.FailureMessage(e.actual)))
		a.Measured = trimLines(fmt.Sprint(e.actual), 3)
	}
	p := e.s.phase()
	p.Assertions = append(p.Assertions, a)
	if passed {
		return
	}
	msg := m.FailureMessage(e.actual)
	if !want {
		msg = m.NegatedFailureMessage(e.actual)
	}
	if err != nil {
		msg = err.Error()
		a.Measured = msg
		p.Assertions[len(p.Assertions)-1] = a
	}
	e.s.failAt(fmt.Sprintf("%s (phase %s): %s", e.desc, p.Name, msg), 2)
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
