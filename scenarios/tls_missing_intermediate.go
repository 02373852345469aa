package scenarios

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/diagnose"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "tls/missing-intermediate",
		Title: "A server sends its certificate without the intermediate CA",
		Symptom: ">= 95% unknown-authority for clients holding only the root while the server sends its leaf alone " +
			"(one certificate presented); >= 99% success once it sends the full chain",
		Story: `A certificate is renewed and deployed as server.crt alone, without the intermediate the CA shipped ` +
			`beside it. Browsers keep working: they cache intermediates from other sites and fetch missing ones from the ` +
			`URL in the certificate. curl, Go, Java and Python services do neither, and start failing with "unable to get ` +
			`local issuer certificate" (OpenSSL verify error 20) or "x509: certificate signed by unknown authority", ` +
			`while the team that deployed it shows a green padlock in their browser.`,
		Lesson: `Trust stores hold roots, not intermediates: the server must send every certificate between its leaf and ` +
			`the root. Count the certificates in "openssl s_client -showcerts": one certificate whose issuer is an ` +
			`intermediate (not a root, not itself) is this fault. The proof: the same client succeeds once it is given ` +
			`the intermediate by hand, so the root and the leaf are fine and only the link between them is missing.

Fix it on the server: cat server.crt intermediate.crt > fullchain.pem and serve fullchain.pem (nginx ` +
			`ssl_certificate, Kong certificates, a Kubernetes TLS secret's tls.crt). Adding the intermediate to every ` +
			`client hides the fault until that intermediate rotates.`,
		New: func() Play { return &missingIntermediate{} },
	})
}

// missingIntermediate has three deployments of the server: as it was (full
// chain), after a renewal that shipped only server.crt (leaf only), and
// fixed (full chain again); each phase sends the client to one of them, as
// a rollout would. The lab's upstream fake mints a fresh lab root at every
// start and cannot change what it sends while running, so each deployment
// has its own root and the client loads that deployment's ca.pem. What
// stays the same is the client's policy, which the scenario checks every
// phase: its trust store holds exactly one certificate, a root, and no
// intermediate. The fault phase also proves the root and leaf are sound by
// handing the same client the intermediate (the intermediate.crt written
// beside ca.pem), which makes it succeed.
type missingIntermediate struct{ before, leafOnly, fixed *lab.Upstream }

func (x *missingIntermediate) Setup(s *S) {
	x.before = startTLSUpstream(s, "api", pki.ServerTLSFlags{Chain: pki.ChainFull})
	x.leafOnly = startTLSUpstream(s, "api-renewed", pki.ServerTLSFlags{Chain: pki.ChainLeafOnly})
	x.fixed = startTLSUpstream(s, "api-fullchain", pki.ServerTLSFlags{Chain: pki.ChainFull})
	x.commands(s)
}

