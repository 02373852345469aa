package assertions

import (
	"fmt"

	"github.com/onsi/gomega/types"
)

// BeNames compares the names a lookup asked, in order, with the expected
// sequence, and reports both in the runbook's terms.
func BeNames(want string) types.GomegaMatcher { return namesMatcher{want} }

type namesMatcher struct{ want string }

func (m namesMatcher) Match(actual any) (bool, error) {
	got, ok := actual.(string)
	if !ok {
		return false, fmt.Errorf("names: expected a string, got %T", actual)
	}
	return got == m.want, nil
}
func (m namesMatcher) Expected() string           { return m.want }
func (m namesMatcher) Measured(actual any) string { return fmt.Sprint(actual) }
func (m namesMatcher) FailureMessage(actual any) string {
	return fmt.Sprintf("expected the DNS to be asked %s, it was asked %v", m.want, actual)
}
func (m namesMatcher) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("expected the DNS not to be asked %s", m.want)
}
