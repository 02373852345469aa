package kong

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Each service gets its own http.Transport: a keep-alive pool like Kong's
// upstream keepalive pool, with the service's connect timeout on dial, its
// read timeout as the wait for response headers, its write timeout on every
// write, and its TLS settings. Errors are typed by phase so the proxy can
// log nginx's exact line and apply nginx's retry rules.

// connectError is a failure before the request was sent: retried for every
// method.
type connectError struct {
	msg     string // nginx's text, without the trailing context
	context string // "while connecting to upstream", "while SSL handshaking to upstream"
	timeout bool
	err     error
}

func (e *connectError) Error() string { return e.msg + " " + e.context }
func (e *connectError) Unwrap() error { return e.err }

// sendError is a failure while writing the request to the upstream.
type sendError struct{ err error }

func (e *sendError) Error() string { return "send: " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

type sniKey struct{}

// withSNI carries the TLS server name (the upstream Host) to the dialer:
// nginx's proxy_ssl_name is $upstream_host.
func withSNI(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, sniKey{}, name)
}

type upstreamDialer struct {
	connectTimeout   time.Duration
	writeTimeout     time.Duration
	allowNonLoopback bool
	tls              *tls.Config // nil for http services
	verify           bool
	verifyDepth      int
	roots            *x509.CertPool
}

func (d *upstreamDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.dialRaw(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if d.writeTimeout > 0 {
		return &deadlineConn{Conn: c, writeTimeout: d.writeTimeout}, nil
	}
	return c, nil
}

// dialRaw connects within connect_timeout; errors are nginx-worded.
func (d *upstreamDialer) dialRaw(ctx context.Context, network, addr string) (net.Conn, error) {
	if !d.allowNonLoopback {
		if err := checkLoopback(addr); err != nil {
			return nil, err
		}
	}
	nd := net.Dialer{Timeout: d.connectTimeout, KeepAlive: 30 * time.Second}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, classifyDialError(err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return c, nil
}

// checkLoopback keeps the emulation's traffic on the machine unless the
// lab explicitly allows otherwise (Options.AllowNonLoopback).
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return &connectError{msg: "connect() failed (22: Invalid argument)", context: "while connecting to upstream", err: err}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return &connectError{msg: "connect() failed (1: Operation not permitted: the emulation only connects to loopback addresses)", context: "while connecting to upstream", err: fmt.Errorf("non-loopback address %s", addr)}
	}
	return nil
}

func (d *upstreamDialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := d.dialRaw(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	sni, _ := ctx.Value(sniKey{}).(string)
	cfg := d.tls.Clone()
	if ip := net.ParseIP(sni); ip == nil {
		cfg.ServerName = sni // nginx sends no SNI for an IP
	}
	if d.verify {
		// Verify ourselves so the error can name OpenSSL's code and the
		// name nginx checked, like "upstream SSL certificate does not match".
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return d.verifyPeer(cs, sni) }
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, d.connectTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, classifyTLSError(err)
	}
	return tc, nil
}

// verifyError is a certificate verification failure, worded like nginx.
type verifyError struct{ msg string }

func (e *verifyError) Error() string { return e.msg }

func (d *upstreamDialer) verifyPeer(cs tls.ConnectionState, name string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &verifyError{"upstream SSL certificate verify error: (20:unable to get local issuer certificate)"}
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: d.roots, Intermediates: inter})
	if err != nil {
		return &verifyError{"upstream SSL certificate verify error: " + opensslVerifyReason(err, certs)}
	}
	if d.verifyDepth > 0 {
		ok := false
		for _, ch := range chains {
			if len(ch)-1 <= d.verifyDepth {
				ok = true
			}
		}
		if !ok {
			return &verifyError{"upstream SSL certificate verify error: (22:certificate chain too long)"}
		}
	}
	if name != "" {
		if err := verifyName(certs[0], name); err != nil {
			return &verifyError{fmt.Sprintf("upstream SSL certificate does not match \"%s\"", name)}
		}
	}
	return nil
}