func (x *missingIntermediate) Run(s *S) {
	s.Phase("baseline", "the server sends leaf + intermediate; the client holds only the root", func() {
		roots := rootOnlyPool(s, x.before)
		s.Expect(showCerts(s, "openssl s_client -showcerts", x.before.Addr(), "", nil, roots), "the server sends its chain").
			To(HaveCertificates(2))
		rs := s.Attack("full chain", get(x.before.URL()+"/"), tlsPacer(), tlsLoad, load.WithTLSConfig(&tls.Config{RootCAs: roots}))
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "a renewal is rolled out as server.crt alone (--chain leaf-only)", func() {
		roots := rootOnlyPool(s, x.leafOnly)
		// Realised: one certificate, issued by an intermediate the client lacks.
		rep := showCerts(s, "openssl s_client -showcerts", x.leafOnly.Addr(), "", nil, roots)
		s.Expect(rep, "the server sends its leaf alone").To(HaveCertificates(1))
		s.Expect(rep, "a client holding only the root cannot build the chain").
			To(HaveVerdict(load.ErrUnknownAuthority, diagnose.CodeUnableToGetLocalIssuer))

		url := x.leafOnly.URL() + "/"
		cfg := &tls.Config{RootCAs: roots}
		rs := s.Attack("leaf only", get(url), tlsPacer(), tlsLoad, load.WithTLSConfig(cfg))
		s.Expect(rs, "requests fail with unknown authority").To(HaveErrorKindShare(load.ErrUnknownAuthority, ">=", 0.95))
		expectGoError(s, "a Go client gets x509.UnknownAuthorityError", url, nil, cfg, "",
			func(x509.UnknownAuthorityError) bool { return true })

		// The control experiment: the same client plus the intermediate.
		withInter := &tls.Config{
			InsecureSkipVerify: true, // VerifyConnection does the whole verification instead
			VerifyConnection:   verifyWithIntermediates(roots, trustPool(s, intermediatePath(x.leafOnly)), "127.0.0.1"),
		}
		rs = s.Attack("leaf only, client given the intermediate", get(url), tlsPacer(), tlsLoad/2, load.WithTLSConfig(withInter))
		s.Expect(rs, "the same client succeeds once it holds the intermediate: only the link is missing").
			To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fix", "roll out fullchain.pem (server.crt + intermediate.crt)", func() {
		rep := showCerts(s, "openssl s_client -showcerts", x.fixed.Addr(), "", nil, rootOnlyPool(s, x.fixed))
		s.Expect(rep, "the server sends leaf + intermediate").To(HaveCertificates(2))
		s.Expect(rep, "the chain verifies with the root alone").To(HaveVerdict("", diagnose.CodeOK))
	})
	s.Phase("recovery", "clients holding only the root succeed", func() {
		rs := s.Attack("full chain again", get(x.fixed.URL()+"/"), tlsPacer(), tlsLoad,
			load.WithTLSConfig(&tls.Config{RootCAs: rootOnlyPool(s, x.fixed)}))
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
	})
}

func (x *missingIntermediate) commands(s *S) {
	up := x.leafOnly
	both := filepath.Join(s.Lab.Dir(), "root-and-intermediate.pem") // gone with the lab
	c := diagnose.Commands{Target: up.Addr(), ServerName: tlsCommandName, CAFile: up.CAPath()}
	s.Command("How many certificates the server sends, and who issued them (one, issued by an intermediate: this fault)",
		"openssl s_client -connect "+up.Addr()+" -servername "+tlsCommandName+" -showcerts </dev/null 2>/dev/null | grep -E '^ *[0-9]+ s:|^ *i:'")
	s.Command("The verdict for a client holding only the root: verify error 20", c.OpenSSLVerdict())
	s.Command("curl holding only the root exits 60", c.CurlProxy())
	s.Command("The proof: give the client the intermediate too (exit 0)",
		"cat "+up.CAPath()+" "+intermediatePath(up)+" > "+both+" && "+
			"curl -sS -o /dev/null -w '%{http_code}\\n' "+c.URL()+" --cacert "+both)
	s.Command("The fix on the server: the full chain is the leaf followed by the intermediate",
		"cd "+filepath.Dir(up.CAPath())+" && cat server.crt intermediate.crt > fullchain.pem && grep -c 'BEGIN CERTIFICATE' fullchain.pem")
	fixed := diagnose.Commands{Target: x.fixed.Addr(), ServerName: tlsCommandName, CAFile: x.fixed.CAPath()}
	s.Command("The fixed deployment: two certificates, verify return code 0", fixed.OpenSSLVerdict()+" | grep -E '^ *[0-9]+ s:|Verify return code'")
}

// rootOnlyPool is the client's trust store: the deployment's root, and
// nothing else. It checks that policy rather than assuming it.
func rootOnlyPool(s *S, up *lab.Upstream) *x509.CertPool {
	certs := parsePEMCerts(s, up.CAPath())
	if len(certs) != 1 || !certs[0].IsCA || certs[0].Subject.String() != certs[0].Issuer.String() {
		s.Failf("%s should hold exactly one self-signed root, holds %d certificate(s)", up.CAPath(), len(certs))
	}
	return pki.Pool(certs[0])
}

// intermediatePath is the intermediate.crt the upstream writes beside ca.pem.
func intermediatePath(up *lab.Upstream) string {
	return filepath.Join(filepath.Dir(up.CAPath()), "intermediate.crt")
}

// verifyWithIntermediates verifies the server as crypto/tls would, but
// with extra intermediates the client already holds (what a browser's
// intermediate cache does).
func verifyWithIntermediates(roots, inter *x509.CertPool, name string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		pool := inter.Clone()
		for _, c := range cs.PeerCertificates[1:] {
			pool.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, DNSName: name})
		return err
	}
}
