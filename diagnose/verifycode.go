package diagnose

import (
	"bytes"
	"crypto/x509"
	"errors"
	"time"
)

// OpenSSL X509_V_* verify codes and texts (OpenSSL 3 wording) that TLS
// incidents produce.
const (
	CodeOK                     = 0
	CodeUnspecified            = 1
	CodeNotYetValid            = 9
	CodeExpired                = 10
	CodeSelfSigned             = 18 // depth zero self-signed certificate
	CodeSelfSignedInChain      = 19
	CodeUnableToGetLocalIssuer = 20
	CodeUnsupportedPurpose     = 26
	CodeHostnameMismatch       = 62
)

// VerifyText is OpenSSL's text for a verify code.
func VerifyText(code int) string {
	switch code {
	case CodeOK:
		return "ok"
	case CodeNotYetValid:
		return "certificate is not yet valid"
	case CodeExpired:
		return "certificate has expired"
	case CodeSelfSigned:
		return "self-signed certificate"
	case CodeSelfSignedInChain:
		return "self-signed certificate in certificate chain"
	case CodeUnableToGetLocalIssuer:
		return "unable to get local issuer certificate"
	case CodeUnsupportedPurpose:
		return "unsupported certificate purpose"
	case CodeHostnameMismatch:
		return "hostname mismatch"
	default:
		return "unspecified certificate verification error"
	}
}

// opensslVerify reproduces the first error OpenSSL's verifier reports
// (what curl and `s_client -verify_return_error` stop at), in OpenSSL's
// order: build the chain to a trusted root (18/19/20), check the purpose
// (26), the host name (62, when host is set: curl always, s_client only
// with -verify_hostname), then every certificate's dates from the root down
// to the leaf (9/10). Go checks dates first, so the two verdicts can name
// different faults for a certificate that has several.
func opensslVerify(certs []*x509.Certificate, roots *x509.CertPool, host string, now time.Time) int {
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	// Build the chain at a moment the leaf is valid, so that dates do not
	// mask trust faults (OpenSSL builds chains regardless of dates).
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	var ua x509.UnknownAuthorityError
	var ie x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		if len(certs) == 1 && selfSigned(leaf) {
			return CodeSelfSigned
		}
		if selfSigned(certs[len(certs)-1]) {
			return CodeSelfSignedInChain
		}
		return CodeUnableToGetLocalIssuer
	case errors.As(err, &ie) && ie.Reason == x509.IncompatibleUsage:
		return CodeUnsupportedPurpose
	case err != nil:
		return CodeUnspecified
	}
	if host != "" && leaf.VerifyHostname(host) != nil {
		return CodeHostnameMismatch
	}
	chain := chains[0]
	for i := len(chain) - 1; i >= 0; i-- {
		switch c := chain[i]; {
		case now.Before(c.NotBefore):
			return CodeNotYetValid
		case now.After(c.NotAfter):
			return CodeExpired
		}
	}
	return CodeOK
}

// selfSigned is OpenSSL's idea of it: issuer equals subject and the
// certificate's own key checks its signature.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
