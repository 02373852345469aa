package scenarios

import (
	"fmt"
	"os"
	"strings"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
)

func init() {
	Register(Scenario{
		ID:      "gateway/502-untrusted-upstream-cert",
		Title:   "tls_verify on, but Kong does not trust the upstream's private CA",
		Symptom: "502 >= 95% and 'upstream SSL certificate verify error: (20:unable to get local issuer certificate)' in the error log; 200 once the CA is attached",
		Story: `A security review turns on tls_verify for every https service. The internal upstreams use certificates from ` +
			`the company's private CA, which Kong's trust store does not have. Every request through those services becomes a 502.`,
		Lesson: `"upstream SSL certificate verify error: (20:unable to get local issuer certificate)" means Kong could not chain ` +
			`the upstream's certificate to a root it trusts (18 would be self-signed, 19 a self-signed root in the chain). ` +
			`Compare with "openssl s_client -connect upstream:port -showcerts": the issuer is the private CA.

Fix: add the CA as a ca_certificates entity and list its id in the service's ca_certificates (or lua_ssl_trusted_certificate).`,
		New: func() Play { return &gwUntrusted{} },
	})
}

type gwUntrusted struct {
	gwSetup
	caPEM string
}

const caID = "3e1f5b1c-0b6a-4d5e-9c1a-2f6e8d7c9b10"

func (x *gwUntrusted) config(verify, withCA bool) string {
	extra := []string{}
	if verify {
		extra = append(extra, "tls_verify: true")
	}
	var cas string
	if withCA {
		extra = append(extra, "ca_certificates: ["+caID+"]")
		cas = "ca_certificates:\n- id: " + caID + "\n  cert: |\n    " + strings.ReplaceAll(strings.TrimSpace(x.caPEM), "\n", "\n    ") + "\n"
	}
	// By name, not IP: nginx checks an upstream certificate's DNS names
	// only (X509_check_host), so real Kong with tls_verify rejects an
	// upstream reached by IP even when the certificate has that IP SAN
	// ("upstream SSL certificate does not match "127.0.0.1"").
	_, port := hostPort(x.up.Addr())
	return kongYAML(cas, services(service("orders", fmt.Sprintf("https://localhost:%d", port), extra...)))
}

func (x *gwUntrusted) Setup(s *S) {
	x.up = s.startUpstream("orders", upstream.Config{TLSFlags: pki.ServerTLSFlags{Enabled: true}})
	b, err := os.ReadFile(x.up.CAPath())
	s.Must(err, "reading the upstream's CA")
	x.caPEM = string(b)
	x.gw = s.startGateway(x.config(false, false), lab.WithHosts(map[string]string{"localhost": "127.0.0.1"}))
	s.Command("Who signed the upstream's certificate", "openssl s_client -connect "+x.up.Addr()+" -showcerts </dev/null | grep -E '^ *[si]:'")
	s.Command("Verify it against the private CA", "openssl s_client -connect "+x.up.Addr()+" -CAfile "+x.up.CAPath()+" -verify_return_error </dev/null")
}

func (x *gwUntrusted) Run(s *S) {
	orders := target("GET", x.gw.ProxyURL()+"/orders")
	s.Phase("baseline", "https upstream, tls_verify off (Kong's default)", func() {
		s.Expect(s.gwAttack("baseline", orders), "requests succeed").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "tls_verify: true without the private CA", func() {
		s.reload(x.gw, x.config(true, false))
		// Real Kong keys its upstream keepalive pool by ip|port|sni only
		// (tls_verify and the CA are not part of the key): connections
		// handshaken before the change keep serving, unverified, until they
		// close. Close them, as a restart or the upstream's idle close does,
		// so the next requests handshake under the new setting.
		s.remove(x.up.Proxy, s.apply(x.up.Proxy, lab.Down{}))
		logStart := len(x.gw.ErrorLog())
		rs := s.gwAttack("verify without CA", orders)
		s.Expect(rs, "Kong answers 502").To(HaveStatusShare(502, ">=", 0.95))
		s.Expect(s.gatewayErrors(x.gw, logStart), "the verify error is logged").
			To(HaveLogLines("upstream SSL certificate verify error: (20:unable to get local issuer certificate) while SSL handshaking to upstream", ">=", len(rs)*9/10))
	})
	s.Phase("fix", "attach the private CA to the service", func() { s.reload(x.gw, x.config(true, true)) })
	s.Phase("recovery", "verified and served", func() {
		logStart := len(x.gw.ErrorLog())
		rs := s.gwAttack("recovery", orders)
		s.gatewayErrors(x.gw, logStart)
		s.Expect(rs, "requests succeed with verification on").To(HaveSuccessShare(">=", 0.99))
	})
}