// opensslVerifyReason maps Go's verification error to OpenSSL's
// "(code:reason)" that nginx logs.
func opensslVerifyReason(err error, certs []*x509.Certificate) string {
	var ce x509.CertificateInvalidError
	if errors.As(err, &ce) {
		switch ce.Reason {
		case x509.Expired:
			if time.Now().Before(ce.Cert.NotBefore) {
				return "(9:certificate is not yet valid)"
			}
			return "(10:certificate has expired)"
		case x509.CANotAuthorizedForThisName, x509.NotAuthorizedToSign:
			return "(24:invalid CA certificate)"
		}
		return "(26:unsupported certificate purpose)"
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		leaf := certs[0]
		if len(certs) == 1 && selfSigned(leaf) {
			return "(18:self-signed certificate)"
		}
		last := certs[len(certs)-1]
		if len(certs) > 1 && selfSigned(last) {
			return "(19:self-signed certificate in certificate chain)"
		}
		return "(20:unable to get local issuer certificate)"
	}
	return "(20:unable to get local issuer certificate)"
}

func selfSigned(c *x509.Certificate) bool {
	// Not CheckSignatureFrom: it insists the signer be a CA, OpenSSL's
	// "self-signed" does not.
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func classifyTLSError(err error) error {
	var ve *verifyError
	if errors.As(err, &ve) {
		return &connectError{msg: ve.msg, context: "while SSL handshaking to upstream", err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return &connectError{msg: "upstream timed out (110: Connection timed out)", context: "while SSL handshaking to upstream", timeout: true, err: err}
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return &connectError{msg: "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)", context: "while SSL handshaking to upstream", err: err}
	}
	if isReset(err) {
		return &connectError{msg: "SSL_do_handshake() failed (SSL: error:0A000126:SSL routines::unexpected eof while reading)", context: "while SSL handshaking to upstream", err: err}
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return &connectError{msg: fmt.Sprintf("SSL_do_handshake() failed (SSL: error:0A000410:SSL routines::ssl/tls alert %s)", tls.AlertError(alert).Error()[len("tls: "):]), context: "while SSL handshaking to upstream", err: err}
	}
	return &connectError{msg: "SSL_do_handshake() failed (SSL: " + err.Error() + ")", context: "while SSL handshaking to upstream", err: err}
}

func classifyDialError(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return &connectError{msg: "upstream timed out (110: Connection timed out)", context: "while connecting to upstream", timeout: true, err: err}
	case isErrno(err, errConnRefused):
		return &connectError{msg: "connect() failed (111: Connection refused)", context: "while connecting to upstream", err: err}
	case isErrno(err, errHostUnreach):
		return &connectError{msg: "connect() failed (113: No route to host)", context: "while connecting to upstream", err: err}
	case isErrno(err, errNetUnreach):
		return &connectError{msg: "connect() failed (101: Network is unreachable)", context: "while connecting to upstream", err: err}
	}
	return &connectError{msg: "connect() failed (" + err.Error() + ")", context: "while connecting to upstream", err: err}
}

// deadlineConn applies nginx's proxy_send_timeout: each write must make
// progress within writeTimeout. Write errors are tagged so the proxy knows
// the request was being sent.
type deadlineConn struct {
	net.Conn
	writeTimeout time.Duration
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	n, err := c.Conn.Write(b)
	if err != nil {
		return n, &sendError{err: err}
	}
	return n, nil
}

// verifyName checks the name nginx checks (ngx_ssl_check_host, i.e.
// X509_check_host): DNS names only. An upstream reached by IP matches only a
// DNS SAN spelled like that IP, never an IP SAN, so real Kong with
// tls_verify rejects it ("does not match \"127.0.0.1\"").
func verifyName(cert *x509.Certificate, name string) error {
	if net.ParseIP(name) == nil {
		return cert.VerifyHostname(name)
	}
	for _, n := range cert.DNSNames {
		if n == name {
			return nil
		}
	}
	if len(cert.DNSNames) == 0 && cert.Subject.CommonName == name {
		return nil
	}
	return fmt.Errorf("%s is not among the certificate's DNS names", name)
}
