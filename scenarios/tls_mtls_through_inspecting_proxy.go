package scenarios

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/diagnose"
	"github.com/chaoslab/chaoslab/fakes/mitm"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "tls/mtls-through-inspecting-proxy",
		Title: "Client certificates never reach a server behind a TLS-inspecting proxy",
		Symptom: "through the inspecting proxy the server sees no client certificate (X-Client-Cert: absent >= 95%) and one " +
			"that requires it fails (502 'certificate required' >= 95%); tunnelled, the client's certificate arrives " +
			"(success >= 99%); two-hop, the server sees the proxy's certificate",
		Story: `A partner API authenticates callers with client certificates (mTLS). After a TLS-inspecting proxy is put ` +
			`in the egress path, and its root CA dutifully added to every trust store, calls to the partner fail: the ` +
			`partner's logs say the client presented no certificate ("ClientMTLSAuth absent", nginx $ssl_client_verify ` +
			`NONE), and the ones that require it reset the handshake with "certificate required". The client is ` +
			`configured with its certificate and key, and swears it sends them.`,
		Lesson: `A client certificate authenticates one TLS connection, and an inspecting proxy splits the connection in ` +
			`two: the client's certificate could only ever reach the proxy (which does not even ask for it), and the ` +
			`proxy's own connection to the server carries none. No configuration of the client can fix that. Recognise it ` +
			`by the issuer the client sees (the proxy's CA, not the server's) together with the server reporting no ` +
			`certificate at all, not a wrong one.

Fix: exempt the host from inspection so the proxy tunnels the bytes (bypass list, or tunnel mode): the TLS session, ` +
			`and the client's certificate in it, is end to end again. Two-hop mTLS (the proxy presents its own client ` +
			`certificate) is not the same thing: the server authenticates the proxy, so it must trust the proxy's client CA ` +
			`and loses the identity of the real caller.`,
		New: func() Play { return &mtlsThroughProxy{} },
	})
}

// mtlsThroughProxy has two servers that demand client certificates: "api"
// refuses the TLS handshake without one (--client-auth require, nginx
// ssl_verify_client on) and "api-optional" serves anyway and reports what it
// saw in X-Client-Cert (--client-auth request: the app checks, like the
// incident's ClientMTLSAuth log). Three proxies stand for the three ways the
// egress proxy can be configured; each phase points the client at one.
//
// The servers are started with Lab.Fake rather than Lab.Upstream: the
// latter's readiness check (its control client) presents no client
// certificate, which a --client-auth require server refuses; and no fault
// proxy is needed here.
type mtlsThroughProxy struct {
	strict, optional        *mtlsServer
	inspect, tunnel, twoHop *tlsProxy
	proxyClientCA           string // issuer of the proxy's own client certificate
}

