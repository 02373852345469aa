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
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab/chaoslab/fakes/pki"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// labServer is an HTTPS origin with a lab hierarchy; its body names the
// client certificate it saw.
func labServer(t *testing.T, flags pki.ServerTLSFlags) (*httptest.Server, *pki.ServerTLS) {
	t.Helper()
	flags.Enabled = true
	s, err := flags.BuildServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, iss := s.ClientCertStatus(r)
		fmt.Fprintf(w, "origin says hi|%s|%s", st, iss)
	}))
	srv.TLS = s.Config
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); _ = s.Files.Remove() })
	return srv, s
}

func startProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

type clientOpts struct {
	roots *x509.CertPool
	cert  *tls.Certificate
}

// get fetches url through the proxy and returns status, body and the issuer
// of the certificate the client was shown.
func get(t *testing.T, p *Proxy, target string, o clientOpts) (int, string, string, error) {
	t.Helper()
	pu, _ := url.Parse(p.URL())
	cfg := &tls.Config{RootCAs: o.roots}
	if o.cert != nil {
		cfg.Certificates = []tls.Certificate{*o.cert}
	}
	tr := &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	issuer := ""
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		issuer = resp.TLS.PeerCertificates[0].Issuer.String()
	}
	return resp.StatusCode, string(b), issuer, err
}

// waitLog polls the connection log until an entry matches: entries land
// when the proxy's side of a handshake ends, which can be just after the
// client gave up.
func waitLog(t *testing.T, p *Proxy, what string, match func(ConnLog) bool) ConnLog {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range p.Connections() {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log entry %s in:\n%s", what, strings.Join(p.LogLines(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInspectResignsWithProxyCA(t *testing.T) {
	srv, lab := labServer(t, pki.ServerTLSFlags{})
	p := startProxy(t, Config{UpstreamRoots: lab.ClientRoots})
	proxyRoots := pki.Pool(p.CA())
	proxyCA := p.CA().Subject.String()

	status, body, issuer, err := get(t, p, srv.URL, clientOpts{roots: proxyRoots})
	if err != nil || status != 200 || !strings.HasPrefix(body, "origin says hi|absent") {
		t.Fatalf("trusting the proxy CA: %d %q %v", status, body, err)
	}
	if issuer != proxyCA {
		t.Fatalf("client saw issuer %q, want the proxy CA %q", issuer, proxyCA)
	}
	ok := waitLog(t, p, "inspect ok", func(l ConnLog) bool { return l.ClientHandshake == "ok" })
	if ok.Mode != LogInspect || ok.PresentedIssuer != proxyCA || ok.UpstreamVerify != "ok" ||
		ok.UpstreamIssuer != lab.Intermediate.Cert.Subject.String() || ok.Requests != 1 {
		t.Fatalf("log entry %+v", ok)
	}

	// The incident: a client trusting only the real PKI rejects the proxy.
	_, _, _, err = get(t, p, srv.URL, clientOpts{roots: lab.ClientRoots})
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		t.Fatalf("trusting only the lab root through the proxy: want unknown authority, got %v", err)
	}
	// Go clients answer an untrusted chain with a "bad certificate" alert
	// (OpenSSL ones with "unknown certificate authority": see the real
	// clients test).
	rejected := waitLog(t, p, "client rejecting the proxy CA", func(l ConnLog) bool {
		return strings.Contains(l.ClientHandshake, "remote error: tls: bad certificate")
	})
	if rejected.UpstreamVerify != "ok" {
		t.Fatalf("upstream was fine, log says %q", rejected.UpstreamVerify)
	}
	if !strings.Contains(rejected.String(), `client_handshake="remote error: tls: bad certificate"`) {
		t.Fatalf("text line: %s", rejected)
	}
}

