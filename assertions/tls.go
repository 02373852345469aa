package assertions

import (
	"fmt"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/chaoslab/chaoslab/diagnose"
	"github.com/chaoslab/chaoslab/load"
)

// Check is an assertion over a value a scenario computed (an issuer, a
// chain, a ratio), with the expected and measured texts the report shows.
func Check(expected string, measured func(any) string, ok func(any) bool) types.GomegaMatcher {
	return &checked{expected: expected, measured: measured, ok: ok}
}

type checked struct {
	expected string
	measured func(any) string
	ok       func(any) bool
}

func (m *checked) Match(a any) (bool, error) { return m.ok(a), nil }
func (m *checked) Expected() string          { return m.expected }
func (m *checked) Measured(a any) string     { return m.measured(a) }
func (m *checked) FailureMessage(a any) string {
	return "expected " + m.expected + ", got " + m.measured(a)
}
func (m *checked) NegatedFailureMessage(a any) string {
	return "expected not " + m.expected + ", got " + m.measured(a)
}

// HaveDifferentIssuers: the issuer seen through the proxy is not the one seen
// directly (the proxy re-signs); HaveSameIssuer: the proxy left it alone.
func HaveDifferentIssuers() types.GomegaMatcher { return issuerMatcher(true) }
func HaveSameIssuer() types.GomegaMatcher       { return issuerMatcher(false) }

func issuerMatcher(differ bool) types.GomegaMatcher {
	want := "issuer via proxy == issuer direct"
	if differ {
		want = "issuer via proxy != issuer direct"
	}
	return Check(want,
		func(a any) string {
			c, _ := a.(diagnose.Comparison)
			return fmt.Sprintf("direct %q, via proxy %q", c.DirectIssuer, c.ViaProxyIssuer)
		},
		func(a any) bool {
			c, ok := a.(diagnose.Comparison)
			return ok && c.DirectIssuer != "" && c.ViaProxyIssuer != "" && c.IssuerDiffers == differ
		})
}

// HaveCertificates checks how many certificates the server presented.
func HaveCertificates(n int) types.GomegaMatcher {
	return Check(fmt.Sprintf("%d certificate(s) presented", n),
		func(a any) string {
			r, _ := a.(*diagnose.ChainReport)
			if r == nil {
				return "no report"
			}
			var parts []string
			for _, c := range r.Certs {
				parts = append(parts, fmt.Sprintf("s:%s i:%s", c.Subject, c.Issuer))
			}
			return fmt.Sprintf("%d: %s", len(r.Certs), strings.Join(parts, "; "))
		},
		func(a any) bool { r, _ := a.(*diagnose.ChainReport); return r != nil && len(r.Certs) == n })
}

// HaveVerdict checks a chain report's Go error kind and OpenSSL verify code
// ("" and 0 for a trusted chain).
func HaveVerdict(goKind load.ErrorKind, opensslCode int) types.GomegaMatcher {
	want := fmt.Sprintf("Go %q, openssl verify code %d (%s)", verdictOrOK(goKind), opensslCode, diagnose.VerifyText(opensslCode))
	return Check(want,
		func(a any) string {
			r, _ := a.(*diagnose.ChainReport)
			if r == nil {
				return "no report"
			}
			return fmt.Sprintf("Go %q (%v), openssl verify code %d (%s)", verdictOrOK(r.GoKind), r.VerifyErr, r.VerifyCode, r.VerifyText)
		},
		func(a any) bool {
			r, _ := a.(*diagnose.ChainReport)
			return r != nil && r.GoKind == goKind && r.VerifyCode == opensslCode
		})
}

func verdictOrOK(kind load.ErrorKind) load.ErrorKind {
	if kind == "" {
		return "ok"
	}
	return kind
}
