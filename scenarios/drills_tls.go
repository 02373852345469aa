package scenarios

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	. "github.com/chaoslab/chaoslab/assertions"
	"github.com/chaoslab/chaoslab/diagnose"
	"github.com/chaoslab/chaoslab/lab"
	"github.com/chaoslab/chaoslab/load"
)

// Drill data for the tls family. The trainee investigates with curl and
// openssl; what a client trusts and which certificate a server presents
// are platform settings (`chaoslab drill set`), because in production they
// are a deployment's trust store and a certificate rollout, not an API.
// Their checks are the scenarios' recovery assertions aimed at what the
// trainee chose, not at the remediation the scenario prepared.

func init() {
	tlsTools := []string{"curl", "openssl", "chaoslab drill set"}
	RegisterDrill(Drill{
		ID: "tls/mitm-untrusted-root", Difficulty: "medium", Tools: tlsTools,
		Ticket: "Since the office network moved behind the new security proxy, the payments client fails every call to the " +
			"partner API with 'x509: certificate signed by unknown authority'. The partner says their certificate is valid " +
			"and nothing changed on their side; calls from the data centre (no proxy) work.",
		Hints: []string{
			"Reproduce it the way the client calls: curl -v --proxy $PROXY --cacert $PARTNER_CA $API/ . Then without the proxy.",
			"Compare who signed what the client is shown, with and without the proxy: openssl s_client -proxy $PROXY_ADDR -connect $API_ADDR -showcerts </dev/null | grep -E '^ *[si]:'",
			"Through the proxy the issuer is the proxy's own root CA: it inspects TLS and re-signs. The client trusts only the partner's CA. The proxy publishes its root: curl -s $PROXY/ca.pem",
			"Either trust the proxy's root as well, or have the proxy tunnel this host:\n" +
				"curl -s $PROXY/ca.pem > proxy-root.pem && cat $PARTNER_CA proxy-root.pem > bundle.pem\n" +
				"curl --proxy $PROXY --cacert bundle.pem $API/   # exit 0\n" +
				"chaoslab drill set CLIENT_CA_BUNDLE=$PWD/bundle.pem      # or: chaoslab drill set PROXY_BYPASS=$API_ADDR",
		},
		Fixes: []string{
			"A: the client trusts the proxy's root CA as well as the partner's (chaoslab drill set CLIENT_CA_BUNDLE=<PEM with both>)",
			"B: the proxy tunnels the partner's host without inspecting it (chaoslab drill set PROXY_BYPASS=<host:port>)",
		},
		Fastest: []string{
			"openssl s_client -proxy $PROXY_ADDR -connect $API_ADDR -showcerts </dev/null | grep -E '^ *[si]:'   # issuer: chaoslab mitm root CA",
			"curl -s $PROXY/ca.pem | openssl x509 -noout -subject",
		},
		Settings: []Setting{
			{Key: "CLIENT_CA_BUNDLE", Doc: "absolute path of the PEM bundle the payments client trusts (its SSL_CERT_FILE)",
				Apply: func(p Play, s *S, v string) error {
					if !filepath.IsAbs(v) {
						return fmt.Errorf("CLIENT_CA_BUNDLE=%q: give an absolute path", v)
					}
					trustPool(s, v) // fails with what is wrong with the file
					return nil
				}},
			{Key: "PROXY_BYPASS", Doc: "comma-separated host:port list the proxy tunnels without inspecting (its bypass list)",
				Apply: func(p Play, s *S, v string) error {
					for _, hp := range strings.Split(v, ",") {
						if _, _, err := net.SplitHostPort(strings.TrimSpace(hp)); err != nil {
							return fmt.Errorf("PROXY_BYPASS=%q: want host:port[,host:port]: %v", v, err)
						}
					}
					return nil
				}},
		},
		Addresses: func(p Play, s *S) []Address {
			x := p.(*mitmUntrustedRoot)
			return []Address{
				{Var: "API", Name: "the partner API", Value: x.up.URL()},
				{Var: "API_ADDR", Name: "the partner API's host:port", Value: x.up.Addr()},
				{Var: "PROXY", Name: "the office's security proxy (HTTPS_PROXY of the payments client)", Value: x.inspect.ProxyURL.String()},
				{Var: "PROXY_ADDR", Name: "the proxy's host:port", Value: x.inspect.Addr()},
				{Var: "PARTNER_CA", Name: "the CA bundle the payments client trusts today", Value: x.up.CAPath()},
			}
		},
		Logs: func(p Play) []LogSource {
			x := p.(*mitmUntrustedRoot)
			return []LogSource{{"proxy-connections.log", x.inspect.Stderr}}
		},
		Background: func(p Play) *Background {
			x := p.(*mitmUntrustedRoot)
			return &Background{Targets: get(x.up.URL() + "/"), Rate: 2, Options: []load.Option{load.WithProxy(x.inspect.ProxyURL),
				load.WithTLSConfig(&tls.Config{RootCAs: x.serverRoots}), load.WithKeepAlive(false)}}
		},
		Check: func(p Play, s *S) {
			x := p.(*mitmUntrustedRoot)
			bundle := or(s.drillValue("CLIENT_CA_BUNDLE"), x.up.CAPath())
			proxy := x.inspect
			if bypasses(s.drillValue("PROXY_BYPASS"), x.up.Addr()) {
				proxy = x.bypass // the same proxy with this host on its bypass list
			}
			before := len(proxy.Stderr())
			rs := s.Attack("payments client through the proxy", get(x.up.URL()+"/"), tlsPacer(), tlsLoad,
				load.WithProxy(proxy.ProxyURL), load.WithTLSConfig(&tls.Config{RootCAs: trustPool(s, bundle)}))
			s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
			awaitConnections(s, "mitm", proxy, before, 1) // keep-alive: a few connections carry every request
			s.Expect(logMITM(s, "mitm", proxy, before), "...on every connection").To(HaveLogLines("remote error", "==", 0))
		},
	})

	RegisterDrill(Drill{
		ID: "tls/expired-certificate", Difficulty: "easy", Tools: tlsTools,
		Ticket: "Every client of the internal API fails since midnight with a TLS error ('certificate has expired or is not " +
			"yet valid' in curl). Nothing was deployed last night. The CA issued certificates for this service; both files " +
			"we have are listed below.",
		Hints: []string{
			"Reproduce it: curl -v --cacert $CA $API/ and read the TLS error.",
			"Look at the dates of the certificate the server presents: openssl s_client -connect $API_ADDR </dev/null 2>/dev/null | openssl x509 -noout -subject -dates",
			"Compare with the certificates the CA issued: openssl x509 -noout -dates -in <each file listed in the briefing>",
			"Roll out the one still valid: chaoslab drill set SERVER_CERTIFICATE=$CERT_B (check its dates first)",
		},
		Fixes:   []string{"roll out the renewed certificate (chaoslab drill set SERVER_CERTIFICATE=<the valid server.crt>: the platform's certificate rollout)"},
		Fastest: []string{"openssl s_client -connect $API_ADDR </dev/null 2>/dev/null | openssl x509 -noout -dates   # notAfter in the past"},
		Settings: []Setting{{Key: "SERVER_CERTIFICATE", Doc: "absolute path of the certificate the API server presents (a rollout)",
			Apply: func(p Play, s *S, v string) error {
				x := p.(*expiredCertificate)
				_, err := certOwner(v, x.expired, x.renewed)
				return err
			}}},
		Addresses: func(p Play, s *S) []Address {
			x := p.(*expiredCertificate)
			certs := issued(s, x.expired, x.renewed)
			return []Address{
				{Var: "API", Name: "the internal API", Value: x.expired.URL()},
				{Var: "API_ADDR", Name: "its host:port", Value: x.expired.Addr()},
				{Var: "CA", Name: "the internal CA clients trust", Value: x.expired.CAPath()},
				{Var: "CERT_A", Name: "a certificate the CA issued for the API", Value: certs[0]},
				{Var: "CERT_B", Name: "another certificate the CA issued for the API", Value: certs[1]},
			}
		},
		Background: func(p Play) *Background {
			x := p.(*expiredCertificate)
			return &Background{Targets: get(x.expired.URL() + "/"), Rate: 2, Options: []load.Option{load.WithKeepAlive(false)}}
		},
		Check: func(p Play, s *S) {
			x := p.(*expiredCertificate)
			up := x.expired
			if v := s.drillValue("SERVER_CERTIFICATE"); v != "" {
				var err error
				up, err = certOwner(v, x.expired, x.renewed)
				s.Must(err, "the rolled-out certificate")
			}
			x.healthy(s, up, "clients of the API")
		},
	})

	RegisterDrill(Drill{
		ID: "tls/hostname-mismatch", Difficulty: "easy", Tools: tlsTools,
		Ticket: "Clients were moved to the API's new name, " + newName + " (same servers, DNS alias). Every call by the new " +
			"name fails with a TLS error; calls by the old address still work.",
		Hints: []string{
			"Reproduce it by the new name: curl -v --cacert $CA --resolve " + newName + ":$PORT:127.0.0.1 https://" + newName + ":$PORT/",
			"Which names does the certificate carry? openssl s_client -connect $API_ADDR -servername " + newName + " </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName",
			"The new name is not in the certificate's subjectAltName. Which of the CA's certificates for this service has it? openssl x509 -noout -ext subjectAltName -in <each file in the briefing>",
			"Roll out the reissued certificate: chaoslab drill set SERVER_CERTIFICATE=$CERT_B",
		},
		Fixes:   []string{"roll out a certificate whose subjectAltName has " + newName + " (chaoslab drill set SERVER_CERTIFICATE=<that server.crt>)"},
		Fastest: []string{"openssl s_client -connect $API_ADDR -servername " + newName + " </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName"},
		Settings: []Setting{{Key: "SERVER_CERTIFICATE", Doc: "absolute path of the certificate the API server presents (a rollout)",
			Apply: func(p Play, s *S, v string) error {
				x := p.(*hostnameMismatch)
				_, err := certOwner(v, x.up, x.reissued)
				return err
			}}},
		Addresses: func(p Play, s *S) []Address {
			x := p.(*hostnameMismatch)
			_, port, _ := net.SplitHostPort(x.up.Addr())
			certs := issued(s, x.up, x.reissued)
			return []Address{
				{Var: "API_ADDR", Name: "the API's host:port (" + newName + " resolves to its IP: curl --resolve)", Value: x.up.Addr()},
				{Var: "PORT", Name: "its port", Value: port},
				{Var: "CA", Name: "the internal CA clients trust", Value: x.up.CAPath()},
				{Var: "CERT_A", Name: "a certificate the CA issued for the API", Value: certs[0]},
				{Var: "CERT_B", Name: "another certificate the CA issued for the API", Value: certs[1]},
			}
		},
		Check: func(p Play, s *S) {
			x := p.(*hostnameMismatch)
			up := x.up
			if v := s.drillValue("SERVER_CERTIFICATE"); v != "" {
				var err error
				up, err = certOwner(v, x.up, x.reissued)
				s.Must(err, "the rolled-out certificate")
			}
			cfg := &tls.Config{RootCAs: trustPool(s, up.CAPath()), ServerName: newName}
			rs := s.Attack("new name", get(up.URL()+"/"), tlsPacer(), tlsLoad, load.WithTLSConfig(cfg))
			s.Expect(rs, "every request succeeds").To(HaveSuccessShare(">=", 0.99))
			s.Expect(showCerts(s, "openssl s_client -showcerts -servername "+newName, up.Addr(), newName, nil, cfg.RootCAs),
				"the certificate names "+newName).To(HaveVerdict("", diagnose.CodeOK))
		},
	})
}