func TestInspectReportsUpstreamVerifyFailureAs502(t *testing.T) {
	srv, lab := labServer(t, pki.ServerTLSFlags{})
	// Proxy verifies with the system roots, which do not hold the lab root.
	p := startProxy(t, Config{})
	status, body, _, err := get(t, p, srv.URL, clientOpts{roots: pki.Pool(p.CA())})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusBadGateway || !strings.Contains(body, "x509: certificate signed by unknown authority") {
		t.Fatalf("want 502 naming the verify error, got %d %q", status, body)
	}
	l := waitLog(t, p, "upstream verify failure", func(l ConnLog) bool { return l.UpstreamVerify != "" })
	if !strings.Contains(l.UpstreamVerify, "certificate signed by unknown authority") ||
		l.UpstreamIssuer != lab.Intermediate.Cert.Subject.String() {
		t.Fatalf("log entry %+v", l)
	}

	// Upstream faults other than trust are reported the same way.
	expired, _ := labServer(t, pki.ServerTLSFlags{Cert: pki.Expired})
	p2 := startProxy(t, Config{UpstreamRoots: lab.ClientRoots})
	status, body, _, err = get(t, p2, expired.URL, clientOpts{roots: pki.Pool(p2.CA())})
	if err != nil || status != 502 || !strings.Contains(body, "certificate has expired or is not yet valid") {
		t.Fatalf("expired upstream: %d %q %v", status, body, err)
	}
}

func TestTunnelPassesTheOriginChain(t *testing.T) {
	srv, lab := labServer(t, pki.ServerTLSFlags{})
	p := startProxy(t, Config{Mode: Tunnel})
	status, body, issuer, err := get(t, p, srv.URL, clientOpts{roots: lab.ClientRoots})
	if err != nil || status != 200 || !strings.HasPrefix(body, "origin says hi") {
		t.Fatalf("%d %q %v", status, body, err)
	}
	if issuer != lab.Intermediate.Cert.Subject.String() {
		t.Fatalf("tunnel: client saw issuer %q, want the origin's", issuer)
	}
	if _, _, _, err := get(t, p, srv.URL, clientOpts{roots: pki.Pool(p.CA())}); err == nil {
		t.Fatal("tunnel: the proxy CA must not be able to vouch for the origin")
	}
	l := waitLog(t, p, "tunnel", func(l ConnLog) bool { return true })
	if l.Mode != LogTunnel || l.PresentedIssuer != "" || l.UpstreamVerify != "" || l.Bypassed {
		t.Fatalf("log entry %+v", l)
	}
	if p.Minted() != 0 {
		t.Fatalf("tunnel minted %d certificates", p.Minted())
	}
}

func TestBypassTunnelsListedHostsOnly(t *testing.T) {
	srv, lab := labServer(t, pki.ServerTLSFlags{})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	p := startProxy(t, Config{Bypass: []string{"localhost"}, UpstreamRoots: lab.ClientRoots})

	_, _, issuer, err := get(t, p, fmt.Sprintf("https://localhost:%d/", port), clientOpts{roots: lab.ClientRoots})
	if err != nil || issuer != lab.Intermediate.Cert.Subject.String() {
		t.Fatalf("bypassed host: issuer %q, %v", issuer, err)
	}
	_, _, issuer, err = get(t, p, fmt.Sprintf("https://127.0.0.1:%d/", port), clientOpts{roots: pki.Pool(p.CA())})
	if err != nil || issuer != p.CA().Subject.String() {
		t.Fatalf("other host: issuer %q, %v", issuer, err)
	}
	waitLog(t, p, "bypass", func(l ConnLog) bool {
		return l.Mode == LogTunnel && l.Bypassed && strings.HasPrefix(l.Host, "localhost:")
	})
	waitLog(t, p, "inspect", func(l ConnLog) bool { return l.Mode == LogInspect && strings.HasPrefix(l.Host, "127.0.0.1:") })
}

