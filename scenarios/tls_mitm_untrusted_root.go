package scenarios

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/diagnose"
	"github.com/chaoslab/chaoslab/fakes/mitm"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "tls/mitm-untrusted-root",
		Title: "A TLS-inspecting proxy re-signs the server's certificate with a root the client does not trust",
		Symptom: ">= 95% x509: certificate signed by unknown authority through the inspecting proxy, whose issuer differs " +
			"from the direct one; >= 99% success once the client trusts the proxy's root, or once the proxy tunnels the host",
		Story: `A company rolls out a TLS-inspecting proxy. Browsers are fine: the desktop team pushed the proxy's root CA ` +
			`into the operating system's store. Everything else breaks at once: containers, the JVM, Python virtualenvs, Go ` +
			`binaries built FROM scratch all carry their own trust store. curl says "unable to get local issuer certificate" ` +
			`(exit 60), Java "unable to find valid certification path", Go "x509: certificate signed by unknown authority". ` +
			`The server's certificate is fine, which is what makes the ticket bounce between teams: from outside the proxy ` +
			`everything verifies.`,
		Lesson: `The error says the client could not chain the certificate it was shown to a root it trusts. Before ` +
			`touching the server, check whether the certificate the client sees is the server's at all: compare the issuer ` +
			`seen through the proxy with the issuer seen directly (openssl s_client with and without -proxy). A different ` +
			`issuer, usually the company's own CA, means the proxy terminates TLS and mints a certificate per host; the ` +
			`server's chain is irrelevant to this client.

Two fixes. Trust the proxy's root in the client's own trust store (the JVM's cacerts, the image's ` +
			`ca-certificates, SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS): the connection is still inspected. ` +
			`Or have the proxy tunnel the host untouched (bypass list, or NO_PROXY when the host is reachable without the ` +
			`proxy): the client then sees the server's real issuer again. Do not switch verification off: the error is the ` +
			`only thing telling you someone is in the middle.`,
		New: func() Play { return &mitmUntrustedRoot{} },
	})
}

type mitmUntrustedRoot struct {
	up              *lab.Upstream
	inspect, bypass *tlsProxy
	serverRoots     *x509.CertPool
}

func (x *mitmUntrustedRoot) Setup(s *S) {
	x.up = startTLSUpstream(s, "api", pki.ServerTLSFlags{Enabled: true})
	serverCA := x.up.CAPath()
	x.serverRoots = trustPool(s, serverCA)
	// The proxy trusts the server's root the way a corporate proxy trusts
	// the public roots: its own side of the connection verifies.
	x.inspect = startMITM(s, "mitm", mitm.Config{UpstreamCAFile: serverCA})
	// The reconfigured proxy of fix B. The fake reads its bypass list at
	// start, so it is a second instance; the fix points the client at it.
	_, port, _ := net.SplitHostPort(x.up.Addr())
	x.bypass = startMITM(s, "mitm-bypass", mitm.Config{UpstreamCAFile: serverCA,
		Bypass: []string{x.up.Addr(), net.JoinHostPort(tlsCommandName, port)}})

	direct := diagnose.Commands{Target: x.up.Addr(), ServerName: tlsCommandName, CAFile: serverCA}
	viaProxy := direct
	viaProxy.Proxy = x.inspect.Addr()
	trustingProxy := viaProxy
	trustingProxy.CAFile = x.inspect.CAPath()
	viaBypass := direct
	viaBypass.Proxy = x.bypass.Addr()
	s.Command("Who signed the certificate the server sends (directly)", direct.OpenSSLShowCerts())
	s.Command("Who signed the certificate the client is shown through the proxy (trusting the proxy's CA so the handshake completes)",
		trustingProxy.OpenSSLShowCerts())
	s.Command("The verdict through the proxy for a client trusting only the server's CA: verify error 20", viaProxy.OpenSSLVerdict())
	s.Command("The incident: curl through the proxy with the server's CA exits 60", viaProxy.CurlProxy())
	s.Command("Fix A: trust the proxy's root CA (exit 0)", trustingProxy.CurlProxy())
	s.Command("Fix B: a proxy that tunnels this host; the server's own CA is enough again (exit 0)", viaBypass.CurlProxy())
	s.Command("The proxy's root CA, as trainees download it", "curl -s "+x.inspect.ProxyURL.String()+"/ca.pem | openssl x509 -noout -subject")
}