func (x *mtlsThroughProxy) Setup(s *S) {
	x.strict = startMTLSServer(s, "api", pki.ClientAuthRequire)
	x.optional = startMTLSServer(s, "api-optional", pki.ClientAuthRequest)

	// The proxy verifies both servers, and in two-hop mode presents its own
	// client certificate, from a CA of its own.
	files, err := pki.NewFiles(filepath.Join(s.Lab.Dir(), "mitm-client"))
	s.Must(err, "a directory for the proxy's certificates")
	var roots []*x509.Certificate
	for _, up := range []*mtlsServer{x.strict, x.optional} {
		roots = append(roots, parsePEMCerts(s, up.CAPath)...)
	}
	upstreamRoots, err := files.WriteCerts("upstream-roots.pem", roots...)
	s.Must(err, "writing the proxy's upstream roots")
	ca, err := pki.NewRoot("chaoslab egress proxy client CA")
	s.Must(err, "making the proxy's client CA")
	x.proxyClientCA = ca.Cert.Subject.String()
	leaf, err := ca.Leaf(pki.LeafOptions{CommonName: "chaoslab egress proxy", Client: true})
	s.Must(err, "making the proxy's client certificate")
	paths, err := files.WriteLeaf("proxy-client", leaf)
	s.Must(err, "writing the proxy's client certificate")

	x.inspect = startMITM(s, "mitm", mitm.Config{UpstreamCAFile: upstreamRoots})
	x.tunnel = startMITM(s, "mitm-tunnel", mitm.Config{Mode: mitm.Tunnel})
	x.twoHop = startMITM(s, "mitm-two-hop", mitm.Config{UpstreamCAFile: upstreamRoots,
		ClientCertFile: paths.Cert, ClientKeyFile: paths.Key})

	client := func(up *mtlsServer, p *tlsProxy, ca string) diagnose.Commands {
		c := diagnose.Commands{Target: up.Addr, ServerName: tlsCommandName, CAFile: ca,
			ClientCert: up.ClientCert, ClientKey: up.ClientKey}
		if p != nil {
			c.Proxy = p.Addr()
		}
		return c
	}
	s.Command("Directly: the server reports the client certificate (X-Client-Cert: success)",
		client(x.optional, nil, x.optional.CAPath).CurlMTLS())
	s.Command("Through the inspecting proxy (trusting its CA): the server saw no certificate (X-Client-Cert: absent)",
		client(x.optional, x.inspect, x.inspect.CAPath()).CurlMTLS())
	s.Command("...and a server that requires one refuses the proxy: 502, certificate required",
		client(x.strict, x.inspect, x.inspect.CAPath()).CurlMTLS())
	s.Command("Who the client is really talking TLS with: the proxy's CA signed it",
		diagnose.Commands{Proxy: x.inspect.Addr(), Target: x.optional.Addr, ServerName: tlsCommandName, CAFile: x.inspect.CAPath()}.OpenSSLShowCerts())
	s.Command("The fix, mTLS through a CONNECT tunnel: the certificate arrives (X-Client-Cert: success)",
		client(x.strict, x.tunnel, x.strict.CAPath).CurlMTLS())
	s.Command("Two-hop: the server sees the proxy's certificate (client_cert_issuer is the proxy's client CA)",
		client(x.optional, x.twoHop, x.twoHop.CAPath()).CurlProxy())
}

// mtlsLoad drives one server through a proxy (nil: directly) with the
// client's certificate, trusting the server's root and the proxy's.
func (x *mtlsThroughProxy) mtlsLoad(s *S, name string, up *mtlsServer, p *tlsProxy) load.Results {
	cas := []string{up.CAPath}
	opts := []load.Option{load.WithBody(4096)}
	if p != nil {
		cas = append(cas, p.CAPath())
		opts = append(opts, load.WithProxy(p.ProxyURL))
	}
	cfg := &tls.Config{RootCAs: trustPool(s, cas...), Certificates: []tls.Certificate{upstreamClientCert(s, up.ClientCert, up.ClientKey)}}
	d := tlsLoad
	if up == x.optional {
		d = tlsLoad / 2
	}
	return s.Attack(name, get(up.URL+"/"), tlsPacer(), d, append(opts, load.WithTLSConfig(cfg))...)
}

