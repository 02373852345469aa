package scenarios

import (
	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/fakes/pki"
	"github.com/chaoslab/chaoslab/fakes/upstream"
	"github.com/chaoslab/chaoslab/lab"
)

func init() {
	Register(Scenario{
		ID:      "gateway/protocol-mismatch",
		Title:   "A service's protocol does not match its upstream port",
		Symptom: "http service -> TLS port: the upstream's 400 passes through (>= 95%); https service -> plain port: 502 with 'SSL_do_handshake() failed' (>= 95%); correct protocols: 200",
		Story: `Two services are migrated at once: one upstream now terminates TLS itself, the other moved TLS to a sidecar. ` +
			`Their Kong services were edited in a hurry and swapped: the first still speaks plain HTTP to a TLS port, the second ` +
			`starts a TLS handshake with a plain HTTP server.`,
		Lesson: `Plain HTTP to a TLS port is answered by the TLS server itself with a 400 ("Client sent an HTTP request to an ` +
			`HTTPS server." from Go, "The plain HTTP request was sent to HTTPS port" from nginx), and Kong passes that 400 on: ` +
			`the gateway looks innocent. TLS to a plain port fails the handshake: error.log says "SSL_do_handshake() failed ` +
			`(... wrong version number) while SSL handshaking to upstream" and the client gets a 502.

Fix: the service's protocol (or url scheme) must match what listens at host:port.`,
		New: func() Play { return &gwProtocol{} },
	})
}

type gwProtocol struct {
	gw          *lab.Gateway
	plain, tlsd *lab.Upstream
}

// config routes /plain to the plain upstream and /secure to the TLS one,
// with the given schemes.
func (x *gwProtocol) config(plainScheme, secureScheme string) string {
	return kongYAML(services(
		service("plain", httpURL(plainScheme, x.plain)),
		service("secure", httpURL(secureScheme, x.tlsd))))
}

func (x *gwProtocol) Setup(s *S) {
	x.plain = s.startUpstream("plain", upstream.Config{})
	x.tlsd = s.startUpstream("secure", upstream.Config{TLSFlags: pki.ServerTLSFlags{Enabled: true}})
	x.gw = s.startGateway(x.config("http", "https"))
	s.Command("What a TLS port answers to plain HTTP", "curl -si http://"+x.tlsd.Addr()+"/")
	s.Command("What a plain port answers to TLS", "openssl s_client -connect "+x.plain.Addr()+" </dev/null")
}

func (x *gwProtocol) Run(s *S) {
	plain := target("GET", x.gw.ProxyURL()+"/plain")
	secure := target("GET", x.gw.ProxyURL()+"/secure")
	s.Phase("baseline", "http -> plain port, https -> TLS port", func() {
		s.Expect(s.gwAttack("plain", plain), "the plain service works").To(HaveSuccessShare(">=", 0.99))
		s.Expect(s.gwAttack("secure", secure), "the TLS service works").To(HaveSuccessShare(">=", 0.99))
	})
	s.Phase("fault", "protocols swapped (POST /config)", func() {
		s.reload(x.gw, x.config("https", "http"))
		logStart := len(x.gw.ErrorLog())
		toTLS := s.gwAttack("http to the TLS port", secure)
		s.Expect(toTLS, "the TLS server's 400 passes through Kong").To(HaveStatusShare(400, ">=", 0.95))
		s.Expect(toTLS, "the 400 is the upstream's, about plain HTTP").To(HaveBodyShare("HTTP request to an HTTPS server", ">=", 0.95))
		toPlain := s.gwAttack("https to the plain port", plain)
		s.Expect(toPlain, "Kong answers 502").To(HaveStatusShare(502, ">=", 0.95))
		s.Expect(s.gatewayErrors(x.gw, logStart), "the handshake failure is logged").
			To(HaveLogLines("SSL_do_handshake() failed", ">=", len(toPlain)*9/10))
	})
	s.Phase("fix", "correct the protocols", func() { s.reload(x.gw, x.config("http", "https")) })
	s.Phase("recovery", "both services work", func() {
		s.Expect(s.gwAttack("plain", plain), "the plain service works").To(HaveSuccessShare(">=", 0.99))
		s.Expect(s.gwAttack("secure", secure), "the TLS service works").To(HaveSuccessShare(">=", 0.99))
	})
}
