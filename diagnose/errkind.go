// Package diagnose computes in Go what an SRE reads from
// `openssl s_client -showcerts` and `curl -v`/`-w` during a TLS incident:
// who signed what the client is shown (directly or through a proxy), the
// verify verdict both as Go reports it and as OpenSSL's verify code, a
// classification of Go TLS errors, and the lesson commands filled in with
// the lab's real addresses.
package diagnose

import (
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/load"
)

// TLSErrorKind speaks load's vocabulary of error kinds (load.ErrorKind), with
// the finer certificate kinds: load.ErrBadCertificate is the peer rejecting
// our side of the handshake with a certificate alert, e.g. a server that
// requires a client certificate ("certificate required", "bad
// certificate"), or a client that does not trust us ("unknown certificate
// authority"); load.ErrInvalidCertificate is any other x509 rejection (wrong
// key usage, CA not allowed to sign, name constraints...); load.ErrTLSAlert
// a remote alert about something other than certificates.

// certificateAlerts are the TLS alert descriptions (as Go prints them) that
// are about certificates.
var certificateAlerts = []string{
	"bad certificate", "unsupported certificate", "revoked certificate",
	"expired certificate", "unknown certificate", "unknown certificate authority",
	"certificate required", "access denied",
}

// TLSErrorKind classifies a Go TLS/x509 error, looking through wrappers
// (url.Error, tls.CertificateVerificationError, net.OpError, fmt %w). It
// returns "" for errors that are not about TLS.
func TLSErrorKind(err error) load.ErrorKind {
	if err == nil {
		return ""
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	var op *net.OpError
	switch {
	case errors.As(err, &ua):
		return load.ErrUnknownAuthority
	case errors.As(err, &he):
		return load.ErrHostname
	case errors.As(err, &ie):
		if ie.Reason != x509.Expired {
			return load.ErrInvalidCertificate
		}
		// Go says "current time X is before NotBefore" or "... is after
		// NotAfter"; the certificate's dates decide if the text changes.
		if strings.Contains(ie.Detail, " is before ") ||
			(ie.Cert != nil && !strings.Contains(ie.Detail, " is after ") && time.Now().Before(ie.Cert.NotBefore)) {
			return load.ErrNotYetValid
		}
		return load.ErrExpired
	case errors.As(err, &op) && op.Op == "remote error":
		return alertKind(op.Err.Error())
	}
	// Some layers (net/http's transport) flatten errors into text.
	msg := err.Error()
	if i := strings.Index(msg, "remote error: "); i >= 0 {
		return alertKind(msg[i+len("remote error: "):])
	}
	return ""
}

func alertKind(alert string) load.ErrorKind {
	alert = strings.TrimPrefix(alert, "tls: ")
	for _, a := range certificateAlerts {
		if strings.HasPrefix(alert, a) {
			return load.ErrBadCertificate
		}
	}
	return load.ErrTLSAlert
}