func TestBypassMatching(t *testing.T) {
	c := Config{Bypass: []string{"api.bank.test", "*.corp.test", ".pay.test", "10.0.0.1:8443"}}
	for target, want := range map[string]bool{
		"api.bank.test:443": true, "API.Bank.test:443": true, "www.bank.test:443": false,
		"corp.test:443": true, "a.b.corp.test:443": true, "notcorp.test:443": false,
		"pay.test:443": true, "x.pay.test:443": true,
		"10.0.0.1:8443": true, "10.0.0.1:443": false,
	} {
		if got := c.bypassed(target); got != want {
			t.Errorf("bypassed(%q) = %v, want %v", target, got, want)
		}
	}
}

func TestMTLSThroughTheProxy(t *testing.T) {
	srv, lab := labServer(t, pki.ServerTLSFlags{ClientAuth: pki.ClientAuthRequest})
	labClient := lab.Client.TLSCertificate(pki.ChainFull)
	labIssuer := lab.Root.Cert.Subject.String()

	t.Run("inspect: the server sees the proxy, no client cert", func(t *testing.T) {
		p := startProxy(t, Config{UpstreamRoots: lab.ClientRoots})
		_, body, _, err := get(t, p, srv.URL, clientOpts{roots: pki.Pool(p.CA()), cert: &labClient})
		if err != nil || body != "origin says hi|absent|" {
			t.Fatalf("%q %v", body, err)
		}
	})
	t.Run("tunnel: the client's own cert arrives", func(t *testing.T) {
		p := startProxy(t, Config{Mode: Tunnel})
		_, body, _, err := get(t, p, srv.URL, clientOpts{roots: lab.ClientRoots, cert: &labClient})
		if err != nil || body != "origin says hi|success|"+labIssuer {
			t.Fatalf("%q %v", body, err)
		}
	})
	t.Run("inspect with two-hop mTLS: the proxy's cert arrives", func(t *testing.T) {
		p := startProxy(t, Config{UpstreamRoots: lab.ClientRoots, ClientCert: &labClient})
		_, body, _, err := get(t, p, srv.URL, clientOpts{roots: pki.Pool(p.CA())})
		if err != nil || body != "origin says hi|success|"+labIssuer {
			t.Fatalf("%q %v", body, err)
		}
	})
	t.Run("inspect, server requires a cert, proxy has none: 502", func(t *testing.T) {
		req, lab2 := labServer(t, pki.ServerTLSFlags{ClientAuth: pki.ClientAuthRequire})
		p := startProxy(t, Config{UpstreamRoots: lab2.ClientRoots})
		status, body, _, err := get(t, p, req.URL, clientOpts{roots: pki.Pool(p.CA())})
		if err != nil || status != 502 || !strings.Contains(body, "certificate required") {
			t.Fatalf("%d %q %v", status, body, err)
		}
		waitLog(t, p, "upstream error", func(l ConnLog) bool { return strings.Contains(l.UpstreamError, "certificate required") })
	})
}

func TestPlainHTTPIsProxied(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprintf(w, "plain %s", r.URL.Path)
	}))
	defer origin.Close()
	p := startProxy(t, Config{})
	status, body, _, err := get(t, p, origin.URL+"/x", clientOpts{})
	if err != nil || status != http.StatusTeapot || body != "plain /x" {
		t.Fatalf("%d %q %v", status, body, err)
	}
	l := waitLog(t, p, "http", func(l ConnLog) bool { return l.Mode == LogHTTP })
	if l.Status != http.StatusTeapot || l.Host != origin.Listener.Addr().String() {
		t.Fatalf("log entry %+v", l)
	}

	closed := closedPort(t)
	status, body, _, err = get(t, p, "http://"+closed+"/", clientOpts{})
	if err != nil || status != http.StatusBadGateway || !strings.Contains(body, "connection refused") {
		t.Fatalf("closed port: %d %q %v", status, body, err)
	}
}

