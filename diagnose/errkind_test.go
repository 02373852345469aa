package diagnose

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/pki"

	"github.com/chaoslab/chaoslab/load"
)

func TestTLSErrorKindUnwraps(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://x", Err: &tls.CertificateVerificationError{Err: err}}
	}
	future := &x509.Certificate{NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(2 * time.Hour)}
	past := &x509.Certificate{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}
	for _, tc := range []struct {
		err  error
		want load.ErrorKind
	}{
		{nil, ""},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), ""},
		{wrap(x509.UnknownAuthorityError{}), load.ErrUnknownAuthority},
		{fmt.Errorf("call: %w", wrap(x509.HostnameError{Host: "x"})), load.ErrHostname},
		{wrap(x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time 2026 is after 2025"}), load.ErrExpired},
		{wrap(x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time 2025 is before 2026"}), load.ErrNotYetValid},
		{wrap(x509.CertificateInvalidError{Reason: x509.Expired, Cert: future}), load.ErrNotYetValid},
		{wrap(x509.CertificateInvalidError{Reason: x509.Expired, Cert: past}), load.ErrExpired},
		{wrap(x509.CertificateInvalidError{Reason: x509.IncompatibleUsage}), load.ErrInvalidCertificate},
		{&url.Error{Err: &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}}, load.ErrBadCertificate},
		{&net.OpError{Op: "remote error", Err: errors.New("tls: unknown certificate authority")}, load.ErrBadCertificate},
		{&net.OpError{Op: "remote error", Err: errors.New("tls: protocol version not supported")}, load.ErrTLSAlert},
		{errors.New("readLoopPeekFailLocked: remote error: tls: bad certificate"), load.ErrBadCertificate},
		{&net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, ""},
	} {
		if got := TLSErrorKind(tc.err); got != tc.want {
			t.Errorf("TLSErrorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// The kinds of the errors a real Go HTTP client gets from real servers.
func TestTLSErrorKindOfRealClientErrors(t *testing.T) {
	get := func(url string, roots *x509.CertPool) error {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, tc := range variantCases {
		t.Run(tc.name, func(t *testing.T) {
			srv, s := labServer(t, tc.flags)
			if got := TLSErrorKind(get(srv.URL, s.ClientRoots)); got != tc.kind {
				t.Fatalf("got %q, want %q", got, tc.kind)
			}
		})
	}
	t.Run("server requires a client certificate", func(t *testing.T) {
		srv, s := labServer(t, pki.ServerTLSFlags{ClientAuth: pki.ClientAuthRequire})
		err := get(srv.URL, s.ClientRoots)
		if got := TLSErrorKind(err); got != load.ErrBadCertificate {
			t.Fatalf("got %q for %v", got, err)
		}
	})
	t.Run("plain HTTP server is not a TLS fault", func(t *testing.T) {
		plain := httptest.NewServer(http.NotFoundHandler())
		defer plain.Close()
		err := get("https://"+plain.Listener.Addr().String(), nil)
		if err == nil || TLSErrorKind(err) != "" {
			t.Fatalf("got %q for %v", TLSErrorKind(err), err)
		}
	})
}