func (x *mitmUntrustedRoot) Run(s *S) {
	targets := get(x.up.URL() + "/")
	trustServer := &tls.Config{RootCAs: x.serverRoots}
	var direct *diagnose.ChainReport
	s.Phase("baseline", "the client reaches the server directly and trusts the server's CA", func() {
		direct = showCerts(s, "openssl s_client -showcerts, directly", x.up.Addr(), "", nil, x.serverRoots)
		s.Expect(direct, "the server's chain verifies").To(HaveVerdict("", diagnose.CodeOK))
		rs := s.Attack("direct", targets, tlsPacer(), tlsLoad, load.WithTLSConfig(trustServer))
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "the client's traffic goes through the TLS-inspecting proxy", func() {
		// Realised: the proxy really re-signs what the client is shown.
		via := showCerts(s, "openssl s_client -proxy -showcerts, through the inspecting proxy", x.up.Addr(), "", x.inspect, x.serverRoots)
		cmp := diagnose.Compare(direct, via)
		s.Log("diagnosis", []string{cmp.String()})
		s.Measure("issuer via proxy differs from direct", tlsBool(cmp.IssuerDiffers), "bool",
			"direct "+cmp.DirectIssuer+"; via proxy "+cmp.ViaProxyIssuer)
		s.Expect(cmp, "the issuer through the proxy is not the server's").To(HaveDifferentIssuers())
		s.Expect(via, "a client trusting the server's CA rejects what the proxy shows").
			To(HaveVerdict(load.ErrUnknownAuthority, diagnose.CodeUnableToGetLocalIssuer))

		rs := s.Attack("via inspecting proxy", targets, tlsPacer(), tlsLoad,
			load.WithProxy(x.inspect.ProxyURL), load.WithTLSConfig(trustServer))
		s.Expect(rs, "requests fail with unknown authority").To(HaveErrorKindShare(load.ErrUnknownAuthority, ">=", 0.95))
		s.Expect(rs, "...with Go's own words").To(HaveShare("errors 'x509: certificate signed by unknown authority'",
			func(r load.Result) bool {
				return strings.Contains(r.Error, "x509: certificate signed by unknown authority")
			}, ">=", 0.95))
		expectGoError(s, "a Go client gets x509.UnknownAuthorityError", x.up.URL()+"/", x.inspect, trustServer, "",
			func(x509.UnknownAuthorityError) bool { return true })

		// One connection per rejected request, plus the diagnosis and the
		// Go client's request above.
		awaitConnections(s, "mitm", x.inspect, 0, 2+len(rs.Filter(func(r load.Result) bool { return r.ErrorKind == load.ErrUnknownAuthority })))
		log := logMITM(s, "mitm", x.inspect, 0)
		s.Expect(log, "the proxy inspected the connections").To(HaveLogLines("mode=inspect", ">=", len(rs)*95/100))
		s.Expect(log, "...and the client refused its certificate").
			To(HaveLogLines(`client_handshake="remote error: tls: bad certificate"`, ">=", len(rs)*95/100))
	})

	trustBoth := &tls.Config{RootCAs: trustPool(s, x.up.CAPath(), x.inspect.CAPath())}
	s.Phase("fix", "A: the client trusts the proxy's root CA as well", func() {
		via := showCerts(s, "openssl s_client -proxy -showcerts -CAfile <proxy CA>", x.up.Addr(), "", x.inspect, trustBoth.RootCAs)
		s.Expect(via, "what the proxy shows now verifies").To(HaveVerdict("", diagnose.CodeOK))
	})
	s.Phase("recovery", "A: inspected, and trusted", func() {
		before := len(x.inspect.Stderr())
		rs := s.Attack("via inspecting proxy, trusting its CA", targets, tlsPacer(), tlsLoad,
			load.WithProxy(x.inspect.ProxyURL), load.WithTLSConfig(trustBoth))
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		log := logMITM(s, "mitm", x.inspect, before)
		// Keep-alive: a few connections carry every request.
		s.Expect(log, "still inspected, and the client accepts the proxy's certificate").
			To(HaveLogLines("mode=inspect presented_issuer=\"CN=chaoslab mitm root CA", ">=", 1))
		s.Expect(log, "...on every connection").To(HaveLogLines("remote error", "==", 0))
	})

	s.Phase("fix", "B: the proxy tunnels this host (bypass list); the client trusts only the server's CA again", func() {
		via := showCerts(s, "openssl s_client -proxy -showcerts, through the proxy with the bypass", x.up.Addr(), "", x.bypass, x.serverRoots)
		cmp := diagnose.Compare(direct, via)
		s.Log("diagnosis", []string{cmp.String()})
		s.Expect(cmp, "the client sees the server's real issuer through the proxy").To(HaveSameIssuer())
		s.Expect(via, "...and it verifies with the server's CA").To(HaveVerdict("", diagnose.CodeOK))
	})
	s.Phase("recovery", "B: tunnelled end to end", func() {
		rs := s.Attack("via proxy with bypass", targets, tlsPacer(), tlsLoad,
			load.WithProxy(x.bypass.ProxyURL), load.WithTLSConfig(trustServer))
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
		log := logMITM(s, "mitm-bypass", x.bypass, 0)
		s.Expect(log, "the proxy tunnelled the host").To(HaveLogLines("mode=tunnel bypass=true", ">=", 1))
		s.Expect(log, "...and inspected nothing").To(HaveLogLines("mode=inspect", "==", 0))
	})
}