func TestConnectToClosedPortIs502(t *testing.T) {
	p := startProxy(t, Config{})
	closed := closedPort(t)
	_, _, _, err := get(t, p, "https://"+closed+"/", clientOpts{})
	if err == nil || !strings.Contains(err.Error(), "Bad Gateway") {
		t.Fatalf("want the CONNECT refused with 502, got %v", err)
	}
	l := waitLog(t, p, "dial failure", func(l ConnLog) bool { return l.Host == closed })
	if !strings.Contains(l.UpstreamVerify, "connection refused") {
		t.Fatalf("log entry %+v", l)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// connectTLS opens a raw CONNECT tunnel and a TLS client on it.
func connectTLS(t *testing.T, p *Proxy, target, sni string, roots *x509.CertPool) (*tls.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		c.Close()
		return nil, fmt.Errorf("CONNECT: %v %v", resp, err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: sni, RootCAs: roots})
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

func TestMintedLeafIsCachedPerHost(t *testing.T) {
	srv, lab := labServer(t, pki.ServerTLSFlags{SANs: []string{"localhost", "api.lab.test", "127.0.0.1"}})
	p := startProxy(t, Config{UpstreamRoots: lab.ClientRoots})
	roots := pki.Pool(p.CA())
	target := srv.Listener.Addr().String()
	serial := func(sni string) string {
		c, err := connectTLS(t, p, target, sni, roots)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		leaf := c.ConnectionState().PeerCertificates[0]
		if err := leaf.VerifyHostname(sni); err != nil {
			t.Fatalf("minted leaf does not name %s: %v", sni, err)
		}
		return leaf.SerialNumber.String()
	}
	a, b := serial("localhost"), serial("localhost")
	if a != b || p.Minted() != 1 {
		t.Fatalf("same host twice: serials %s %s, minted %d", a, b, p.Minted())
	}
	if c := serial("api.lab.test"); c == a || p.Minted() != 2 {
		t.Fatalf("another host must get its own leaf: minted %d", p.Minted())
	}
	l := waitLog(t, p, "sni", func(l ConnLog) bool { return l.SNI == "api.lab.test" })
	if l.UpstreamVerify != "ok" {
		t.Fatalf("the proxy must verify the origin with the client's SNI: %+v", l)
	}
}

func TestCloseEndsHijackedConnections(t *testing.T) {
	srv, lab := labServer(t, pki.ServerTLSFlags{})
	dir := t.TempDir()
	p, err := Start(context.Background(), Config{UpstreamRoots: lab.ClientRoots, Bypass: []string{"localhost"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	inspected, err := connectTLS(t, p, srv.Listener.Addr().String(), "127.0.0.1", pki.Pool(p.CA()))
	if err != nil {
		t.Fatal(err)
	}
	defer inspected.Close()
	tunnelled, err := connectTLS(t, p, fmt.Sprintf("localhost:%d", port), "localhost", lab.ClientRoots)
	if err != nil {
		t.Fatal(err)
	}
	defer tunnelled.Close()
	if _, err := os.Stat(p.CAPath()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*tls.Conn{"inspected": inspected, "tunnelled": tunnelled} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s connection still open after Close: %v", name, err)
		}
	}
	if _, err := os.Stat(p.CAPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CA file left behind: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the caller's directory must stay: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Error("listener still accepting after Close")
	}
}

func TestTempCADirRemovedOnClose(t *testing.T) {
	p, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := p.CAPath()[:strings.LastIndex(p.CAPath(), "/")]
	pem, err := os.ReadFile(p.CAPath())
	if err != nil || !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Fatalf("CA PEM: %v", err)
	}
	if !pki.Pool(p.CA()).Equal(mustPool(t, p.CAPath())) {
		t.Fatal("CA PEM is not the proxy CA")
	}
	_ = p.Close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp dir %s left: %v", dir, err)
	}
}

func mustPool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	pool, err := pki.LoadPool(path)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func TestServesCAAndRejectsOriginForm(t *testing.T) {
	p := startProxy(t, Config{})
	resp, err := http.Get(p.URL() + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := os.ReadFile(p.CAPath())
	if resp.StatusCode != 200 || string(b) != string(want) {
		t.Fatalf("/ca.pem: %d", resp.StatusCode)
	}
	resp, err = http.Get(p.URL() + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("origin-form request: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}
