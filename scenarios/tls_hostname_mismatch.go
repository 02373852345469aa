package scenarios

import (
	"crypto/tls"
	"crypto/x509"
	"strings"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/diagnose"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

func init() {
	Register(Scenario{
		ID:    "tls/hostname-mismatch",
		Title: "Clients address the server by a name its certificate does not carry",
		Symptom: ">= 95% hostname-mismatch (Go x509.HostnameError) once clients use a name missing from the " +
			"certificate's SANs; >= 99% success once the certificate is reissued with that name",
		Story: `A service gets a new name: a DNS alias for a migration, a new internal domain, a load balancer in front. ` +
			`The record points at the same servers, which keep serving the old certificate. Clients using the new name ` +
			`fail with "x509: certificate is valid for localhost, not api.chaoslab.test" (Go), "no alternative ` +
			`certificate subject name matches target host name" (curl, exit 60) or "No subject alternative DNS name ` +
			`matching" (Java), while everything using the old name keeps working.`,
		Lesson: `The certificate is fine and trusted; it just names other hosts. A client checks the name it dialled (the ` +
			`URL's host, sent as SNI) against the certificate's Subject Alternative Names; the Common Name has not counted ` +
			`for years. List the SANs the server presents for that name and compare them with what the client dials.

Fix: reissue the certificate with every name clients use (or a wildcard that covers them), or have clients use a name ` +
			`the certificate carries. Never disable hostname verification: without it any certificate from a trusted CA ` +
			`would do.`,
		New: func() Play { return &hostnameMismatch{} },
	})
}

// newName is the name clients are moved to. It never resolves: clients
// dial 127.0.0.1 and only send and check this name (curl --connect-to).
const newName = "api.chaoslab.test"

// hostnameMismatch keeps one server for baseline and fault (only the name
// clients use changes) and rolls out a reissued certificate as a second
// deployment for the fix: the lab's upstream fake cannot swap certificates
// while running, and mints a fresh lab root at each start, so the client
// loads the root of the deployment it talks to.
type hostnameMismatch struct{ up, reissued *lab.Upstream }

func (x *hostnameMismatch) Setup(s *S) {
	x.up = startTLSUpstream(s, "api", pki.ServerTLSFlags{}) // SANs localhost, 127.0.0.1
	x.reissued = startTLSUpstream(s, "api-reissued", pki.ServerTLSFlags{SANs: append(append([]string{}, pki.DefaultSANs...), newName)})

	c := diagnose.Commands{Target: x.up.Addr(), ServerName: newName, CAFile: x.up.CAPath()}
	s.Command("The names the certificate carries", "openssl s_client -connect "+x.up.Addr()+" -servername "+newName+
		" </dev/null 2>/dev/null | openssl x509 -noout -subject -ext subjectAltName")
	// s_client checks the name only when asked to.
	s.Command("The verdict for the new name: verify error 62 (hostname mismatch)",
		strings.Replace(c.OpenSSLVerdict(), " </dev/null", " -verify_hostname "+newName+" </dev/null", 1))
	s.Command("curl by the new name exits 60 (no alternative certificate subject name matches)", c.CurlProxy())
	fixed := diagnose.Commands{Target: x.reissued.Addr(), ServerName: newName, CAFile: x.reissued.CAPath()}
	s.Command("The reissued certificate carries the new name (exit 0)", fixed.CurlProxy())
}

func (x *hostnameMismatch) Run(s *S) {
	roots := trustPool(s, x.up.CAPath())
	url := x.up.URL() + "/"
	s.Phase("baseline", "clients dial the server by a name in its certificate (127.0.0.1)", func() {
		s.Expect(showCerts(s, "openssl s_client -showcerts (servername 127.0.0.1)", x.up.Addr(), "", nil, roots),
			"the certificate verifies for 127.0.0.1").To(HaveVerdict("", diagnose.CodeOK))
		rs := s.Attack("old name", get(url), tlsPacer(), tlsLoad, load.WithTLSConfig(&tls.Config{RootCAs: roots}))
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "clients are moved to "+newName+", an alias of the same server", func() {
		// Realised: the certificate shown for the new name does not carry it.
		rep := showCerts(s, "openssl s_client -showcerts -servername "+newName, x.up.Addr(), newName, nil, roots)
		s.Expect(rep, "the certificate does not name "+newName).To(HaveVerdict(load.ErrHostname, diagnose.CodeHostnameMismatch))

		cfg := &tls.Config{RootCAs: roots, ServerName: newName}
		rs := s.Attack("new name", get(url), tlsPacer(), tlsLoad, load.WithTLSConfig(cfg))
		s.Expect(rs, "requests fail with hostname mismatch").To(HaveErrorKindShare(load.ErrHostname, ">=", 0.95))
		expectGoError(s, "a Go client gets x509.HostnameError for "+newName, url, nil, cfg, " for "+newName,
			func(e x509.HostnameError) bool { return e.Host == newName })
	})
	s.Phase("fix", "roll out a certificate reissued with "+newName+" in its SANs", func() {
		rep := showCerts(s, "openssl s_client -showcerts -servername "+newName, x.reissued.Addr(), newName, nil,
			trustPool(s, x.reissued.CAPath()))
		s.Expect(rep, "the certificate now names "+newName).To(HaveVerdict("", diagnose.CodeOK))
	})
	s.Phase("recovery", "clients keep the new name and succeed", func() {
		cfg := &tls.Config{RootCAs: trustPool(s, x.reissued.CAPath()), ServerName: newName}
		rs := s.Attack("new name, reissued certificate", get(x.reissued.URL()+"/"), tlsPacer(), tlsLoad, load.WithTLSConfig(cfg))
		s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
	})
}
