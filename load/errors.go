package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// ErrorKind names a transport failure the way an SRE would say it.
type ErrorKind string

const (
	ErrTimeout          ErrorKind = "timeout"           // client gave up waiting
	ErrReset            ErrorKind = "reset"             // connection reset by peer
	ErrRefused          ErrorKind = "refused"           // nothing listening
	ErrEOF              ErrorKind = "eof"               // closed before a complete response
	ErrMalformed        ErrorKind = "malformed"         // not HTTP
	ErrUnknownAuthority ErrorKind = "unknown-authority" // x509: certificate signed by unknown authority
	ErrHostname         ErrorKind = "hostname-mismatch" // x509.HostnameError
	ErrExpired          ErrorKind = "expired"           // x509.CertificateInvalidError{Expired}, after NotAfter
	ErrNotYetValid      ErrorKind = "not-yet-valid"     // x509.CertificateInvalidError{Expired}, before NotBefore
	ErrTLSAlert         ErrorKind = "tls-alert"         // the server refused the handshake (e.g. no client cert)
	// ErrBadCertificate and ErrInvalidCertificate are finer kinds that
	// diagnose.TLSErrorKind tells apart (a certificate alert from the peer;
	// any other x509 rejection); Classify counts them as ErrTLSAlert and ErrTLS.
	ErrBadCertificate     ErrorKind = "bad-certificate"
	ErrInvalidCertificate ErrorKind = "invalid-certificate"
	ErrTLS                ErrorKind = "tls"   // any other TLS failure
	ErrProxy              ErrorKind = "proxy" // the forward proxy refused the CONNECT
	ErrOther              ErrorKind = "other"
)

// Classify maps a Go error from an HTTP client to an ErrorKind, looking
// through url.Error and tls wrappers at the typed errors underneath.
func Classify(err error) ErrorKind {
	if err == nil {
		return ""
	}
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		netErr   net.Error
		recHdr   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknown):
		return ErrUnknownAuthority
	case errors.As(err, &hostname):
		return ErrHostname
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			if invalid.Cert != nil && time.Now().Before(invalid.Cert.NotBefore) {
				return ErrNotYetValid
			}
			return ErrExpired
		}
		return ErrTLS
	case errors.As(err, &verify):
		return ErrTLS
	case errors.As(err, &alert):
		return ErrTLSAlert
	case errors.As(err, &recHdr):
		return ErrTLS
	case errors.Is(err, syscall.ECONNRESET):
		return ErrReset
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ErrTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrEOF
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Timeout exceeded"), strings.Contains(msg, "deadline exceeded"),
		strings.Contains(msg, "i/o timeout"):
		return ErrTimeout
	case strings.Contains(msg, "malformed HTTP"):
		return ErrMalformed
	case strings.Contains(msg, "remote error: tls:"):
		return ErrTLSAlert
	case strings.Contains(msg, "proxyconnect"), strings.Contains(msg, "Proxy Authentication"),
		strings.Contains(msg, "tunnel"):
		return ErrProxy
	case strings.Contains(msg, "connection reset"):
		return ErrReset
	case strings.Contains(msg, "EOF"):
		return ErrEOF
	}
	return ErrOther
}
