package scenarios

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/diagnose"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "tls/expired-certificate",
		Title: "The server's certificate expired",
		Symptom: ">= 95% expired (Go x509.CertificateInvalidError, Reason Expired) while the server presents a certificate " +
			"past its NotAfter; >= 99% success with the renewed certificate",
		Story: `A certificate renewal was manual, or the automation renewed the file but nothing reloaded the server. At ` +
			`NotAfter every client fails at once: "x509: certificate has expired or is not yet valid" (Go), "SSL ` +
			`certificate problem: certificate has expired" (curl, exit 60), "PKIX path validation failed: validity ` +
			`check failed" (Java). Clients with skewed clocks fail earlier or later than the rest, which confuses the ` +
			`first hour of the incident.`,
		Lesson: `Read the dates of the certificate the server actually presents (openssl s_client | openssl x509 -noout ` +
			`-dates), not of the file on disk: a renewed file the process never reloaded is the classic cause. Go reports ` +
			`both expired and not-yet-valid as x509.CertificateInvalidError with Reason Expired; the detail says which ` +
			`side of the window the clock is on, and OpenSSL tells them apart (10 expired, 9 not yet valid).

Fix: deploy the renewed certificate and make sure the server reloads it; then monitor the NotAfter the server ` +
			`presents, with weeks of warning.`,
		New: func() Play { return &expiredCertificate{} },
	})
}

// expiredCertificate has three deployments: valid, expired, renewed. The
// lab cannot age a certificate, so the expired one stands in for the same
// server a day after its NotAfter; the upstream fake also mints a fresh lab
// root per start, so the client loads the root of the deployment it talks to.
type expiredCertificate struct{ valid, expired, renewed *lab.Upstream }

func (x *expiredCertificate) Setup(s *S) {
	x.valid = startTLSUpstream(s, "api", pki.ServerTLSFlags{})
	x.expired = startTLSUpstream(s, "api-expired", pki.ServerTLSFlags{Cert: pki.Expired})
	x.renewed = startTLSUpstream(s, "api-renewed", pki.ServerTLSFlags{})

	c := diagnose.Commands{Target: x.expired.Addr(), ServerName: tlsCommandName, CAFile: x.expired.CAPath()}
	s.Command("The dates of the certificate the server presents", "openssl s_client -connect "+x.expired.Addr()+
		" -servername "+tlsCommandName+" </dev/null 2>/dev/null | openssl x509 -noout -subject -dates")
	s.Command("The verdict: verify error 10 (certificate has expired)", c.OpenSSLVerdict())
	s.Command("curl exits 60 (certificate has expired)", c.CurlProxy())
	renewed := diagnose.Commands{Target: x.renewed.Addr(), ServerName: tlsCommandName, CAFile: x.renewed.CAPath()}
	s.Command("The renewed certificate (exit 0)", renewed.CurlProxy())
}

func (x *expiredCertificate) Run(s *S) {
	s.Phase("baseline", "the certificate is within its validity", func() {
		x.healthy(s, x.valid, "valid")
	})
	s.Phase("fault", "the server presents a certificate past its NotAfter (--cert expired)", func() {
		roots := trustPool(s, x.expired.CAPath())
		rep := showCerts(s, "openssl s_client -showcerts", x.expired.Addr(), "", nil, roots)
		// Realised: the leaf's NotAfter is in the past, and that is all.
		notAfter := rep.Certs[0].NotAfter
		s.Measure("hours since the leaf's NotAfter", time.Since(notAfter).Hours(), "h", "NotAfter "+notAfter.UTC().Format(time.RFC3339))
		s.Expect(rep, "the chain verifies but for the date").To(HaveVerdict(load.ErrExpired, diagnose.CodeExpired))

		url := x.expired.URL() + "/"
		cfg := &tls.Config{RootCAs: roots}
		rs := s.Attack("expired", get(url), tlsPacer(), tlsLoad, load.WithTLSConfig(cfg))
		s.Expect(rs, "requests fail with expired").To(HaveErrorKindShare(load.ErrExpired, ">=", 0.95))
		expectGoError(s, "a Go client gets x509.CertificateInvalidError with Reason Expired", url, nil, cfg, " with Reason Expired",
			func(e x509.CertificateInvalidError) bool { return e.Reason == x509.Expired })
	})
	s.Phase("fix", "roll out the renewed certificate", func() {
		rep := showCerts(s, "openssl s_client -showcerts", x.renewed.Addr(), "", nil, trustPool(s, x.renewed.CAPath()))
		s.Expect(rep, "the renewed certificate verifies").To(HaveVerdict("", diagnose.CodeOK))
		left := time.Until(rep.Certs[0].NotAfter)
		s.Measure("hours until the renewed leaf's NotAfter", left.Hours(), "h", fmt.Sprintf("NotAfter %s", rep.Certs[0].NotAfter.UTC().Format(time.RFC3339)))
	})
	s.Phase("recovery", "clients succeed again", func() { x.healthy(s, x.renewed, "renewed") })
}

func (x *expiredCertificate) healthy(s *S, up *lab.Upstream, name string) {
	roots := trustPool(s, up.CAPath())
	s.Expect(showCerts(s, "openssl s_client -showcerts", up.Addr(), "", nil, roots), "the certificate verifies").
		To(HaveVerdict("", diagnose.CodeOK))
	rs := s.Attack(name, get(up.URL()+"/"), tlsPacer(), tlsLoad, load.WithTLSConfig(&tls.Config{RootCAs: roots}))
	s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
}