// issued copies the certificates the CA issued for a service under
// neutral names (the lab's own file names would say which one is renewed),
// in the given order: $CERT_A, $CERT_B.
func issued(s *S, ups ...*lab.Upstream) []string {
	dir := filepath.Join(s.Lab.Dir(), "issued-certificates")
	s.Must(os.MkdirAll(dir, 0o700), "certificate store")
	out := make([]string, len(ups))
	for i, up := range ups {
		b, err := os.ReadFile(serverCert(up))
		s.Must(err, "reading a server certificate")
		out[i] = filepath.Join(dir, fmt.Sprintf("api-%c.crt", 'a'+i))
		s.Must(os.WriteFile(out[i], b, 0o600), "copying a server certificate")
	}
	return out
}

// serverCert is the leaf an upstream presents, as a file.
func serverCert(up *lab.Upstream) string {
	return filepath.Join(filepath.Dir(up.CAPath()), "server.crt")
}

// certOwner is the server that holds the key for the certificate in path:
// a rollout can only choose among certificates issued for this service.
func certOwner(path string, ups ...*lab.Upstream) (*lab.Upstream, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%q: give an absolute path", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	for _, up := range ups {
		own, err := os.ReadFile(serverCert(up))
		if err != nil {
			continue
		}
		if ob, _ := pem.Decode(own); ob != nil && bytes.Equal(ob.Bytes, b.Bytes) {
			return up, nil
		}
	}
	return nil, fmt.Errorf("%s is not a certificate issued for this service (the server has no key for it)", path)
}

// bypasses says whether a PROXY_BYPASS list names the API's address.
func bypasses(list, addr string) bool {
	_, port, _ := net.SplitHostPort(addr)
	for _, hp := range strings.Split(list, ",") {
		hp = strings.TrimSpace(hp)
		if hp == addr || hp == net.JoinHostPort(tlsCommandName, port) {
			return true
		}
	}
	return false
}
