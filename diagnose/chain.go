package diagnose

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chaoslab/chaoslab/load"
)

// CertInfo is one certificate as s_client -showcerts shows it.
type CertInfo struct {
	Subject   string // as Go prints it: "CN=localhost,O=chaoslab"
	Issuer    string
	NotBefore time.Time
	NotAfter  time.Time
	DNSNames  []string
	IPs       []string
	IsCA      bool
	// SelfSigned: issuer equals subject and the certificate's own key
	// checks its signature.
	SelfSigned bool
	Cert       *x509.Certificate
}

// ChainReport is what a client was shown by a TLS server and what it made
// of it.
type ChainReport struct {
	Target     string // host:port dialled (through the proxy when set)
	ServerName string // SNI and the name verified
	Proxy      string // proxy URL, "" when direct
	TLSVersion string
	// Certs are as presented, leaf first.
	Certs []CertInfo
	// VerifyErr is how a Go client with the given roots judges the chain
	// (the error crypto/tls would return); nil when it is trusted.
	VerifyErr error
	// GoKind is TLSErrorKind(VerifyErr).
	GoKind load.ErrorKind
	// VerifyCode and VerifyText are OpenSSL's verdict on the same chain
	// (X509_V_* code, 0 "ok"), as curl and s_client -verify_return_error
	// report it.
	VerifyCode int
	VerifyText string
	// HandshakeErr is set when the handshake failed after the server's
	// certificates arrived, e.g. TLS 1.2 servers requiring a client
	// certificate.
	HandshakeErr error
}

// OK says whether a client with the given roots would trust the server.
func (r *ChainReport) OK() bool { return r.VerifyErr == nil && r.VerifyCode == CodeOK }

// Issuer is the issuer of the leaf ("" when no certificate was presented).
func (r *ChainReport) Issuer() string {
	if len(r.Certs) == 0 {
		return ""
	}
	return r.Certs[0].Issuer
}

// Chain connects to target (host:port) directly or through the HTTP proxy
// at proxyURL with CONNECT, completes a TLS handshake with serverName as
// SNI (target's host when empty), and reports the presented chain and how
// a client trusting roots (nil: system roots) judges it. Verification
// failures are in the report; the error is for not getting that far.
func Chain(ctx context.Context, target, serverName, proxyURL string, roots *x509.CertPool) (*ChainReport, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("diagnose: target %q: want host:port", target)
	}
	if serverName == "" {
		serverName = host
	}
	rep := &ChainReport{Target: target, ServerName: serverName, Proxy: proxyURL}
	conn, err := dial(ctx, target, proxyURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var presented []*x509.Certificate
	tc := tls.Client(conn, &tls.Config{
		ServerName: serverName,
		// We verify ourselves below, twice (Go's way and OpenSSL's), and we
		// want the certificates even when they are not trusted.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			presented = cs.PeerCertificates
			return nil
		},
	})
	herr := tc.HandshakeContext(ctx)
	if len(presented) == 0 {
		if herr == nil {
			herr = errors.New("no certificate presented")
		}
		return nil, fmt.Errorf("diagnose: TLS handshake with %s: %w", target, herr)
	}
	rep.HandshakeErr = herr
	if herr == nil {
		rep.TLSVersion = tls.VersionName(tc.ConnectionState().Version)
	}
	for _, c := range presented {
		rep.Certs = append(rep.Certs, certInfo(c))
	}
	rep.VerifyErr = goVerify(presented, roots, serverName)
	rep.GoKind = TLSErrorKind(rep.VerifyErr)
	rep.VerifyCode = opensslVerify(presented, roots, serverName, time.Now())
	rep.VerifyText = VerifyText(rep.VerifyCode)
	return rep, nil
}

// goVerify is crypto/tls's client verification, wrapped the way crypto/tls
// wraps it, so the text matches what a Go client logs.
func goVerify(certs []*x509.Certificate, roots *x509.CertPool, name string) error {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name})
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}

func certInfo(c *x509.Certificate) CertInfo {
	ci := CertInfo{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		DNSNames: c.DNSNames, IsCA: c.IsCA, SelfSigned: selfSigned(c), Cert: c,
	}
	for _, ip := range c.IPAddresses {
		ci.IPs = append(ci.IPs, ip.String())
	}
	return ci
}

// dial opens a TCP connection to target, through an HTTP CONNECT proxy
// when proxyURL is set ("http://host:port" or "host:port").
func dial(ctx context.Context, target, proxyURL string) (net.Conn, error) {
	var d net.Dialer
	if proxyURL == "" {
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return nil, fmt.Errorf("diagnose: %w", err)
		}
		return c, nil
	}
	if !strings.Contains(proxyURL, "://") {
		proxyURL = "http://" + proxyURL
	}
	pu, err := url.Parse(proxyURL)
	if err != nil || pu.Scheme != "http" || pu.Host == "" {
		return nil, fmt.Errorf("diagnose: proxy %q: want http://host:port", proxyURL)
	}
	c, err := d.DialContext(ctx, "tcp", pu.Host)
	if err != nil {
		return nil, fmt.Errorf("diagnose: proxy: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("diagnose: proxy CONNECT %s: %w", target, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("diagnose: proxy CONNECT %s: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		c.Close()
		return nil, fmt.Errorf("diagnose: proxy CONNECT %s: %s: %s", target, resp.Status, strings.TrimSpace(string(body)))
	}
	// A 200 to CONNECT has no body; the server speaks first only after our
	// ClientHello, so nothing of the tunnel is left in br.
	return c, nil
}
