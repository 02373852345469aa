package assertions

import (
	"fmt"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/chaoslab/chaoslab/load"
)

// HaveHeaderShare checks the share of results carrying a response header
// (recorded by the load, see load.WithHeaders); value "" means any value.
func HaveHeaderShare(name, value, cmp string, share float64) types.GomegaMatcher {
	what := "with header " + name
	if value != "" {
		what += ": " + value
	}
	return &shareMatcher{what: what, cmp: cmp, want: share, pred: func(r load.Result) bool {
		v, ok := r.Headers[name]
		return ok && (value == "" || v == value)
	}}
}

// HaveBodyShare checks the share of results whose recorded body contains s.
func HaveBodyShare(s, cmp string, share float64) types.GomegaMatcher {
	return &shareMatcher{what: fmt.Sprintf("bodies containing %q", s), cmp: cmp, want: share,
		pred: func(r load.Result) bool { return strings.Contains(r.Body, s) }}
}