func (x *mtlsThroughProxy) Run(s *S) {
	var direct *diagnose.ChainReport
	s.Phase("baseline", "the client calls both servers directly with its certificate", func() {
		direct = showCerts(s, "openssl s_client -showcerts, directly", x.optional.Addr, "", nil, trustPool(s, x.optional.CAPath))
		rs := x.mtlsLoad(s, "strict, direct", x.strict, nil)
		s.Expect(rs, "the server requiring a certificate answers").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "...and authenticated the client").To(HaveHeaderShare("X-Client-Cert", pki.ClientCertSuccess, ">=", 0.99))
		rs = x.mtlsLoad(s, "optional, direct", x.optional, nil)
		s.Expect(rs, "the other server authenticated the client").To(HaveHeaderShare("X-Client-Cert", pki.ClientCertSuccess, ">=", 0.99))
	})
	s.Phase("fault", "the client's traffic goes through the TLS-inspecting proxy, whose root it trusts", func() {
		// Realised: the client's TLS session ends at the proxy.
		via := showCerts(s, "openssl s_client -proxy -showcerts, through the inspecting proxy", x.optional.Addr, "", x.inspect,
			trustPool(s, x.optional.CAPath, x.inspect.CAPath()))
		cmp := diagnose.Compare(direct, via)
		s.Log("diagnosis", []string{cmp.String()})
		s.Expect(cmp, "the client's TLS peer is the proxy, not the server").To(HaveDifferentIssuers())

		rs := x.mtlsLoad(s, "optional, via inspecting proxy", x.optional, x.inspect)
		s.Expect(rs, "the server serves...").To(HaveSuccessShare(">=", 0.95))
		s.Expect(rs, "...but saw no client certificate").To(HaveHeaderShare("X-Client-Cert", pki.ClientCertAbsent, ">=", 0.95))
		before := len(x.inspect.Stderr())
		rs = x.mtlsLoad(s, "strict, via inspecting proxy", x.strict, x.inspect)
		s.Expect(rs, "the server requiring a certificate refuses the proxy: the client gets 502").To(HaveStatusShare(502, ">=", 0.95))
		s.Expect(rs, "...saying the server wanted a certificate").To(HaveBodyShare("certificate required", ">=", 0.95))
		s.Expect(logMITM(s, "mitm", x.inspect, before), "the proxy logged the server's refusal").
			To(HaveLogLines("remote error: tls: certificate required", ">=", 1))
	})
	s.Phase("fix", "the proxy tunnels these hosts (CONNECT passthrough)", func() {
		via := showCerts(s, "openssl s_client -proxy -showcerts, through the tunnel", x.optional.Addr, "", x.tunnel,
			trustPool(s, x.optional.CAPath))
		s.Expect(diagnose.Compare(direct, via), "the client's TLS peer is the server again").To(HaveSameIssuer())
	})
	s.Phase("recovery", "the client's certificate reaches the servers", func() {
		rs := x.mtlsLoad(s, "strict, via tunnel", x.strict, x.tunnel)
		s.Expect(rs, "the server requiring a certificate answers").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "...and authenticated the client").To(HaveHeaderShare("X-Client-Cert", pki.ClientCertSuccess, ">=", 0.99))
		rs = x.mtlsLoad(s, "optional, via tunnel", x.optional, x.tunnel)
		s.Expect(rs, "the other server authenticated the client").To(HaveHeaderShare("X-Client-Cert", pki.ClientCertSuccess, ">=", 0.99))
		s.Expect(logMITM(s, "mitm-tunnel", x.tunnel, 0), "the proxy tunnelled").To(HaveLogLines("mode=tunnel", ">=", 1))
	})
	s.Phase("two-hop", "instead of tunnelling, the proxy inspects and presents its own client certificate", func() {
		issuer := `"client_cert_issuer":"` + x.proxyClientCA + `"`
		rs := x.mtlsLoad(s, "strict, via two-hop proxy", x.strict, x.twoHop)
		s.Expect(rs, "a certificate arrives, so the handshake passes").To(HaveSuccessShare(">=", 0.99))
		s.Expect(rs, "...but it is the proxy's: the server does not trust its CA").
			To(HaveHeaderShare("X-Client-Cert", pki.ClientCertFailed, ">=", 0.99))
		s.Expect(rs, "...issued by the proxy's client CA").To(HaveBodyShare(issuer, ">=", 0.99))
		rs = x.mtlsLoad(s, "optional, via two-hop proxy", x.optional, x.twoHop)
		s.Expect(rs, "the other server also sees the proxy's certificate").To(HaveBodyShare(issuer, ">=", 0.99))
		logMITM(s, "mitm-two-hop", x.twoHop, 0)
	})
}

// mtlsServer is a TLS fake upstream asking for client certificates.
type mtlsServer struct {
	URL                   string // https://127.0.0.1:P
	Addr                  string
	CAPath                string // the root clients trust; it also signed client-cert
	ClientCert, ClientKey string // the client certificate it accepts
}

func startMTLSServer(s *S, name string, auth pki.ClientAuth) *mtlsServer {
	cfg := upstream.Config{Name: name, TLSFlags: pki.ServerTLSFlags{Enabled: true, ClientAuth: auth},
		CertDir: filepath.Join(s.Lab.Dir(), "upstream-"+name)}
	f, err := s.Lab.Fake(s.Ctx, cfg)
	s.Must(err, "starting upstream "+name)
	srv := &mtlsServer{URL: f.URL(), Addr: urlHostPort(s, f.URL()), CAPath: f.Info("ca"),
		ClientCert: f.Info("client-cert"), ClientKey: f.Info("client-key")}
	if srv.CAPath == "" || srv.ClientCert == "" {
		s.Failf("upstream %s reported no ca/client-cert at start-up", name)
	}
	return srv
}
