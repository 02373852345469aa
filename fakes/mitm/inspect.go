package mitm

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
	"strings"
)

// inspect terminates the client's TLS with a minted certificate and relays
// HTTP/1.1 requests over the proxy's own TLS connection to the server.
//
// The server is contacted while the client's handshake is in progress (in
// GetCertificate, once the client's SNI is known), like Squid's
// "ssl_bump stare": the proxy verifies the real server with the name the
// client asked for. A failed verification does not stop the client's
// handshake; every request on that connection is then answered 502 with
// the error text, so the client sees what the proxy saw.
func (p *Proxy) inspect(client, up net.Conn, target string, entry ConnLog) {
	host, _, _ := net.SplitHostPort(target)
	var (
		upTLS   *tls.Conn
		upErr   error
		upstart bool
	)
	cfg := &tls.Config{
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := hello.ServerName
			if name == "" {
				name = host // clients send no SNI for IP addresses
			}
			if !upstart {
				upstart = true
				entry.SNI = hello.ServerName
				upTLS, upErr = p.upstreamTLS(hello.Context(), up, name)
				entry.UpstreamIssuer, entry.UpstreamVerify = upstreamVerdict(upTLS, upErr)
			}
			return p.certs.get(name, host)
		},
	}
	entry.PresentedIssuer = p.ca.Cert.Subject.String()
	sniff := &alertSniffer{Conn: client}
	clientTLS := tls.Server(sniff, cfg)
	ctx, cancel := context.WithTimeout(p.ctx, handshakeTimeout)
	err := clientTLS.HandshakeContext(ctx)
	cancel()
	if err != nil {
		entry.ClientHandshake = err.Error()
		if alert := sniff.sniffedAlert(); alert != "" && !strings.HasPrefix(err.Error(), "remote error:") {
			entry.ClientHandshake = alert + " (plaintext alert; crypto/tls said: " + err.Error() + ")"
		}
		p.record(entry)
		return
	}
	entry.ClientHandshake = "ok"
	p.record(entry)
	p.relay(clientTLS, upTLS, upErr, target, entry.ID)
	_ = clientTLS.Close()
}

// upstreamTLS is the proxy's own TLS client handshake with the server,
// verifying it against the configured roots and presenting the proxy's
// client certificate when the server asks (two-hop mTLS).
func (p *Proxy) upstreamTLS(ctx context.Context, up net.Conn, name string) (*tls.Conn, error) {
	cfg := &tls.Config{
		ServerName: name,
		RootCAs:    p.upstreamRoots,
		NextProtos: []string{"http/1.1"},
	}
	if p.clientCert != nil {
		// Always offer it: with Certificates, Go would withhold a certificate
		// whose issuer is not in the server's acceptable-CA list, and real
		// proxies configured with a client certificate just send it.
		cc := p.clientCert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cc, nil }
	}
	c := tls.Client(up, cfg)
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// upstreamVerdict is the issuer the server presented and "ok" or the error.
func upstreamVerdict(c *tls.Conn, err error) (issuer, verdict string) {
	if err != nil {
		var ve *tls.CertificateVerificationError
		if errors.As(err, &ve) && len(ve.UnverifiedCertificates) > 0 {
			issuer = ve.UnverifiedCertificates[0].Issuer.String()
		}
		return issuer, err.Error()
	}
	if certs := c.ConnectionState().PeerCertificates; len(certs) > 0 {
		issuer = certs[0].Issuer.String()
	}
	return issuer, "ok"
}

// relay forwards requests one at a time (HTTP/1.1 keep-alive) until either
// side closes.
func (p *Proxy) relay(client *tls.Conn, up *tls.Conn, upErr error, target string, id int64) {
	fail := func(req *http.Request, err error) {
		p.amend(id, func(l *ConnLog) {
			if l.UpstreamError == "" {
				l.UpstreamError = err.Error()
			}
		}, fmt.Sprintf("upstream_error=%q", err.Error()))
		writeBadGateway(client, req, target, err)
	}
	br := bufio.NewReader(client)
	var upBR *bufio.Reader
	if up != nil {
		upBR = bufio.NewReader(up)
	}
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		p.amend(id, func(l *ConnLog) { l.Requests++ }, "")
		if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
			// We forward the body straight away, so say "go on" ourselves
			// rather than leave the client waiting for its timeout.
			req.Header.Del("Expect")
			if _, err := io.WriteString(client, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
				return
			}
		}
		if upErr != nil {
			// Already in the log as upstream_verify; only answer.
			writeBadGateway(client, req, target, upErr)
			return
		}
		if err := req.Write(up); err != nil {
			fail(req, err)
			return
		}
		resp, err := readFinalResponse(upBR, req, client)
		if err != nil {
			// TLS 1.3 servers reject a missing client certificate only after
			// the handshake, so "certificate required" shows up here.
			fail(req, err)
			return
		}
		err = resp.Write(client)
		_ = resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
			// WebSocket and friends: the rest is not HTTP any more.
			p.pipe(&bufferedConn{Conn: client, r: br}, &bufferedConn{Conn: up, r: upBR})
			return
		}
		if err != nil || resp.Close || req.Close {
			return
		}
	}
}

// readFinalResponse reads the server's response, passing interim 1xx
// responses (103 Early Hints, 100 Continue) on to the client first.
func readFinalResponse(upBR *bufio.Reader, req *http.Request, client io.Writer) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(upBR, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if err := resp.Write(client); err != nil {
			return nil, err
		}
	}
}

// writeBadGateway answers the client the way an inspecting proxy reports a
// server it could not (securely) reach: 502 with the error text and an
// RFC 9209 Proxy-Status header.
func writeBadGateway(w io.Writer, req *http.Request, target string, err error) {
	body := fmt.Sprintf("chaoslab mitm: upstream %s: %v\n", target, err)
	resp := &http.Response{
		StatusCode: http.StatusBadGateway,
		ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Content-Type": {"text/plain; charset=utf-8"},
			"Proxy-Status": {"chaoslab-mitm; error=" + proxyStatusError(err)},
		},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Close:         true,
		Request:       req,
	}
	_ = resp.Write(w)
}

func proxyStatusError(err error) string {
	var ve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var op *net.OpError
	switch {
	case errors.As(err, &ve) || errors.As(err, &ua):
		return "tls_certificate_error"
	case errors.As(err, &op) && op.Op == "remote error":
		return "tls_alert_received"
	case strings.Contains(err.Error(), "remote error: tls:"):
		return "tls_alert_received"
	default:
		return "proxy_internal_error"
	}
}
