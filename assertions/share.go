package assertions

import (
	"fmt"
	"strconv"

	"github.com/onsi/gomega/types"

	"github.com/chaoslab/chaoslab/load"
)

// shareMatcher checks the share of results for which pred holds.
type shareMatcher struct {
	what string // "504", "reset", "header X-Foo"
	pred func(load.Result) bool
	cmp  string
	want float64
}

// HaveOutcomeShare checks the share of one outcome: a status code ("504") or
// a transport error kind ("reset", "timeout", "unknown-authority").
func HaveOutcomeShare(outcome string, cmp string, share float64) types.GomegaMatcher {
	return &shareMatcher{what: outcome, cmp: cmp, want: share,
		pred: func(r load.Result) bool { return r.Outcome() == outcome }}
}

// HaveStatusShare checks the share of one HTTP status.
func HaveStatusShare(code int, cmp string, share float64) types.GomegaMatcher {
	return HaveOutcomeShare(strconv.Itoa(code), cmp, share)
}

// HaveErrorKindShare checks the share of one transport error kind.
func HaveErrorKindShare(kind load.ErrorKind, cmp string, share float64) types.GomegaMatcher {
	return HaveOutcomeShare(string(kind), cmp, share)
}

// HaveTransportErrorShare checks the share of requests that got no HTTP
// answer at all, whatever the kind.
func HaveTransportErrorShare(cmp string, share float64) types.GomegaMatcher {
	return &shareMatcher{what: "transport errors", cmp: cmp, want: share,
		pred: func(r load.Result) bool { return r.Code == 0 }}
}

// HaveSuccessShare checks the share of 2xx answers.
func HaveSuccessShare(cmp string, share float64) types.GomegaMatcher {
	return &shareMatcher{what: "2xx", cmp: cmp, want: share,
		pred: func(r load.Result) bool { return r.Code >= 200 && r.Code < 300 }}
}

// HaveShare checks the share of results matching any predicate, described
// by what ("bodies with 'token expired'").
func HaveShare(what string, pred func(load.Result) bool, cmp string, share float64) types.GomegaMatcher {
	return &shareMatcher{what: what, pred: pred, cmp: cmp, want: share}
}

func (m *shareMatcher) Match(actual any) (bool, error) {
	rs, err := results(actual)
	if err != nil {
		return false, err
	}
	if len(rs) == 0 {
		return false, fmt.Errorf("no requests to judge %s on: the load sent nothing", m.what)
	}
	return compare(rs.Share(m.pred), m.cmp, m.want)
}

func (m *shareMatcher) Expected() string { return fmt.Sprintf("%s %s %s", m.cmp, pct(m.want), m.what) }

func (m *shareMatcher) Measured(actual any) string {
	rs, err := results(actual)
	if err != nil {
		return err.Error()
	}
	got := rs.Share(m.pred)
	dist := rs.Distribution()
	if _, err := strconv.Atoi(m.what); err == nil || isKind(m.what) {
		return dist // the distribution already names the outcome
	}
	return fmt.Sprintf("%s %s (%s)", pct(got), m.what, dist)
}

func isKind(s string) bool {
	for _, k := range []load.ErrorKind{load.ErrTimeout, load.ErrReset, load.ErrRefused, load.ErrEOF, load.ErrMalformed,
		load.ErrUnknownAuthority, load.ErrHostname, load.ErrExpired, load.ErrNotYetValid, load.ErrTLSAlert, load.ErrTLS,
		load.ErrProxy, load.ErrOther} {
		if string(k) == s {
			return true
		}
	}
	return false
}

func (m *shareMatcher) FailureMessage(actual any) string {
	return fmt.Sprintf("expected %s, got %s", m.Expected(), m.Measured(actual))
}

func (m *shareMatcher) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("expected %s, got %s", negate(m.Expected()), m.Measured(actual))
}
